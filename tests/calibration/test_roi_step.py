"""`steelsight-calibrate roi`: ROI and axis from points, estimated from a tube image, and refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from calibration.calibration_file import load_calibration
from tests.calibration.helpers import run_cli


def test_points_and_axis(cal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys, "roi", "--cal", str(cal), "--points", "150,60; 500,60; 520,420; 130,420", "--axis-deg", "2.5"
    )
    assert code == 0, out
    assert "ROI 4 points, bounding box (x, y, w, h) (130, 60, 391, 361), axis angle 2.50 deg" in out
    data = json.loads(cal.read_text())
    assert data["roi"] == [[150, 60], [500, 60], [520, 420], [130, 420]] and data["axis_angle_deg"] == 2.5
    code, out, _ = run_cli(
        capsys, "roi", "--cal", str(cal), "--axis-deg", "-1"
    )  # the axis only: the ROI stays
    assert code == 0
    assert json.loads(cal.read_text())["roi"] == data["roi"]
    assert (cal.parent / "cam01.json.bak").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--points", "150,60;700,60;520,420"],
            "--points: point 2 (700,60) lies outside the 480x640 (HxW) image",
        ),
        (["--points", "100,100;400,400;400,100;100,400"], "--points: the polygon crosses itself"),
        (["--points", "100,100;200,200;300,300"], "--points: the points are collinear"),
        (["--points", "100,100;200,200"], "--points: an ROI needs at least 3 points"),
        (["--axis-deg", "95"], "--axis-deg: must be -90..90 degrees"),
        (["--estimate-axis"], "--image: needed with --estimate-axis"),
    ],
)
def test_bad_roi_is_refused(
    cal: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    before = cal.read_text()
    code, _, err = run_cli(capsys, "roi", "--cal", str(cal), *argv)
    assert code == 2
    assert message in err, err
    assert cal.read_text() == before


def test_estimate_axis_from_the_tube(
    demo: dict[str, Any], cal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(
        capsys, "roi", "--cal", str(cal), "--image", str(demo["dir"] / "tube.png"), "--estimate-axis"
    )
    assert code == 0, out
    loaded = load_calibration(cal)
    assert loaded.axis_angle_deg == pytest.approx(demo["truth"]["tube"]["axis_deg"], abs=0.3)
    mask = loaded.roi_mask()
    assert mask is not None
    # The tube (bright) lies inside the estimated ROI along the image's middle row.
    row = cv2.imread(str(demo["dir"] / "tube.png"), cv2.IMREAD_GRAYSCALE)[240]
    tube = np.flatnonzero(row > 150)
    assert np.all(mask[240, tube] == 255)
    assert np.count_nonzero(mask[240]) < 3 * len(tube)


def test_roi_needs_a_calibration_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "roi", "--cal", str(tmp_path / "none.json"), "--axis-deg", "1")
    assert code == 2
    assert "none.json: calibration file not found" in err and "steelsight-calibrate scale" in err


def test_without_points_or_display_says_to_pass_points(
    cal: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code, _, err = run_cli(capsys, "roi", "--cal", str(cal))
    assert code == 2
    assert "--points: not given, and points cannot be clicked here (no display (DISPLAY is not set))" in err
    assert "pass --points '120,40;520,40;540,460;100,460'" in err
