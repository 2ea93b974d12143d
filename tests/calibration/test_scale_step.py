"""`steelsight-calibrate scale` by board, reference points and tube diameter, against the true geometry."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from calibration.calibration_file import load_calibration
from calibration.synthetic_board import PlanePose, demo_camera, project_plane_points
from tests.calibration.helpers import BOARD, run_cli


def _pose(data: dict[str, Any]) -> PlanePose:
    return PlanePose(np.array(data["rvec"]), np.array(data["tvec"]))


def _worst_length_error(cal_path: Path, pose: PlanePose, plane_points: np.ndarray) -> float:
    """Largest relative error of the distances between the plane points, measured through the calibration."""
    cal = load_calibration(cal_path)
    image = project_plane_points(demo_camera(), pose, plane_points)
    worst = 0.0
    for i, j in itertools.combinations(range(len(plane_points)), 2):
        true = math.dist(plane_points[i], plane_points[j])
        worst = max(worst, abs(cal.length_mm(image[i], image[j]) / true - 1.0))
    return worst


def _fmt(points: np.ndarray) -> list[str]:
    return [f"{x:.3f},{y:.3f}" for x, y in points]


def test_board_on_the_plane_within_half_a_percent(
    demo: dict[str, Any], cal_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cal = cal_dir / "cam01.json"
    code, out, _ = run_cli(
        capsys, "scale", "--out", str(cal), "--board", str(demo["dir"] / "plane_board.png"), *BOARD
    )
    assert code == 0, out
    assert "created" in out and "with the intrinsics of cam01.intrinsics.json" in out
    data = json.loads(cal.read_text())
    assert data["scale"]["method"] == "homography" and data["scale"]["source"] == "checkerboard"
    assert data["scale"]["undistorted"] is True and data["scale"]["points_used"] == 54
    assert data["scale"]["residual_mm"] < 0.2
    assert data["verification"]["reprojection_rms_px"] < 0.5  # carried over from the intrinsics
    area = np.array([[-20.0, -20.0], [220.0, -20.0], [220.0, 150.0], [-20.0, 150.0], [100.0, 60.0]])
    error = _worst_length_error(cal, _pose(demo["truth"]["board_pose"]), area)
    print(f"board scale: worst length error {100 * error:.3f} %")
    assert error < 0.005


def test_reference_point_pairs(
    demo: dict[str, Any], cal_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pose = _pose(demo["truth"]["tube"]["plane_pose"])
    ends = project_plane_points(
        demo_camera(), pose, np.array([[-100.0, -80.0], [100.0, -80.0], [-100.0, 80.0]])
    )
    a, b, c = _fmt(ends)
    cal = cal_dir / "cam01.json"
    points = f"{a},{b}=200;{a},{c}=160"
    code, out, _ = run_cli(
        capsys, "scale", "--out", str(cal), "--image", str(demo["dir"] / "tube.png"), "--points", points
    )
    assert code == 0, out
    assert "pair 1:" in out and "pair 2:" in out
    scale = json.loads(cal.read_text())["scale"]
    assert (
        scale["method"] == "mm_per_px" and scale["source"] == "reference_points" and scale["points_used"] == 4
    )
    # fx and fy differ by 0.16 %: one isotropic factor fits horizontal and vertical lengths to about 0.1 %.
    assert scale["residual_mm"] < 1.0
    error = _worst_length_error(cal, pose, np.array([[-120.0, 90.0], [110.0, -70.0], [0.0, 0.0]]))
    assert error < 0.005


def test_plane_points_give_a_homography(
    demo: dict[str, Any], cal_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pose = _pose(demo["truth"]["board_pose"])
    plane = np.array([[-10.0, -10.0], [210.0, -10.0], [210.0, 135.0], [-10.0, 135.0], [100.0, 62.5]])
    image = project_plane_points(demo_camera(), pose, plane)
    text = ";".join(f"{x:.3f},{y:.3f}={px:g},{py:g}" for (x, y), (px, py) in zip(image, plane, strict=True))
    cal = cal_dir / "cam01.json"
    code, out, _ = run_cli(capsys, "scale", "--out", str(cal), "--points", text)
    assert code == 0, out
    assert json.loads(cal.read_text())["scale"]["method"] == "homography"
    assert _worst_length_error(cal, pose, plane) < 0.002


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ("100,100,104,102=50", "pair 1: its two points are"),
        (
            "100,100=0,0;200,100=100,0;300,100=200,0;400,100=300,0",
            "all the points lie on one line in the image",
        ),
        ("100,100=0,0;200,100=100,0;300,100=200,0;200,300=100,200", "points 1, 2, 3 lie on one line"),
        (
            "100,100=0,0;103,101=5,0;300,100=200,0;200,300=100,200",
            "points 1 and 2 are 3.2 px apart (coincident)",
        ),
        ("100,100=0,0;200,100=100,0;300,300=200,200", "a homography needs at least 4 points"),
        ("100,100,500,100", "item 1 '100,100,500,100' must be x1,y1,x2,y2=LENGTH_MM"),
        ("100,100,500,100=-5", "the known length must be > 0 mm"),
        ("100,100,900,100=400", "point (900,100) lies outside the 480x640 (HxW) image"),
    ],
)
def test_degenerate_reference_points_are_refused(
    cal_dir: Path, capsys: pytest.CaptureFixture[str], points: str, message: str
) -> None:
    code, _, err = run_cli(capsys, "scale", "--out", str(cal_dir / "cam01.json"), "--points", points)
    assert code == 2
    assert f"--points: {message}" in err or message in err, err
    assert not (cal_dir / "cam01.json").exists()


def test_tube_diameter(demo: dict[str, Any], cal_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cal = cal_dir / "cam01.json"
    tube = demo["truth"]["tube"]
    code, out, _ = run_cli(
        capsys,
        "scale",
        "--out",
        str(cal),
        "--image",
        str(demo["dir"] / "tube.png"),
        "--tube-diameter-mm",
        "120",
    )
    assert code == 0, out
    data = json.loads(cal.read_text())
    assert data["scale"]["source"] == "tube_diameter" and data["tube_diameter_mm"] == 120.0
    error = data["scale"]["mm_per_px"] / tube["mm_per_px_x"] - 1.0
    axis = data["axis_angle_deg"]
    print(f"tube scale: {data['scale']['mm_per_px']:.5f} mm/px, error {100 * error:+.3f} %, axis {axis} deg")
    assert abs(error) < 0.005
    assert axis == pytest.approx(tube["axis_deg"], abs=0.3)
    assert "axis angle" in out and "taken from the tube edges" in out


def test_tube_side_points_given(
    demo: dict[str, Any], cal_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pose = _pose(demo["truth"]["tube"]["plane_pose"])
    edges = project_plane_points(demo_camera(), pose, np.array([[-50.0, 0.0], [70.0, 0.0]]))  # 120 mm across
    cal = cal_dir / "cam01.json"
    code, out, _ = run_cli(
        capsys, "scale", "--out", str(cal), "--image", str(demo["dir"] / "tube.png"),
        "--tube-diameter-mm", "120", "--points", ",".join(_fmt(edges)),
    )  # fmt: skip
    assert code == 0, out
    mm_per_px = json.loads(cal.read_text())["scale"]["mm_per_px"]
    assert mm_per_px == pytest.approx(demo["truth"]["tube"]["mm_per_px_x"], rel=0.002)


def test_image_of_another_size(
    demo: dict[str, Any], cal_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = cv2.resize(cv2.imread(str(demo["dir"] / "plane_board.png")), (800, 600))
    cv2.imwrite(str(cal_dir / "big.png"), image)
    code, _, err = run_cli(
        capsys, "scale", "--out", str(cal_dir / "cam01.json"), "--board", str(cal_dir / "big.png"), *BOARD
    )
    assert code == 2
    assert "the image is 600x800 (HxW) but cam01.intrinsics.json is for 480x640" in err


def test_board_not_found_and_no_method(
    demo: dict[str, Any], cal_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cal = str(cal_dir / "cam01.json")
    code, _, err = run_cli(capsys, "scale", "--out", cal, "--board", str(demo["dir"] / "tube.png"), *BOARD)
    assert code == 2 and "tube.png: no checkerboard 9x6 inner corners, 25 mm squares found" in err
    code, _, err = run_cli(capsys, "scale", "--out", cal)
    assert code == 2 and "choose a scale method" in err
    code, _, err = run_cli(
        capsys, "scale", "--out", cal, "--board", "b.png", "--tube-diameter-mm", "5", *BOARD
    )
    assert code == 2 and "choose one scale method" in err
