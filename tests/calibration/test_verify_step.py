"""`steelsight-calibrate verify`: known lengths on rendered images, PASS/FAIL, the report and its refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import pytest

from calibration.cli import main
from tests.calibration.helpers import run_cli


@pytest.fixture
def cal(cal: Path) -> Path:
    """The shared calibration file (intrinsics, board scale on the demo plane) with an ROI and an axis."""
    assert (
        main(["roi", "--cal", str(cal), "--points", "150,60;500,60;520,420;130,420", "--axis-deg", "3"]) == 0
    )
    return cal


def _ruler(demo: dict[str, Any]) -> tuple[str, float]:
    (p0, p1), length = demo["truth"]["ruler"]["points_px"], demo["truth"]["ruler"]["length_mm"]
    return f"{p0[0]},{p0[1]},{p1[0]},{p1[1]}", length


def test_known_length_within_half_a_percent(
    demo: dict[str, Any], cal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    points, length = _ruler(demo)
    image = demo["dir"] / "ruler.png"
    code, out, _ = run_cli(
        capsys,
        "verify",
        "--cal",
        str(cal),
        "--image",
        str(image),
        "--points",
        points,
        "--known-mm",
        f"{length}",
    )
    assert code == 0, out
    assert "verify PASS" in out and "tolerance 0.5 %" in out
    ver = json.loads(cal.read_text())["verification"]
    measured, error = ver["measured_length_mm"], ver["error_pct"]
    print(f"verify ruler: known {ver['known_length_mm']} mm, measured {measured:.3f} mm, {error:+.3f} %")
    assert ver["verdict"] == "PASS" and abs(ver["error_pct"]) < 0.5 and ver["tolerance_pct"] == 0.5
    assert ver["reprojection_rms_px"] < 0.5
    report = cal.parent / "cam01.verify.png"
    picture = cv2.imread(str(report))
    assert picture is not None and picture.shape == (480, 640, 3)
    summary = json.loads((cal.parent / "cam01.verify.json").read_text())
    assert summary["verdict"] == "PASS" and summary["report_png"] == str(report)
    assert summary["measurements"][0]["known_mm"] == pytest.approx(length)


def test_board_on_the_plane(
    demo: dict[str, Any], cal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "reports" / "board.png"
    code, out, _ = run_cli(
        capsys, "verify", "--cal", str(cal), "--image", str(demo["dir"] / "verify_board.png"),
        "--pattern", "9x6", "--square-mm", "25", "--report", str(report),
    )  # fmt: skip
    assert code == 0, out
    for label in ("top row", "bottom row", "left column", "right column", "diagonal", "other diagonal"):
        assert f"  {label}: known" in out
    summary = json.loads(report.with_suffix(".json").read_text())
    worst = max(abs(m["error_pct"]) for m in summary["measurements"])
    print(f"verify board: worst of 6 lengths {worst:.3f} %")
    assert worst < 0.5 and summary["verdict"] == "PASS"
    assert report.is_file()


def test_fail_verdict_exits_1(demo: dict[str, Any], cal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    points, length = _ruler(demo)
    code, out, _ = run_cli(
        capsys, "verify", "--cal", str(cal), "--image", str(demo["dir"] / "ruler.png"),
        "--points", points, "--known-mm", f"{length * 1.02}",
    )  # fmt: skip
    assert code == 1
    assert "verify FAIL" in out and "FAIL: the calibration measures this length outside the tolerance" in out
    assert json.loads(cal.read_text())["verification"]["verdict"] == "FAIL"


def test_tolerance_comes_from_the_config(
    demo: dict[str, Any], cal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = cal.parent / "site.toml"
    config.write_text("[calibrate]\nverify_tolerance_pct = 0.0001\n")
    points, length = _ruler(demo)
    ruler = str(demo["dir"] / "ruler.png")
    code, out, _ = run_cli(
        capsys, "verify", "--config", str(config), "--cal", str(cal), "--image", ruler,
        "--points", points, "--known-mm", f"{length}",
    )  # fmt: skip
    assert code == 1 and "tolerance 0.0001 %" in out
    config.write_text("[calibrate]\nverify_tolerance = 1\n")
    code, _, err = run_cli(capsys, "verify", "--config", str(config), "--cal", str(cal), "--image", "x.png")
    assert code == 2 and "site.toml: unknown key calibrate.verify_tolerance" in err


def test_image_of_another_size(demo: dict[str, Any], cal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small = cal.parent / "small.png"
    cv2.imwrite(str(small), cv2.resize(cv2.imread(str(demo["dir"] / "ruler.png")), (320, 240)))
    code, _, err = run_cli(
        capsys,
        "verify",
        "--cal",
        str(cal),
        "--image",
        str(small),
        "--points",
        "10,10,100,10",
        "--known-mm",
        "5",
    )
    assert code == 2
    assert "small.png: is 240x320 (HxW) but cam01.json is for 480x640 frames" in err


def test_bad_verify_input(demo: dict[str, Any], cal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ruler = str(demo["dir"] / "ruler.png")
    code, _, err = run_cli(capsys, "verify", "--cal", str(cal), "--image", ruler, "--points", "10,10,100,10")
    assert code == 2 and "--known-mm: needed" in err
    code, _, err = run_cli(
        capsys, "verify", "--cal", str(cal), "--image", ruler, "--points", "10,10,100", "--known-mm", "5"
    )
    assert code == 2 and "--points: must be the two end points x1,y1,x2,y2" in err
    code, _, err = run_cli(
        capsys, "verify", "--cal", str(cal), "--image", ruler, "--pattern", "9x6", "--square-mm", "25"
    )
    assert code == 2 and "ruler.png: no checkerboard 9x6" in err
    code, _, err = run_cli(
        capsys, "verify", "--cal", str(cal), "--image", str(cal.parent / "nope.png"), "--points", "1,1,50,50"
    )
    assert code == 2 and "nope.png: image not found" in err
