"""`steelsight-calibrate intrinsics` on rendered checkerboard views of a known camera, and its refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from calibration.cli import main
from calibration.detect import aruco_available
from calibration.synthetic_board import (
    demo_camera,
    demo_views,
    render_charuco,
    render_checkerboard,
)
from tests.calibration.helpers import BOARD, run_cli


def _views(demo: dict[str, Any], folder: Path, count: int) -> Path:
    folder.mkdir()
    for path in sorted((demo["dir"] / "views").glob("*.png"))[:count]:
        shutil.copy(path, folder / path.name)
    return folder


def test_recovers_the_known_camera_and_rejects_blurred_and_duplicate_views(
    demo: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _views(demo, tmp_path / "views", 10)
    camera = demo_camera()
    poses = demo_views(10)
    cv2.imwrite(
        str(folder / "view_10_blurred.png"), render_checkerboard(camera, poses[4], blur_sigma=2.2, seed=50)
    )
    cv2.imwrite(str(folder / "view_11_again.png"), render_checkerboard(camera, poses[3], seed=51))
    code, out, _ = run_cli(
        capsys, "intrinsics", "--images", str(folder), *BOARD, "--out", str(tmp_path / "cam01.json")
    )
    assert code == 0, out
    assert "view_10_blurred.png: rejected: blurred (sharpness" in out
    assert "view_11_again.png: rejected: duplicate of view_03.png" in out
    assert "retake: none" in out
    pending = json.loads((tmp_path / "cam01.intrinsics.json").read_text())
    assert not (tmp_path / "cam01.json").exists()  # no scale yet, so no calibration file
    k = np.array(pending["camera_matrix"])
    truth = camera.matrix
    errors = {
        name: abs(k[i, j] / truth[i, j] - 1.0)
        for name, (i, j) in {"fx": (0, 0), "fy": (1, 1), "cx": (0, 2), "cy": (1, 2)}.items()
    }
    rms = pending["reprojection_rms_px"]
    print(f"recovered K {k.round(2).tolist()}, relative errors {errors}, RMS {rms:.4f}")
    assert all(error < 0.01 for error in errors.values()), errors
    assert rms < 0.5
    assert len(pending["views"]) == 10
    assert pending["dist_coeffs"][0] == pytest.approx(camera.dist[0], abs=0.02)


def test_too_few_views(demo: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _views(demo, tmp_path / "views", 3)
    code, _, err = run_cli(
        capsys, "intrinsics", "--images", str(folder), *BOARD, "--out", str(tmp_path / "c.json")
    )
    assert code == 2
    assert "only 3 usable view(s) of 3, at least 6 are needed" in err
    assert "Take more views" in err
    assert not list(tmp_path.glob("c*.json"))


def test_no_checkerboard_found(
    demo: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "views"
    folder.mkdir()
    for name in ("tube.png", "ruler.png"):
        shutil.copy(demo["dir"] / name, folder / name)
    code, _, err = run_cli(
        capsys, "intrinsics", "--images", str(folder), *BOARD, "--out", str(tmp_path / "c.json")
    )
    assert code == 2
    assert f"{folder}: no checkerboard 9x6 inner corners, 25 mm squares found in any of the 2 images" in err
    assert "whole board is in view" in err


def test_wrong_pattern_size_names_the_right_one(
    demo: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _views(demo, tmp_path / "views", 2)
    code, _, err = run_cli(
        capsys,
        "intrinsics",
        "--images",
        str(folder),
        "--pattern",
        "10x7",
        "--square-mm",
        "25",
        "--out",
        "x.json",
    )
    assert code == 2
    assert "--pattern: no 10x7 checkerboard" in err
    assert "pass --pattern 9x6 (count the inner corners" in err


def test_views_of_different_sizes(
    demo: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _views(demo, tmp_path / "views", 3)
    odd = cv2.resize(cv2.imread(str(folder / "view_02.png")), (800, 600))
    cv2.imwrite(str(folder / "view_02.png"), odd)
    code, _, err = run_cli(
        capsys, "intrinsics", "--images", str(folder), *BOARD, "--out", str(tmp_path / "c.json")
    )
    assert code == 2
    assert "view_02.png: is 600x800 (HxW) but view_00.png is 480x640" in err
    assert "remove or retake it" in err


def test_bad_arguments_name_themselves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(
        capsys, "intrinsics", "--images", str(tmp_path / "nowhere"), *BOARD, "--out", "c.json"
    )
    assert code == 2 and "nowhere: folder not found; --images takes the folder" in err
    code, _, err = run_cli(
        capsys, "intrinsics", "--images", str(tmp_path), "--pattern", "9", "--square-mm", "25", "--out", "c"
    )
    assert code == 2 and "--pattern: must be COLSxROWS" in err
    code, _, err = run_cli(
        capsys, "intrinsics", "--images", str(tmp_path), "--pattern", "9x6", "--out", "c.json"
    )
    assert code == 2 and "--square-mm: needed with intrinsics" in err
    code, _, err = run_cli(capsys, "intrinsics", "--images", str(tmp_path), *BOARD, "--out", "c.json")
    assert code == 2 and "holds no images" in err


def test_fail_verdict_saves_nothing(
    demo: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "strict.toml"
    config.write_text("[calibrate]\nmax_rms_px = 0.001\nretake_rms_px = 0.01\n")
    folder = _views(demo, tmp_path / "views", 6)
    code, out, _ = run_cli(
        capsys,
        "intrinsics",
        "--config",
        str(config),
        "--images",
        str(folder),
        *BOARD,
        "--out",
        str(tmp_path / "c.json"),
    )
    assert code == 1
    assert "FAIL: the overall RMS" in out and "nothing saved" in out
    assert "retake: view_00.png" in out
    assert not list(tmp_path.glob("c*.json"))


def test_updates_only_the_intrinsics_of_an_existing_file(
    demo: dict[str, Any], cal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["roi", "--cal", str(cal), "--points", "150,60;500,60;520,420;130,420", "--axis-deg", "3"]) == 0
    )
    before = json.loads(cal.read_text())
    capsys.readouterr()
    folder = _views(demo, cal.parent / "views", 7)
    code, out, _ = run_cli(capsys, "intrinsics", "--images", str(folder), *BOARD, "--out", str(cal))
    assert code == 0
    after = json.loads(cal.read_text())
    assert after["camera_matrix"] != before["camera_matrix"]  # 7 views instead of 10
    for key in ("scale", "roi", "axis_angle_deg", "camera_id", "image_size"):
        assert after[key] == before[key]
    assert after["verification"]["known_length_mm"] is None
    assert "run `scale` and `verify` again" in out
    assert json.loads((cal.parent / "cam01.json.bak").read_text()) == before


@pytest.mark.skipif(not aruco_available(), reason="this OpenCV has no cv2.aruco ChArUco API")
def test_charuco_views(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    camera = demo_camera()
    folder = tmp_path / "charuco"
    folder.mkdir()
    for i, pose in enumerate(demo_views(6, centre_mm=(105.0, 75.0))):
        cv2.imwrite(str(folder / f"c{i}.png"), render_charuco(camera, pose, 7, 5, 30.0, seed=i))
    board = ["--charuco", "7x5", "--square-mm", "30", "--marker-mm", "21"]
    code, out, _ = run_cli(
        capsys, "intrinsics", "--images", str(folder), *board, "--out", str(tmp_path / "w.json")
    )
    assert code == 0, out
    assert "24 corners" in out
    k = np.array(json.loads((tmp_path / "w.intrinsics.json").read_text())["camera_matrix"])
    assert np.allclose(np.diag(k)[:2], np.diag(camera.matrix)[:2], rtol=0.01)
    assert np.allclose(k[:2, 2], camera.matrix[:2, 2], rtol=0.01)


def test_capture_from_a_camera_uri(
    demo: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = tmp_path / "board.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (640, 480), False)
    assert writer.isOpened()
    views = sorted((demo["dir"] / "views").glob("*.png"))[:7]
    for path in [views[0], *views]:  # the first view twice: the repeat is not captured again
        writer.write(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))
    writer.release()
    code, out, _ = run_cli(
        capsys,
        "intrinsics",
        "--camera",
        f"file://{video}",
        "--count",
        "7",
        *BOARD,
        "--out",
        str(tmp_path / "c.json"),
    )
    assert code == 0, out
    assert out.count("captured view_") == 7
    assert len(list((tmp_path / "c_views").glob("view_*.png"))) == 7
    assert json.loads((tmp_path / "c.intrinsics.json").read_text())["reprojection_rms_px"] < 0.5
    code, _, err = run_cli(
        capsys, "intrinsics", "--camera", "nonsense", *BOARD, "--out", str(tmp_path / "c.json")
    )
    assert code == 2 and "--camera: 'nonsense' is not a camera URI" in err
