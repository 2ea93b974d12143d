"""Weld geometry against the exact truth of synthetic macro-sections, the quality flags, bad input."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from edge.measure.quality import MeasureQuality
from edge.measure.weld import WeldMeasureConfig, WeldMeasurement, measure_weld
from edge.synth import WeldScene, render_weld
from edge.synth.weld import fill_polygon, polygon_area


@pytest.fixture(scope="module")
def scenes() -> list[WeldScene]:
    return [render_weld(5, index, (384, 384)) for index in range(12)]


def tolerance(truth: float, px_mm: float) -> float:
    """1 % of the true value or one pixel, whichever is larger."""
    return max(0.01 * abs(truth), px_mm)


def similarity(theta_deg: float, px_per_mm: float, shift: tuple[float, float], tilt=(0.0, 0.0)) -> np.ndarray:
    """Plane (mm) -> image (px): rotation, scale, shift and an optional perspective tilt."""
    c, s = math.cos(math.radians(theta_deg)), math.sin(math.radians(theta_deg))
    return np.array(
        [[px_per_mm * c, -px_per_mm * s, shift[0]], [px_per_mm * s, px_per_mm * c, shift[1]], [*tilt, 1.0]]
    )


def apply(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    q = np.c_[points, np.ones(len(points))] @ h.T
    return q[:, :2] / q[:, 2:]


def test_synthetic_geometry_within_one_percent_or_one_pixel(scenes: list[WeldScene]) -> None:
    worst = 0.0
    for scene in scenes:
        truth = scene.truth
        result = measure_weld(scene.mask, mm_per_px=truth.mm_per_px, surface_px=truth.origin_px)
        assert result.quality == MeasureQuality.good()
        assert result.regions == 1
        assert not result.surface_estimated
        for got, want in [
            (result.area_mm2, truth.area_mm2),
            (result.width_mm, truth.width_mm),
            (result.depth_mm, truth.depth_mm),
        ]:
            worst = max(worst, abs(got - want) / tolerance(want, truth.mm_per_px))
        assert result.area_mm2 == pytest.approx(truth.area_mm2, rel=0.01)
    assert worst <= 1.0


def test_synthetic_geometry_with_a_homography() -> None:
    """Masks drawn through rotation + scale (+ a slight tilt); measured with the inverse homography."""
    worst = 0.0
    for index in range(8):
        truth = render_weld(11, index, (64, 64)).truth  # only the polygon truth is used
        polygon = np.asarray(truth.polygon_mm)
        px_per_mm = 260.0 / float(np.ptp(polygon, axis=0).max())
        for theta, tilt in [
            (17.0, (0.0, 0.0)),
            (-33.0, (0.0, 0.0)),
            (90.0, (0.0, 0.0)),
            (8.0, (3e-4, -2e-4)),
        ]:
            to_image = similarity(theta, px_per_mm, (310.25, 300.5), tilt)
            mask = fill_polygon(apply(to_image, polygon), (620, 620)).astype(np.uint8)
            surface = apply(to_image, np.zeros((1, 2)))[0]
            result = measure_weld(mask, homography=np.linalg.inv(to_image), surface_px=tuple(surface))
            assert result.quality.is_good
            px_mm = 1.0 / px_per_mm
            for got, want in [
                (result.area_mm2, truth.area_mm2),
                (result.width_mm, truth.width_mm),
                (result.depth_mm, truth.depth_mm),
            ]:
                worst = max(worst, abs(got - want) / tolerance(want, px_mm))
            assert result.area_mm2 == pytest.approx(truth.area_mm2, rel=0.01)
            assert result.centroid_mm is not None
            # The area-weighted centroid on the plane equals the polygon's centroid closely.
            moments = cv2.moments(polygon.astype(np.float32))
            centre = (moments["m10"] / moments["m00"], moments["m01"] / moments["m00"])
            assert math.dist(result.centroid_mm, centre) < 2 * px_mm
    assert worst <= 1.0


def test_a_tilted_surface_with_a_scale_and_the_angle_in_the_config() -> None:
    truth = render_weld(11, 1, (64, 64)).truth
    polygon = np.asarray(truth.polygon_mm)
    px_per_mm = 250.0 / float(np.ptp(polygon, axis=0).max())
    to_image = similarity(21.0, px_per_mm, (300.0, 290.0))
    mask = fill_polygon(apply(to_image, polygon), (600, 600)).astype(np.uint8)
    surface = tuple(apply(to_image, np.zeros((1, 2)))[0])
    config = WeldMeasureConfig(surface_angle_deg=21.0)
    result = measure_weld(mask, mm_per_px=1.0 / px_per_mm, surface_px=surface, config=config)
    assert abs(result.width_mm - truth.width_mm) <= tolerance(truth.width_mm, 1 / px_per_mm)
    assert abs(result.depth_mm - truth.depth_mm) <= tolerance(truth.depth_mm, 1 / px_per_mm)
    level = measure_weld(mask, mm_per_px=1.0 / px_per_mm, surface_px=surface)  # wrong: horizontal surface
    assert abs(level.width_mm - truth.width_mm) > 0.05 * truth.width_mm


def test_surface_estimate_on_butt_welds(scenes: list[WeldScene]) -> None:
    butt = [scene for scene in scenes if scene.truth.joint != "fillet"]
    assert len(butt) == 9
    for scene in butt:
        truth = scene.truth
        result = measure_weld(scene.mask, mm_per_px=truth.mm_per_px)
        assert result.surface_estimated
        assert result.surface_px is not None
        assert abs(result.surface_px[1] - truth.origin_px[1]) <= 2.0
        assert abs(result.depth_mm - truth.depth_mm) <= tolerance(truth.depth_mm, 3 * truth.mm_per_px)
        assert abs(result.width_mm - truth.width_mm) <= tolerance(truth.width_mm, truth.mm_per_px)


def test_rectangle_bbox_centroid_contour_and_payload() -> None:
    mask = np.zeros((60, 80), np.uint8)
    mask[10:30, 20:60] = 1  # 40 x 20 px
    result = measure_weld(mask, mm_per_px=0.5, surface_px=(40.0, 10.0))
    assert result.area_px == 800
    assert result.area_mm2 == pytest.approx(200.0)
    assert result.width_mm == pytest.approx(20.0)  # 40 px along the top row
    assert result.depth_mm == pytest.approx(9.75)  # surface through row 10; row 29 ends at 29.5
    assert result.bbox_px == (20, 10, 40, 20)
    assert result.centroid_px == pytest.approx((39.5, 19.5))
    assert result.centroid_mm == pytest.approx((19.75, 9.75))
    assert sorted(result.contour_mm) == sorted([(10.0, 5.0), (29.5, 5.0), (29.5, 14.5), (10.0, 14.5)])

    payload = json.loads(json.dumps(result.as_payload()))
    assert payload == {
        "area_mm2": 200.0,
        "width_mm": 20.0,
        "depth_mm": 9.75,
        "bbox_px": [20, 10, 40, 20],
        "centroid_px": [39.5, 19.5],
        "centroid_mm": [19.75, 9.75],
        "contour_mm": [list(p) for p in result.contour_mm],
        "regions": 1,
        "quality": "GOOD",
        "quality_code": 192,
        "quality_reason": "",
        "units": {
            "area_mm2": "mm2",
            "width_mm": "mm",
            "depth_mm": "mm",
            "bbox_px": "px",
            "centroid_px": "px",
            "centroid_mm": "mm",
            "contour_mm": "mm",
        },
    }


def test_contour_is_simplified_within_tolerance(scenes: list[WeldScene]) -> None:
    scene = scenes[3]
    scale = scene.truth.mm_per_px
    full = measure_weld(scene.mask, mm_per_px=scale, config=WeldMeasureConfig(contour_tolerance_px=0.0))
    coarse = measure_weld(scene.mask, mm_per_px=scale, config=WeldMeasureConfig(contour_tolerance_px=2.0))
    assert 8 <= len(coarse.contour_mm) < len(full.contour_mm) / 4
    # Through the boundary pixel centres: the contour's area falls short by about half a pixel
    # times the perimeter.
    contour_area = polygon_area(np.asarray(full.contour_mm))
    perimeter = cv2.arcLength(np.asarray(full.contour_mm, np.float32), True)
    assert 0 < full.area_mm2 - contour_area < 0.75 * perimeter * scale
    # Every simplified vertex is a boundary pixel centre of the weld.
    for x, y in coarse.contour_mm:
        assert scene.mask[round(y / scale), round(x / scale)] == 1


def test_mask_conventions_bool_and_255() -> None:
    scene = render_weld(5, 2, (200, 200))
    scale = scene.truth.mm_per_px
    ones = measure_weld(scene.mask, mm_per_px=scale)
    assert measure_weld(scene.mask * 255, mm_per_px=scale) == ones
    assert measure_weld(scene.mask.astype(bool), mm_per_px=scale) == ones


def test_empty_mask_is_bad() -> None:
    result = measure_weld(np.zeros((50, 50), np.uint8), mm_per_px=0.1)
    assert result.quality == MeasureQuality.bad("no weld found")
    assert not result.found and result.regions == 0
    assert math.isnan(result.area_mm2) and math.isnan(result.width_mm) and math.isnan(result.depth_mm)
    payload = json.loads(json.dumps(result.as_payload()))
    assert payload["area_mm2"] is None and payload["bbox_px"] is None and payload["contour_mm"] == []
    assert (payload["quality"], payload["quality_code"], payload["quality_reason"]) == (
        "BAD",
        0,
        "no weld found",
    )


def test_only_specks_is_bad() -> None:
    mask = np.zeros((50, 50), np.uint8)
    mask[5:8, 5:8] = 1
    mask[30:33, 40:44] = 1
    result = measure_weld(mask, mm_per_px=0.1, config=WeldMeasureConfig(min_region_px=20))
    assert result.quality.code == "BAD"
    assert result.quality.reason.startswith("no weld found")


def test_specks_are_ignored() -> None:
    mask = np.zeros((80, 80), np.uint8)
    mask[20:50, 20:60] = 1
    mask[70:72, 5:7] = 1  # 4 px speck
    result = measure_weld(mask, mm_per_px=0.2, surface_px=(40.0, 20.0))
    assert result.quality.is_good and result.regions == 1
    assert result.area_px == 1200


def test_several_regions_are_uncertain_and_the_largest_is_measured() -> None:
    mask = np.zeros((100, 120), np.uint8)
    mask[20:60, 10:60] = 1  # 2000 px
    mask[30:50, 80:110] = 1  # 600 px
    result = measure_weld(mask, mm_per_px=1.0, surface_px=(30.0, 20.0))
    assert result.quality.code == "UNCERTAIN"
    assert result.quality.reason == "2 separate weld regions; the largest is measured"
    assert result.regions == 2
    assert result.area_px == 2000 and result.bbox_px == (10, 20, 50, 40)


def test_touching_the_border_is_uncertain() -> None:
    mask = np.zeros((60, 60), np.uint8)
    mask[0:30, 10:40] = 1
    result = measure_weld(mask, mm_per_px=1.0, surface_px=(20.0, 0.0))
    assert result.quality == MeasureQuality.uncertain("weld touches the image border")
    mask[40:55, 45:55] = 1
    both = measure_weld(mask, mm_per_px=1.0, surface_px=(20.0, 0.0))
    assert (
        both.quality.reason
        == "weld touches the image border; 2 separate weld regions; the largest is measured"
    )


def test_a_surface_line_that_misses_the_weld_is_uncertain() -> None:
    mask = np.zeros((60, 60), np.uint8)
    mask[20:40, 20:40] = 1
    result = measure_weld(mask, mm_per_px=1.0, surface_px=(30.0, 5.0))
    assert result.width_mm == 0.0
    assert result.quality == MeasureQuality.uncertain("the plate surface line does not cross the weld")


@pytest.mark.parametrize(
    ("mask", "match"),
    [
        (np.zeros((10, 10), np.float32), "uint8"),
        (np.zeros((10, 10), np.int32), "uint8"),
        (np.zeros((10, 10, 1), np.uint8), "2-D"),
        (np.zeros((0, 10), np.uint8), "non-empty"),
        (np.full((10, 10), 2, np.uint8), r"found \[2\]"),
        ([[0, 1], [1, 0]], "numpy array"),
    ],
)
def test_bad_masks(mask: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        measure_weld(mask, mm_per_px=0.1)  # type: ignore[arg-type]


def test_bad_scales() -> None:
    mask = np.zeros((10, 10), np.uint8)
    with pytest.raises(ValueError, match="exactly one scale"):
        measure_weld(mask)
    with pytest.raises(ValueError, match="exactly one scale"):
        measure_weld(mask, mm_per_px=0.1, homography=np.eye(3))
    with pytest.raises(ValueError, match="mm_per_px"):
        measure_weld(mask, mm_per_px=0.0)
    with pytest.raises(ValueError, match="not invertible"):
        measure_weld(mask, homography=np.array([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [0.0, 0.0, 1.0]]))
    with pytest.raises(ValueError, match="3x3"):
        measure_weld(mask, homography=np.eye(2))
    with pytest.raises(ValueError, match="surface_px"):
        measure_weld(mask, mm_per_px=0.1, surface_px=(1.0, math.nan))
    weld = np.zeros((10, 10), np.uint8)
    weld[2:8, 2:8] = 1
    horizon = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.2, 0.0, -1.0]])  # w = 0 at x = 5
    with pytest.raises(ValueError, match="horizon"):
        measure_weld(weld, homography=horizon, config=WeldMeasureConfig(min_region_px=1))


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="min_region_px"):
        WeldMeasureConfig(min_region_px=0)
    with pytest.raises(ValueError, match="surface_search_fraction"):
        WeldMeasureConfig(surface_search_fraction=0.0)
    with pytest.raises(ValueError, match="contour_tolerance_px"):
        WeldMeasureConfig(contour_tolerance_px=-1.0)


def test_measurement_type() -> None:
    result = measure_weld(render_weld(5, 0, (128, 128)).mask, mm_per_px=0.1)
    assert isinstance(result, WeldMeasurement)
    assert result.found
