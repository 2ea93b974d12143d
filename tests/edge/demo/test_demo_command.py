"""``steelsight-edge demo`` end to end on the committed demo bundle, and its errors."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import cv2
import pytest

from edge.cli import main
from tests.mosquitto import require_mosquitto


def test_demo_prints_the_stream_and_writes_what_a_person_looks_at(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_mosquitto()
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--frames", "6", "--fps", "0"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("  frame ") == 6 and "true" in printed
    assert "6/6 thickness messages received" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 6 and summary["received"] == 6 and summary["missing_frames"] == []
    assert summary["mae_mm"] is not None and summary["fps"] > 0
    assert sum(summary["quality_counts"].values()) == 6
    strip = cv2.imread(str(out / "overlay_strip.png"))
    assert strip is not None and strip.shape[0] > 100
    assert len(list((out / "overlays").glob("frame_*.jpg"))) == 6
    assert (out / "overlay.mp4").stat().st_size > 0
    # the written camera config is an ordinary one: it loads and names the demo bundle
    from edge.config import load_runtime_config

    config = load_runtime_config(out / "demo_camera.toml")
    assert config.model.bundle.name == "demo_slag" and config.measure.scale_from_truth
    # a second run in the same folder starts clean (no rows of the first run published again)
    assert main(["demo", "--out", str(out), "--frames", "3", "--fps", "0"]) == 0
    assert "3/3 thickness messages received (0 duplicates)" in capsys.readouterr().out


def test_missing_bundle_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path), "--bundle", str(tmp_path / "nope"), "--frames", "1"]) == 2
    assert "nope is not a model bundle (no manifest.json in it)" in capsys.readouterr().err


def test_missing_mosquitto_says_what_to_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the module, not the function of the same name that edge.demo exports
    monkeypatch.setattr(importlib.import_module("edge.demo.run_demo"), "MOSQUITTO", None)
    assert main(["demo", "--out", str(tmp_path), "--frames", "1"]) == 2
    assert "apt-get install mosquitto" in capsys.readouterr().err
