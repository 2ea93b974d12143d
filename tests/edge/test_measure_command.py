"""``steelsight-edge measure`` on real mask, image and calibration files (subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from calibration.calibration_file import Calibration, Scale, save_calibration
from edge.synth import render_slag, render_weld
from tests.edge.bundle.test_loader import make_bundle

ROOT = Path(__file__).resolve().parents[2]


def _measure(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge", "measure", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


@pytest.fixture(scope="module")
def slag_scene(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("slag")
    scene = render_slag(2, 3)
    cv2.imwrite(str(folder / "mask.png"), scene.mask)
    cv2.imwrite(str(folder / "image.png"), cv2.cvtColor(scene.image, cv2.COLOR_RGB2BGR))
    return folder, scene.truth


def _calibration(path: Path, truth, size: tuple[int, int]) -> Path:
    calibration = Calibration(
        camera_id="slagcam01",
        image_size=size,
        scale=Scale(
            method="homography",
            source="checkerboard",
            homography=truth.homography_image_to_plane,
            points_used=48,
        ),
        technician="tests",
        axis_angle_deg=truth.axis_angle_deg,
        tube_diameter_mm=truth.tube_diameter_mm,
    )
    return save_calibration(calibration, path)


def test_a_slag_mask_with_its_calibration_gives_the_true_thickness(slag_scene, tmp_path: Path) -> None:
    folder, truth = slag_scene
    calibration = _calibration(tmp_path / "cal.json", truth, (512, 512))
    result = _measure(
        "--task", "slag", "--mask", str(folder / "mask.png"), "--calibration", str(calibration), "--json"
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)  # exactly one JSON object
    assert payload["schema"] == "slag.thickness/1" and payload["quality"] == "GOOD"
    tolerance = max(truth.mm_per_px, 0.01 * truth.thickness_mm)
    assert abs(payload["thickness_mm"] - truth.thickness_mm) <= tolerance
    assert set(payload) >= {"p10_mm", "p90_mm", "coverage", "quality_code", "quality_reason"}


def test_a_fixed_scale_and_the_estimated_axis_give_text(slag_scene) -> None:
    folder, truth = slag_scene
    result = _measure(
        "--task", "slag", "--mask", str(folder / "mask.png"), "--mm-per-px", str(truth.mm_per_px)
    )
    assert result.returncode == 0, result.stderr
    value = float(result.stdout.split("slag thickness ")[1].split(" mm")[0])
    assert abs(value - truth.thickness_mm) <= max(truth.mm_per_px, 0.01 * truth.thickness_mm)
    assert "quality GOOD" in result.stdout


def test_an_image_through_a_bundle_gives_a_measurement(slag_scene, tmp_path: Path) -> None:
    folder, _ = slag_scene
    bundle = make_bundle(tmp_path / "bundle", precisions=("fp32",))  # untrained: only the plumbing counts
    result = _measure(
        "--task",
        "slag",
        "--image",
        str(folder / "image.png"),
        "--bundle",
        str(bundle),
        "--mm-per-px",
        "3",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["quality"] in {"GOOD", "UNCERTAIN", "BAD"} and 0 <= payload["confidence"] <= 1


def test_weld_geometry_from_a_mask(tmp_path: Path) -> None:
    scene = render_weld(4, 1)
    cv2.imwrite(str(tmp_path / "weld.png"), scene.mask * 255)
    result = _measure(
        "--task",
        "weld",
        "--mask",
        str(tmp_path / "weld.png"),
        "--mm-per-px",
        str(scene.truth.mm_per_px),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["area_mm2"] == pytest.approx(scene.truth.area_mm2, rel=0.01)
    assert payload["depth_mm"] == pytest.approx(scene.truth.depth_mm, rel=0.01, abs=scene.truth.mm_per_px)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mm-per-px", "3"], "give either --mask MASK.png, or --image IMAGE with --bundle DIR"),
        (["--mask", "{mask}"], "give either --calibration CAL.json or --mm-per-px X"),
        (["--mask", "{mask}", "--mm-per-px", "-1"], "--mm-per-px must be > 0"),
        (["--mask", "{folder}/missing.png", "--mm-per-px", "3"], "cannot read the mask"),
        (["--mask", "{folder}/image.png", "--mm-per-px", "3"], "is a colour image"),
        (["--image", "{folder}/image.png", "--mm-per-px", "3"], "--image needs --bundle DIR"),
        (["--mask", "{mask}", "--calibration", "{folder}/nothing.json"], "nothing.json"),
        (["--mask", "{mask}", "--calibration", "{small_cal}"], "calibration is for 480x640 (HxW) frames"),
    ],
)
def test_bad_input_is_named(slag_scene, tmp_path: Path, args: list[str], message: str) -> None:
    folder, truth = slag_scene
    small = _calibration(tmp_path / "small.json", truth, (480, 640))
    filled = [a.format(mask=folder / "mask.png", folder=folder, small_cal=small) for a in args]
    result = _measure("--task", "slag", *filled)
    assert result.returncode == 2 and result.stdout == ""
    assert message in result.stderr


def test_a_weld_mask_with_class_ids_out_of_range(tmp_path: Path) -> None:
    mask = np.zeros((40, 40), np.uint8)
    mask[10:20, 10:20] = 7
    cv2.imwrite(str(tmp_path / "bad.png"), mask)
    result = _measure("--task", "weld", "--mask", str(tmp_path / "bad.png"), "--mm-per-px", "0.1")
    assert result.returncode == 2 and "found values [0, 7]" in result.stderr
