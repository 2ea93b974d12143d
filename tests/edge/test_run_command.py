"""``steelsight-edge run`` and ``info --config`` as a user and as systemd run them (subprocesses)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from edge.config import ConfigError, load_runtime_config
from tests.edge.bundle.test_loader import make_bundle

ROOT = Path(__file__).resolve().parents[2]


def _write_config(folder: Path, source: str = "synthetic://slag?seed=1", extra: str = "") -> Path:
    bundle = folder / "bundle"
    if not bundle.exists():
        make_bundle(bundle, precisions=("fp32",))
    path = folder / "camera.toml"
    path.write_text(
        f"""
[camera]
id = "slagcam01"
source = "{source}"
width = 96
height = 96

[model]
bundle = "bundle"
threads = 1
{extra}
[mqtt]
enabled = false
"""
    )
    return path


def _edge(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        **kwargs,
    )


def _finish(process: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def test_run_processes_frames_and_writes_overlays_and_a_summary(tmp_path: Path) -> None:
    config = _write_config(tmp_path)
    overlays = tmp_path / "overlays"
    code, out, err = _finish(
        _edge(
            "run",
            "--config",
            str(config),
            "--max-frames",
            "5",
            "--save-overlay",
            str(overlays),
            "--summary-json",
            str(tmp_path / "summary.json"),
        )
    )
    assert code == 0, err
    assert "5 frames in" in out and "ended: max frames" in out
    written = sorted(overlays.glob("frame_*.jpg"))
    assert len(written) == 5 and cv2.imread(str(written[0])).shape == (96, 96, 3)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["frames"] == 5 and summary["metrics"]["latency_ms"]["infer"]["count"] == 5


def test_a_typo_in_the_config_is_named_and_nothing_runs(tmp_path: Path) -> None:
    config = _write_config(tmp_path, extra='precison = "fp16"\n')
    code, _, err = _finish(_edge("run", "--config", str(config)))
    assert code == 2
    assert "unknown key model.precison" in err and "precision" in err
    with pytest.raises(ConfigError, match=r"camera\.toml: model: precision must be one of fp32, fp16, int8"):
        load_runtime_config(_write_config(tmp_path, extra='precision = "fp8"\n'))


def test_a_missing_bundle_is_named(tmp_path: Path) -> None:
    config = _write_config(tmp_path)
    text = config.read_text().replace('bundle = "bundle"', 'bundle = "models/slag-v2"')
    config.write_text(text)
    code, _, err = _finish(_edge("run", "--config", str(config)))
    assert code == 2 and str(tmp_path / "models" / "slag-v2") in err


def test_an_unreadable_source_is_named(tmp_path: Path) -> None:
    config = _write_config(tmp_path, source=f"file://{tmp_path}/no-such-video.mp4")
    code, _, err = _finish(_edge("run", "--config", str(config)))
    assert code == 2 and "no-such-video.mp4" in err


def test_sigterm_drains_and_exits_0_and_systemd_hears_every_state(tmp_path: Path) -> None:
    config = _write_config(tmp_path)
    address = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(30)
    process = _edge(
        "run", "--config", str(config), env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "2000000"}
    )
    messages = []
    try:
        while not any("READY=1" in m for m in messages):
            messages.append(listener.recv(4096).decode())
        deadline = time.monotonic() + 20
        while not any("WATCHDOG=1" in m for m in messages) and time.monotonic() < deadline:
            messages.append(listener.recv(4096).decode())
        process.send_signal(signal.SIGTERM)
        code, out, err = _finish(process)
        listener.settimeout(1)
        try:
            while True:
                messages.append(listener.recv(4096).decode())
        except TimeoutError:
            pass
    finally:
        if process.poll() is None:
            process.kill()
        listener.close()
    assert code == 0, err
    assert "ended: stopped" in out
    joined = "\n".join(messages)
    assert "READY=1" in joined and "STATUS=running" in joined and "WATCHDOG=1" in joined
    assert "STOPPING=1" in joined


def test_info_with_a_config_names_bundle_backend_and_why(tmp_path: Path) -> None:
    config = _write_config(tmp_path)
    code, out, err = _finish(_edge("info", "--json", "--config", str(config)))
    assert code == 0, err
    info = json.loads(out)
    assert info["camera"] == "slagcam01" and info["backend"] == "onnxruntime"
    assert "tensorrt" in info["backend_reason"] and info["bundle_precisions"] == ["fp32"]
    assert info["input_size"] == [64, 96]


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    config = load_runtime_config(_write_config(tmp_path), ["outbox.path=state/outbox.sqlite"])
    assert config.model.bundle == tmp_path / "bundle"
    assert config.outbox.path == tmp_path / "state" / "outbox.sqlite"
    assert config.camera.width == 96 and config.pipeline.drop_policy == "auto"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[pipeline]\ndrop_policy = "newest"', "drop_policy must be one of auto, drop-oldest, block"),
        ("[pipeline]\ncapture_queue = 0", "capture_queue and post_queue must be >= 1"),
        ("[pipeline.quality]\nmin_mean_brightness = 300", "pipeline.quality"),
        ('[mqtt]\ntopic_prefix = "plant/#"', "must not contain '#' or '+'"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, extra: str, message: str) -> None:
    path = _write_config(tmp_path)
    text = path.read_text().replace("[mqtt]\nenabled = false\n", "")
    path.write_text(text + "\n" + extra + "\n")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("+", r"\+")):
        load_runtime_config(path)
