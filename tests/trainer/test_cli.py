"""``steelsight-train`` as a user runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from trainer.cli import main, parse_size
from trainer.models import REGISTRY, build_model, complexity


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trainer", *args], capture_output=True, text=True, check=False
    )


def test_models_json_reports_true_counts() -> None:
    result = _run("models", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(rows) == set(REGISTRY)
    expected = complexity(build_model("shdm_mnv2"), None)
    assert rows["shdm_mnv2"]["params"] == expected.params
    assert rows["shdm_mnv2"]["train_params"] == expected.train_params
    assert rows["shdm_mnv2"]["params_mb"] == pytest.approx(expected.params * 4 / 2**20, abs=0.01)


def test_models_table_with_macs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--arch", "slag_mnv2_dlv3p_ema", "--macs", "--size", "128x128"]) == 0
    out = capsys.readouterr().out
    assert "slag_mnv2_dlv3p_ema" in out and "3,872,067" in out and "GMACs@128x128" in out


def test_unknown_network_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--arch", "slagnet"]) == 2
    assert "unknown network 'slagnet'; registered networks:" in capsys.readouterr().err


def test_missing_pretrained_file_is_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    assert main(["models", "--arch", "shdm_mnv2", "--pretrained", str(tmp_path / "x.pth")]) == 2
    assert "x.pth not found" in capsys.readouterr().err


def test_bad_size_is_refused() -> None:
    result = _run("models", "--macs", "--size", "512")
    assert result.returncode == 2
    assert "size must be HEIGHTxWIDTH, e.g. 512x512, got '512'" in result.stderr
    assert parse_size("480X640") == (480, 640)


def test_help_teaches_and_console_script_is_installed() -> None:
    result = _run("--help")
    assert result.returncode == 0 and "examples:" in result.stdout and "models" in result.stdout
    # Console scripts sit beside the interpreter of the environment the package is installed in.
    beside = Path(sys.executable).parent / "steelsight-train"
    script = str(beside) if beside.exists() else shutil.which("steelsight-train")
    assert script is not None, "steelsight-train is not installed: run pip install -e . in this environment"
    result = subprocess.run([script, "--version"], capture_output=True, text=True, check=False)
    assert result.stdout.startswith("steelsight ")


def test_the_end_of_a_run_says_what_best_pt_holds() -> None:
    from trainer.cli import _describe_best

    best = {"miou": 0.97406, "thickness_percent": 2.2883, "thickness_measured": 100, "stage": 0, "epoch": 2}
    assert _describe_best(best, "thickness") == (
        "best.pt (by thickness error): stage 1 epoch 3, validation mIoU 97.41, "
        "slag thickness error 2.29 % per scene"
    )
    old = _describe_best({"miou": 0.9}, "miou")  # resumed from a checkpoint written before best_by
    assert old == "best.pt (by mIoU): an earlier epoch, validation mIoU 90.00"
    assert _describe_best(None, "miou") == "no validation, no best.pt"
