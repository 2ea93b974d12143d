"""measure_slag: accuracy on masks with exact truth, every quality reason, and bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from edge.measure import MeasureQuality, SlagMeasureConfig, SlagMeasurement, measure_slag
from tests.edge.measure.test_tube_axis import SYNTH_SCENES, TILTS, TubeScene, draw_tube, synth_scene

THICKNESSES = (20.0, 45.0, 120.0, 300.0)
PERSPECTIVE = (0.03, -0.02)


def tolerance(thickness_mm: float, mm_per_px: float) -> float:
    """The accuracy requirement: one pixel along the axis or 1 %, whichever is larger."""
    return max(mm_per_px, 0.01 * thickness_mm)


def measure_all(scene: TubeScene, mode: str) -> SlagMeasurement:
    """Measure a drawn scene with the calibrated axis, the estimated axis or the homography."""
    if mode == "calibrated":
        return measure_slag(scene.mask, mm_per_px=scene.mm_per_px, axis_angle_deg=scene.axis_angle_deg)
    if mode == "estimated":
        return measure_slag(scene.mask, mm_per_px=scene.mm_per_px)
    return measure_slag(scene.mask, homography=scene.image_to_plane, tube_diameter_mm=scene.tube_diameter_mm)


@pytest.mark.parametrize("mode", ["calibrated", "estimated", "homography"])
def test_drawn_bands_within_one_pixel_or_one_percent(mode: str) -> None:
    worst = (0.0, "")
    for tilt in TILTS:
        for thickness in THICKNESSES:
            perspective = PERSPECTIVE if mode == "homography" else (0.0, 0.0)
            scene = draw_tube(tilt_deg=tilt, thickness_mm=thickness, perspective=perspective)
            result = measure_all(scene, mode)
            assert result.quality.is_good, (tilt, thickness, result.quality)
            assert result.axis_source == ("calibration" if mode == "calibrated" else "estimated")
            error = abs(result.thickness_mm - scene.thickness_mm)
            ratio = error / tolerance(scene.thickness_mm, scene.mm_per_px)
            if ratio > worst[0]:
                worst = (
                    ratio,
                    f"tilt {tilt} thickness {thickness} mm: measured {result.thickness_mm:.3f} mm",
                )
    assert worst[0] <= 1.0, f"worst case {worst[1]} ({worst[0]:.2f} x the tolerance)"


@pytest.mark.parametrize("mode", ["calibrated", "estimated", "homography"])
def test_synthetic_scenes_within_one_pixel_or_one_percent(mode: str) -> None:
    worst = (0.0, "")
    for seed, index in SYNTH_SCENES:
        scene = synth_scene(seed, index)
        truth = scene.truth
        if mode == "calibrated":
            result = measure_slag(scene.mask, mm_per_px=truth.mm_per_px, axis_angle_deg=truth.axis_angle_deg)
        elif mode == "estimated":
            result = measure_slag(
                scene.mask, mm_per_px=truth.mm_per_px, tube_diameter_mm=truth.tube_diameter_mm
            )
        else:
            result = measure_slag(
                scene.mask,
                homography=np.asarray(truth.homography_image_to_plane),
                tube_diameter_mm=truth.tube_diameter_mm,
            )
        assert result.quality.is_good, (seed, index, result.quality)
        ratio = abs(result.thickness_mm - truth.thickness_mm) / tolerance(truth.thickness_mm, truth.mm_per_px)
        if ratio > worst[0]:
            worst = (
                ratio,
                f"seed {seed} index {index}: {result.thickness_mm:.2f} vs {truth.thickness_mm:.2f} mm",
            )
    assert worst[0] <= 1.0, f"worst case {worst[1]} ({worst[0]:.2f} x the tolerance)"


def test_measurement_fields_and_payload() -> None:
    scene = draw_tube(tilt_deg=4.0, thickness_mm=120.0)
    result = measure_slag(scene.mask, mm_per_px=scene.mm_per_px, tube_diameter_mm=900.0)
    assert result.p10_mm <= result.thickness_mm <= result.p90_mm
    assert result.lines > 300 and result.coverage > 0.98 and result.tube_in_view
    assert abs(result.axis_angle_deg - 4.0) < 0.5 and result.axis_source == "estimated"
    assert abs(result.tube_width_mm - 900.0) < 2 * scene.mm_per_px
    assert math.isnan(result.confidence)
    payload = result.as_payload()
    assert set(payload) == {
        "thickness_mm",
        "p10_mm",
        "p90_mm",
        "coverage",
        "lines",
        "confidence",
        "quality",
        "quality_code",
        "quality_reason",
        "unit",
    }
    assert payload["confidence"] is None and payload["unit"] == "mm"
    assert payload["quality"] == "GOOD" and payload["quality_code"] == 192 and payload["quality_reason"] == ""
    assert json.loads(json.dumps(payload)) == payload


def test_other_integer_dtypes_and_ignore_pixels() -> None:
    scene = draw_tube(tilt_deg=-3.0, thickness_mm=80.0)
    mask = scene.mask.astype(np.int64)
    mask[:20, :] = 255  # not measured, away from the band
    wide = measure_slag(mask, mm_per_px=scene.mm_per_px)
    narrow = measure_slag(mask.astype(np.uint8), mm_per_px=scene.mm_per_px)
    assert wide.quality.is_good and wide.thickness_mm == narrow.thickness_mm


def test_a_stray_slag_blob_away_from_the_tube_is_ignored() -> None:
    scene = draw_tube(tilt_deg=2.0, thickness_mm=80.0)
    mask = scene.mask.copy()
    mask[470:500, 10:40] = 2
    result = measure_slag(mask, mm_per_px=scene.mm_per_px)
    assert result.quality.is_good
    assert abs(result.thickness_mm - 80.0) <= scene.mm_per_px


# --- quality reasons -------------------------------------------------------------------------


def test_no_tube_in_view_is_bad() -> None:
    result = measure_slag(np.zeros((256, 256), np.uint8), mm_per_px=1.0)
    assert result.quality == MeasureQuality.bad("no tube in view")
    assert not result.tube_in_view and math.isnan(result.thickness_mm)
    assert result.as_payload()["thickness_mm"] is None and result.as_payload()["quality_code"] == 0


def test_a_tube_without_slag_is_bad() -> None:
    scene = draw_tube(thickness_mm=100.0)
    mask = np.where(scene.mask == 2, 1, scene.mask).astype(np.uint8)
    result = measure_slag(mask, mm_per_px=2.5)
    assert result.quality == MeasureQuality.bad("no slag band found") and result.tube_in_view
    few = mask.copy()
    few[250:260, 250:253] = 2
    assert measure_slag(few, mm_per_px=2.5).quality.reason.startswith("no slag band found (slag on 3 lines")


def test_a_fragmented_band_is_uncertain() -> None:
    scene = draw_tube(thickness_mm=150.0)
    mask = scene.mask.copy()
    rows = np.flatnonzero((mask == 2).any(axis=1))
    mask[rows[20:40]] = np.where(mask[rows[20:40]] == 2, 1, mask[rows[20:40]])  # a tube seam across the band
    result = measure_slag(mask, mm_per_px=2.5, axis_angle_deg=0.0)
    assert result.quality.code == "UNCERTAIN" and "slag band fragmented" in result.quality.reason


def test_an_uneven_band_is_uncertain() -> None:
    scene = draw_tube(thickness_mm=150.0)
    mask = scene.mask.copy()
    slag_rows = np.flatnonzero((mask == 2).any(axis=1))
    cols = np.flatnonzero((mask == 2).any(axis=0))
    # A wedge: the band's lower edge rises from left to right, from 150 mm to 50 mm.
    for i, col in enumerate(cols):
        keep = round(slag_rows.size * (1.0 - 0.67 * i / cols.size))
        mask[slag_rows[keep:], col] = 1
    result = measure_slag(mask, mm_per_px=2.5, axis_angle_deg=0.0)
    assert result.quality.code == "UNCERTAIN" and "slag band uneven" in result.quality.reason


def test_low_coverage_is_uncertain() -> None:
    scene = draw_tube(thickness_mm=100.0)
    mask = scene.mask.copy()
    cols = np.flatnonzero((mask == 2).any(axis=0))
    mask[:, cols[cols.size // 3 :]] = np.where(
        mask[:, cols[cols.size // 3 :]] == 2, 1, mask[:, cols[cols.size // 3 :]]
    )
    result = measure_slag(mask, mm_per_px=2.5)
    assert result.quality.code == "UNCERTAIN"
    assert "slag covers 3" in result.quality.reason and result.coverage < 0.4
    assert abs(result.thickness_mm - 100.0) <= 2.5


def test_a_tube_cut_by_the_image_side_is_uncertain() -> None:
    scene = draw_tube(thickness_mm=100.0, centre=(430.0, 250.3))
    result = measure_slag(scene.mask, mm_per_px=2.5, tube_diameter_mm=900.0)
    assert result.quality.code == "UNCERTAIN" and "tube cut by the image edge" in result.quality.reason
    assert math.isnan(result.tube_width_mm)  # no scale check on a cut tube
    assert abs(result.thickness_mm - 100.0) <= 2.5


def test_a_band_cut_off_by_the_image_border_is_bad() -> None:
    scene = draw_tube(thickness_mm=300.0, centre=(256.0, -40.0))  # the band starts above the image
    result = measure_slag(scene.mask, mm_per_px=2.5)
    assert result.quality.code == "BAD"
    assert "slag band reaches the image border on 100% of the lines (cut off)" in result.quality.reason
    assert math.isfinite(result.thickness_mm)


def test_a_band_running_into_the_not_measured_area() -> None:
    scene = draw_tube(tilt_deg=8.0, thickness_mm=100.0)
    mask = scene.mask.copy()
    mask[:300, :150] = 255  # the region of interest cuts the band's top on its left part
    result = measure_slag(mask, mm_per_px=2.5)
    assert result.quality.code == "UNCERTAIN"
    assert "slag band reaches the not-measured area" in result.quality.reason


def test_scale_check() -> None:
    scene = draw_tube(tilt_deg=-6.0, thickness_mm=100.0)
    assert measure_slag(scene.mask, mm_per_px=2.5, tube_diameter_mm=930.0).quality.is_good
    result = measure_slag(scene.mask, mm_per_px=2.5, tube_diameter_mm=1200.0)
    assert result.quality == MeasureQuality.uncertain("scale check: tube measures 900 mm, expected 1200 mm")


def test_axis_disagreeing_with_the_calibration() -> None:
    scene = draw_tube(tilt_deg=8.0, thickness_mm=100.0)
    agreeing = measure_slag(scene.mask, mm_per_px=2.5, axis_angle_deg=7.0)
    assert (
        agreeing.quality.is_good and agreeing.axis_source == "calibration" and agreeing.axis_angle_deg == 7.0
    )
    result = measure_slag(scene.mask, mm_per_px=2.5, axis_angle_deg=0.0)
    assert result.quality.code == "UNCERTAIN" and result.quality.reason.startswith(
        "axis check: tube axis at 8.0 deg"
    )
    assert result.axis_source == "estimated" and abs(result.thickness_mm - 100.0) <= 2.5


def test_a_failed_image_gate() -> None:
    scene = draw_tube(thickness_mm=100.0)
    result = measure_slag(scene.mask, mm_per_px=2.5, image_quality_ok=False, image_quality_reason="too dark")
    assert result.quality == MeasureQuality.uncertain("image quality: too dark")
    strict = SlagMeasureConfig(image_gate_quality="BAD")
    result = measure_slag(scene.mask, mm_per_px=2.5, image_quality_ok=False, config=strict)
    assert result.quality == MeasureQuality.bad("image quality: gate failed")


def test_reasons_of_the_same_level_are_joined() -> None:
    scene = draw_tube(thickness_mm=100.0)
    result = measure_slag(
        scene.mask,
        mm_per_px=2.5,
        tube_diameter_mm=1200.0,
        image_quality_ok=False,
        image_quality_reason="blurred",
    )
    assert (
        result.quality.reason == "image quality: blurred; scale check: tube measures 900 mm, expected 1200 mm"
    )


def test_confidence_from_probabilities() -> None:
    scene = draw_tube(thickness_mm=100.0)
    probabilities = np.zeros((3, *scene.mask.shape), np.float32)
    probabilities[2][scene.mask == 2] = 0.9
    probabilities[2][(scene.mask == 2) & (np.arange(512)[None, :] % 2 == 0)] = 0.7
    result = measure_slag(scene.mask, mm_per_px=2.5, probabilities=probabilities)
    assert result.quality.is_good and result.confidence == pytest.approx(0.8, abs=0.01)
    low = measure_slag(scene.mask, mm_per_px=2.5, probabilities=probabilities[2] * 0.5)
    assert low.quality.code == "UNCERTAIN" and low.quality.reason.startswith("low confidence 0.40")


def test_nan_probabilities_are_bad() -> None:
    scene = draw_tube(thickness_mm=100.0)
    probabilities = np.full((3, *scene.mask.shape), 1 / 3, np.float32)
    probabilities[1, 5, 7] = np.nan
    result = measure_slag(scene.mask, mm_per_px=2.5, probabilities=probabilities)
    assert result.quality == MeasureQuality.bad("probabilities contain NaN") and result.tube_in_view


def test_class_ids_out_of_range_are_bad() -> None:
    scene = draw_tube(thickness_mm=100.0)
    mask = scene.mask.copy()
    mask[0, 0], mask[1, 1] = 7, 3
    result = measure_slag(mask, mm_per_px=2.5)
    assert result.quality == MeasureQuality.bad("class ids out of range: 3, 7 (expected 0, 1, 2, 255)")
    wide = scene.mask.astype(np.int32)
    wide[2, 2] = -1
    assert measure_slag(wide, mm_per_px=2.5).quality.reason.startswith("class ids out of range: -1")


@pytest.mark.parametrize(
    "classes",
    [
        np.zeros((16, 16), np.float32),
        np.zeros((16, 16, 3), np.uint8),
        np.zeros((0, 16), np.uint8),
        np.zeros((16, 16), bool),
        np.zeros(16, np.uint8),
    ],
)
def test_a_wrong_class_map_is_refused(classes: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"classes must be a non-empty 2-D integer array \(H, W\)"):
        measure_slag(classes, mm_per_px=1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one scale"),
        ({"mm_per_px": 1.0, "homography": np.eye(3)}, "exactly one scale"),
        ({"mm_per_px": 0.0}, "mm_per_px"),
        ({"mm_per_px": float("nan")}, "mm_per_px"),
        ({"homography": np.zeros((3, 3))}, "not invertible"),
        ({"homography": np.array([[1, 2, 3], [2, 4, 6], [0, 0, 1.0]])}, "not invertible"),
        ({"homography": np.eye(2)}, "3x3"),
        ({"mm_per_px": 1.0, "axis_angle_deg": float("inf")}, "axis_angle_deg"),
        ({"mm_per_px": 1.0, "tube_diameter_mm": -5.0}, "tube_diameter_mm"),
        ({"mm_per_px": 1.0, "probabilities": np.zeros((3, 8, 8), np.float32)}, r"\(C, 64, 64\)"),
        ({"mm_per_px": 1.0, "probabilities": np.zeros((2, 64, 64), np.float32)}, "C >= 3"),
        ({"mm_per_px": 1.0, "probabilities": np.zeros((64, 64, 3), np.float32)}, "class axis first"),
        ({"mm_per_px": 1.0, "probabilities": np.zeros((3, 64, 64), np.uint8)}, "float"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        measure_slag(np.zeros((64, 64), np.uint8), **kwargs)


def test_logits_instead_of_probabilities_are_refused() -> None:
    scene = draw_tube(thickness_mm=100.0)
    logits = np.full((3, *scene.mask.shape), 4.0, np.float32)
    with pytest.raises(ValueError, match="softmax output, not logits"):
        measure_slag(scene.mask, mm_per_px=2.5, probabilities=logits)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"min_lines": 0}, "min_lines"),
        ({"oversample": 2.5}, "oversample"),
        ({"min_coverage": 1.5}, "min_coverage"),
        ({"axis_tolerance_deg": -1.0}, "axis_tolerance_deg"),
        ({"scale_check_tolerance": float("inf")}, "scale_check_tolerance"),
        ({"max_border_fraction": 0.6, "bad_border_fraction": 0.5}, "bad_border_fraction"),
        ({"image_gate_quality": "GOOD"}, "image_gate_quality"),
        ({"min_confidence": True}, "min_confidence"),
    ],
)
def test_config_validation_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        SlagMeasureConfig(**kwargs)


def test_config_tables_in_the_runtime_config_name_bad_keys() -> None:
    from edge.config import MeasureSection
    from edge.config_loader import ConfigError, from_mapping

    section = from_mapping(
        MeasureSection, {"slag": {"min_coverage": 0.4}, "dip_cycle": {"k_frames": 3}}, "measure"
    )
    assert section.slag.min_coverage == 0.4 and section.dip_cycle.k_frames == 3
    with pytest.raises(ConfigError, match=r"unknown key measure\.slag\.min_coverag;"):
        from_mapping(MeasureSection, {"slag": {"min_coverag": 0.4}}, "measure")
    with pytest.raises(ConfigError, match=r"unknown key measure\.dip_cycle\.k_frame;"):
        from_mapping(MeasureSection, {"dip_cycle": {"k_frame": 3}}, "measure")


def test_an_implausible_tube_axis_falls_back_to_the_calibration() -> None:
    # A blob much wider than tall: its "axis" would be horizontal, but a snorkel is near vertical.
    mask = np.zeros((256, 256), np.uint8)
    mask[100:160, 20:236] = 1
    mask[120:130, 20:236] = 2
    result = measure_slag(mask, mm_per_px=2.0, axis_angle_deg=0.0)
    assert result.axis_source == "calibration"
    assert "tube shape implausible" in result.quality.reason
    assert result.thickness_mm == pytest.approx(20.0, abs=2.0)
