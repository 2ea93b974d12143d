"""``steelsight-calibrate`` as a user runs it: version, help, show, demo, and the headless point prompt."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import pytest

from calibration import __version__
from calibration.cli import main
from calibration.interactive import display_available


def test_version_and_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "calibration", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"steelsight {__version__}"
    result = subprocess.run(
        [sys.executable, "-m", "calibration"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2 and "steelsight.calibration/1" in result.stdout


@pytest.mark.parametrize("step", ["", "intrinsics", "scale", "roi", "verify", "show", "demo"])
def test_help_teaches_with_examples(step: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([step, "--help"] if step else ["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "example" in out
    assert f"steelsight-calibrate {step}".strip() in out


def test_show_pending_and_calibration(
    demo: dict[str, Any], cal_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", str(cal_dir / "cam01.intrinsics.json")]) == 0
    out = capsys.readouterr().out
    assert "pending intrinsics of camera cam01" in out and "waiting for the scale step" in out
    cal = cal_dir / "cam01.json"
    board = str(demo["dir"] / "plane_board.png")
    assert main(["scale", "--out", str(cal), "--board", board, "--pattern", "9x6", "--square-mm", "25"]) == 0
    capsys.readouterr()
    assert main(["show", str(cal)]) == 0
    out = capsys.readouterr().out
    assert "camera cam01: 480x640 (HxW)" in out and "scale: homography from checkerboard" in out
    assert "note: cam01.intrinsics.json also exists" in out
    assert main(["show", str(cal_dir / "missing.json")]) == 2
    assert "missing.json: file not found" in capsys.readouterr().err


def test_show_names_the_bad_field(cal_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = cal_dir / "cam01.intrinsics.json"
    path.write_text(path.read_text().replace('"camera_id": "cam01"', '"camera_id": "bad id!"'))
    assert main(["show", str(path)]) == 2
    err = capsys.readouterr().err
    assert "field 'camera_id' must be 1-64 letters" in err


def test_demo_writes_images_and_prints_the_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", str(tmp_path / "d"), "--views", "1"]) == 0
    out = capsys.readouterr().out
    assert "steelsight-calibrate intrinsics --images" in out and "--tube-diameter-mm 120" in out
    for name in (
        "views/view_00.png",
        "plane_board.png",
        "verify_board.png",
        "ruler.png",
        "tube.png",
        "truth.json",
    ):
        assert (tmp_path / "d" / name).is_file()


def test_no_window_without_a_gui_opencv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":0")
    available, reason = display_available()
    if re.search(r"^\s*GUI:\s*NONE", cv2.getBuildInformation(), flags=re.MULTILINE):  # opencv-python-headless
        assert not available and reason == "this OpenCV has no window support (opencv-python-headless)"
    else:
        assert available
