"""``steelsight-edge`` as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, check=False)


def test_info_reports_the_inference_stack() -> None:
    import onnxruntime

    result = _run("info", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["onnxruntime"] == onnxruntime.__version__
    assert "CPUExecutionProvider" in info["onnxruntime_providers"]
    assert set(info) >= {"steelsight", "python", "numpy", "tensorrt", "pycuda"}


def test_no_command_prints_help_and_fails() -> None:
    result = _run()
    assert result.returncode == 2
    assert "steelsight-edge info" in result.stdout


def test_build_engine_without_tensorrt_says_what_to_install(tmp_path) -> None:
    result = _run("build-engine", str(tmp_path), "--precision", "int8")
    assert result.returncode == 3
    assert "TensorRT is not available" in result.stdout + result.stderr
    assert "steelsight[jetson]" in result.stdout + result.stderr
