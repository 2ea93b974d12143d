"""The pipeline's measurement step on synthetic frames with exact truth and real calibration files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from calibration.calibration_file import Calibration, Scale, save_calibration
from edge.config import MeasureSection
from edge.engines.base import EngineOutput
from edge.frame import Frame
from edge.measure import DipCycleConfig
from edge.measure_stage import MeasurementStage
from edge.pipeline import Result
from edge.preprocess import PreprocessSpec
from edge.synth import render_slag, render_weld
from tests.edge.bundle.test_manifest import sample_manifest

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _result(scene, seq: int, ts_ms: int, probabilities: np.ndarray | None = None) -> Result:
    """A result whose class map is the scene's true mask, at the frame's own size (no resize)."""
    image = cv2.cvtColor(scene.image, cv2.COLOR_RGB2BGR)
    spec = PreprocessSpec(height=image.shape[0], width=image.shape[1], mean=MEAN, std=STD)
    frame = Frame(image, seq, ts_ms, "synthetic://test", truth=scene.truth.to_dict())
    output = EngineOutput(scene.mask[None].astype(np.uint8), probabilities)
    return Result(frame, output, spec)


def _calibration(path: Path, truth, size=(512, 512)) -> Path:
    scale = Scale(
        method="homography", source="checkerboard", homography=truth.homography_image_to_plane, points_used=48
    )
    cal = Calibration(
        camera_id="slagcam01",
        image_size=size,
        scale=scale,
        technician="tests",
        axis_angle_deg=truth.axis_angle_deg,
    )
    return save_calibration(cal, path)


def test_slag_frames_measured_with_the_scene_truth_and_a_dip_cycle_emitted() -> None:
    section = MeasureSection(task="slag", scale_from_truth=True, dip_cycle=DipCycleConfig(k_frames=3))
    stage = MeasurementStage(section, sample_manifest(task="slag"))
    scene = render_slag(3, 1)
    truth = scene.truth
    cycles = []
    for seq in range(4):
        result = _result(scene, seq, 1000 + 100 * seq)
        stage(result)
        assert result.measurement.quality.code == "GOOD", result.measurement.quality.reason
        assert abs(result.measurement.thickness_mm - truth.thickness_mm) <= max(
            truth.mm_per_px, 0.01 * truth.thickness_mm
        )
        cycles.append(result.cycle)
    assert cycles[:2] == [None, None] and cycles[2] is not None and cycles[3] is None
    assert cycles[2].first_ts == 1000 and cycles[2].last_ts == 1200 and cycles[2].frames == 3


def test_a_calibration_file_for_another_frame_size_makes_every_frame_bad(tmp_path: Path) -> None:
    scene = render_slag(3, 1)
    path = _calibration(tmp_path / "cal.json", scene.truth, size=(1080, 1920))
    stage = MeasurementStage(MeasureSection(task="slag", calibration=path), sample_manifest(task="slag"))
    result = _result(scene, 0, 0)
    stage(result)
    assert result.measurement.quality.code == "BAD"
    assert (
        "calibration is for 1080x1920 (HxW) frames but this frame is 512x512"
        in result.measurement.quality.reason
    )


def test_reloading_a_broken_calibration_keeps_the_last_good_one(tmp_path: Path) -> None:
    scene = render_slag(3, 1)
    path = _calibration(tmp_path / "cal.json", scene.truth)
    stage = MeasurementStage(MeasureSection(task="slag", calibration=path), sample_manifest(task="slag"))
    good = _result(scene, 0, 0)
    stage(good)
    path.write_text('{"schema": "steelsight.calibration/1", "camera_id": ')
    assert stage.reload_calibration() is False
    again = _result(scene, 1, 1)
    stage(again)
    assert again.measurement.thickness_mm == pytest.approx(good.measurement.thickness_mm)
    _calibration(path, scene.truth, size=(256, 256))
    assert stage.reload_calibration() is True
    third = _result(scene, 2, 2)
    stage(third)
    assert third.measurement.quality.code == "BAD"


def test_weld_frames_are_refined_by_matting_and_measured() -> None:
    scene = render_weld(2, 0)
    truth = scene.truth
    soft = cv2.GaussianBlur(scene.mask.astype(np.float32), (0, 0), 2.0)
    probabilities = np.stack([1 - soft, soft])[None].astype(np.float32)
    manifest = dataclasses.replace(
        sample_manifest(task="weld", classes=2),
        postprocess=dataclasses.replace(
            sample_manifest().postprocess,
            kind="argmax",
            matting={"foreground": 0.46, "background": 0.38, "alpha": 0.5},
        ),
    )
    stage = MeasurementStage(MeasureSection(task="weld", scale_from_truth=True), manifest)
    assert stage.wants_probabilities
    result = _result(scene, 0, 0, probabilities)
    stage(result)
    assert result.matting is not None and result.matting.unknown_px > 0
    assert result.measurement.area_mm2 == pytest.approx(truth.area_mm2, rel=0.03)
    assert result.weld_mask.shape == scene.mask.shape


def test_no_scale_and_a_task_mismatch_are_refused() -> None:
    with pytest.raises(ValueError, match=r"no scale for the measurements: set measure\.calibration"):
        MeasurementStage(MeasureSection(task="slag"), sample_manifest(task="slag"))
    with pytest.raises(ValueError, match=r"measure\.task is 'weld' but the bundle 'slag-mnv2'"):
        MeasurementStage(MeasureSection(task="weld", mm_per_px=0.1), sample_manifest(task="slag"))
    with pytest.raises(ValueError, match="calibration and mm_per_px exclude each other"):
        MeasureSection(calibration=Path("cal.json"), mm_per_px=1.0)


def test_a_calibration_that_failed_verification_makes_measurements_uncertain(tmp_path: Path) -> None:
    from calibration.calibration_file import Verification, load_calibration

    scene = render_slag(3, 1)
    path = _calibration(tmp_path / "cal.json", scene.truth)
    failed = dataclasses.replace(
        load_calibration(path), verification=Verification.from_lengths(200.0, 204.0, tolerance_pct=0.5)
    )
    save_calibration(failed, path)
    stage = MeasurementStage(MeasureSection(task="slag", calibration=path), sample_manifest(task="slag"))
    result = _result(scene, 0, 0)
    stage(result)
    assert result.measurement.quality.code == "UNCERTAIN"
    assert "failed its verification (+2.00 %" in result.measurement.quality.reason


def test_the_calibration_sets_the_roi_and_the_undistortion(tmp_path: Path) -> None:
    from calibration.calibration_file import load_calibration
    from edge.bundle.loader import load_bundle
    from edge.camera import preprocess_spec, undistortion
    from edge.config import CameraSection, ModelSection, RuntimeConfig
    from tests.edge.bundle.test_loader import make_bundle

    scene = render_slag(3, 1)
    cal = load_calibration(_calibration(tmp_path / "cal.json", scene.truth))
    assert undistortion(cal) is None  # no intrinsics
    k = ((500.0, 0.0, 256.0), (0.0, 500.0, 256.0), (0.0, 0.0, 1.0))
    raw_scale = dataclasses.replace(cal, camera_matrix=k, dist_coeffs=(-0.2, 0.05, 0.0, 0.0, 0.0))
    assert undistortion(raw_scale) is None  # the scale was fitted on raw pixels: frames stay raw
    fitted = dataclasses.replace(raw_scale, scale=dataclasses.replace(cal.scale, undistorted=True))
    maps = undistortion(fitted)
    assert maps is not None and maps.image_size == (512, 512)
    with_roi = dataclasses.replace(cal, roi=((100.0, 50.0), (400.0, 50.0), (400.0, 450.0), (100.0, 450.0)))
    bundle = load_bundle(make_bundle(tmp_path / "bundle", precisions=("fp32",)))
    config = RuntimeConfig(
        CameraSection("cam", "synthetic://slag", roi=(0, 0, 10, 10)), ModelSection(bundle.dir)
    )
    assert preprocess_spec(config, bundle, with_roi).roi == with_roi.roi_bounds()
    assert preprocess_spec(config, bundle, cal).roi == (0, 0, 10, 10)
