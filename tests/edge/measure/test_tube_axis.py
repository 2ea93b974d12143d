"""Tube-axis estimation on drawn tube masks with exact truth and on the synthetic snorkel scenes.

:func:`draw_tube` (also used by ``test_slag.py``) draws a tube with a slag band in a metric plane
and maps it to the image with a homography; a pixel gets the class of the geometry at its centre,
so the band thickness and the axis are exact.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from edge.measure.tube_axis import AxisEstimate, estimate_tube_axis
from edge.synth import SlagScene, render_slag

SYNTH_SIZE = (384, 384)
SYNTH_SCENES = ((3, 0), (3, 1), (3, 2), (3, 3), (8, 4), (8, 5), (8, 6), (8, 7), (21, 8), (21, 9), (21, 10))


@dataclass(frozen=True)
class TubeScene:
    """A drawn tube with its exact truth."""

    mask: np.ndarray
    thickness_mm: float
    mm_per_px: float
    axis_angle_deg: float
    tube_diameter_mm: float
    tube_width_px: float
    band_center_px: tuple[float, float]
    image_to_plane: np.ndarray


def similarity(px_per_mm: float, angle_deg: float, centre: tuple[float, float]) -> np.ndarray:
    """Plane -> image similarity: plane ``+v`` (down the tube) maps to ``(sin a, cos a)``."""
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    return np.array(
        [[px_per_mm * c, px_per_mm * s, centre[0]], [-px_per_mm * s, px_per_mm * c, centre[1]], [0, 0, 1]]
    )


def keystone(shape: tuple[int, int], kx: float, ky: float) -> np.ndarray:
    """Image -> image homography that narrows the top edge by ``kx`` and the left edge by ``ky``."""
    h, w = shape
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32(
        [[kx * w, ky * h], [w - kx * w, -ky * h], [w + kx * w, h + ky * h], [-kx * w, h - ky * h]]
    )
    return cv2.getPerspectiveTransform(src, dst).astype(np.float64)


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    mapped = np.column_stack([points, np.ones(len(points))]) @ matrix.T
    return mapped[:, :2] / mapped[:, 2:3]


def draw_tube(
    shape: tuple[int, int] = (512, 512),
    *,
    tilt_deg: float = 0.0,
    thickness_mm: float = 100.0,
    mm_per_px: float = 2.5,
    diameter_mm: float = 900.0,
    centre: tuple[float, float] = (256.3, 250.6),
    band_offset_mm: float = 0.0,
    bath_below_mm: float = 150.0,
    bath_slope: float = 0.03,
    perspective: tuple[float, float] = (0.0, 0.0),
) -> TubeScene:
    """A tube (class 1) from above the image down to a slanted bath, with a slag band (class 2).

    The band is ``band_offset_mm <= v <= band_offset_mm + thickness_mm`` in the tube plane (``v``
    along the axis, ``u`` across, mm); the bath cuts the tube at ``v = thickness + bath_below_mm +
    bath_slope * u``. ``perspective`` adds a keystone on top of the similarity.
    """
    plane_to_image = keystone(shape, *perspective) @ similarity(1.0 / mm_per_px, tilt_deg, centre)
    image_to_plane = np.linalg.inv(plane_to_image)
    image_to_plane /= image_to_plane[2, 2]
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    w = image_to_plane[2, 0] * xs + image_to_plane[2, 1] * ys + image_to_plane[2, 2]
    u = (image_to_plane[0, 0] * xs + image_to_plane[0, 1] * ys + image_to_plane[0, 2]) / w
    v = (image_to_plane[1, 0] * xs + image_to_plane[1, 1] * ys + image_to_plane[1, 2]) / w
    top, bottom = band_offset_mm, band_offset_mm + thickness_mm
    tube = (np.abs(u) <= diameter_mm / 2) & (v <= bottom + bath_below_mm + bath_slope * u)
    mask = np.zeros(shape, np.uint8)
    mask[tube] = 1
    mask[tube & (v >= top) & (v <= bottom)] = 2
    ends = _apply(plane_to_image, np.array([[0.0, top], [0.0, bottom], [0.0, (top + bottom) / 2]]))
    axis = ends[1] - ends[0]
    sides = _apply(
        plane_to_image,
        np.array([[-diameter_mm / 2, (top + bottom) / 2], [diameter_mm / 2, (top + bottom) / 2]]),
    )
    return TubeScene(
        mask=mask,
        thickness_mm=thickness_mm,
        mm_per_px=thickness_mm / float(np.hypot(*axis)),
        axis_angle_deg=math.degrees(math.atan2(axis[0], axis[1])),
        tube_diameter_mm=diameter_mm,
        tube_width_px=float(np.hypot(*(sides[1] - sides[0]))),
        band_center_px=(float(ends[2][0]), float(ends[2][1])),
        image_to_plane=image_to_plane,
    )


@functools.cache
def synth_scene(seed: int, index: int) -> SlagScene:
    """A synthetic snorkel scene (cached: rendering is the slow part of these tests)."""
    return render_slag(seed, index, SYNTH_SIZE)


TILTS = [float(t) for t in np.arange(-10.0, 10.01, 2.5)]


def _check(estimate: AxisEstimate | None, scene: TubeScene) -> tuple[float, float]:
    assert estimate is not None
    angle_error = abs(estimate.angle_deg - scene.axis_angle_deg)
    width_error = abs(estimate.width_at(*scene.band_center_px) - scene.tube_width_px)
    return angle_error, width_error


def test_tilted_tubes_within_half_a_degree() -> None:
    errors = []
    for tilt in TILTS:
        for perspective in ((0.0, 0.0), (0.03, -0.02)):
            scene = draw_tube(tilt_deg=tilt, perspective=perspective)
            estimate = estimate_tube_axis(scene.mask)
            assert estimate is not None and not estimate.cut_by_edge and estimate.scan == "rows"
            errors.append((*_check(estimate, scene), tilt, perspective))
    worst_angle = max(errors, key=lambda e: e[0])
    worst_width = max(errors, key=lambda e: e[1])
    assert worst_angle[0] <= 0.5, f"worst angle error {worst_angle}"
    assert worst_width[1] <= 1.0, f"worst width error {worst_width}"


def test_synthetic_scenes_within_half_a_degree() -> None:
    errors = []
    for seed, index in SYNTH_SCENES:
        truth = synth_scene(seed, index).truth
        estimate = estimate_tube_axis(synth_scene(seed, index).mask)
        assert estimate is not None
        width = estimate.width_at(*truth.band_center_px)
        errors.append(
            (abs(estimate.angle_deg - truth.axis_angle_deg), abs(width - truth.tube_width_px), seed, index)
        )
    assert max(e[0] for e in errors) <= 0.5, f"worst angle error {max(errors)}"
    assert max(e[1] for e in errors) <= 2.0, f"worst width error {max(errors, key=lambda e: e[1])}"


def test_a_tube_wider_than_its_visible_length() -> None:
    # Cut at the top, the bath 40 mm below a 60 mm band: about 75 px long and 365 px wide, so the
    # region's second moments would point across the tube.
    scene = draw_tube((512, 512), tilt_deg=6.0, thickness_mm=60.0, centre=(256.0, 20.0), bath_below_mm=40.0)
    rows = np.flatnonzero(scene.mask.any(axis=1))
    assert rows.size < 0.25 * np.flatnonzero(scene.mask.any(axis=0)).size
    angle_error, width_error = _check(estimate_tube_axis(scene.mask), scene)
    assert angle_error <= 0.5 and width_error <= 1.0

    # Even shorter: one side is too short to fit; the remaining side nearest the prior (vertical
    # by default) is the tube's, not the long bath line.
    scene = draw_tube((512, 512), tilt_deg=6.0, thickness_mm=60.0, centre=(256.0, 0.0), bath_below_mm=30.0)
    estimate = estimate_tube_axis(scene.mask)
    assert estimate is not None and len(estimate.sides) == 1 and estimate.cut_by_edge
    assert abs(estimate.angle_deg - scene.axis_angle_deg) <= 0.5


def test_a_nearly_horizontal_tube_uses_the_column_scan() -> None:
    scene = draw_tube((512, 512), tilt_deg=84.0, diameter_mm=600.0, bath_below_mm=400.0)
    estimate = estimate_tube_axis(scene.mask)
    assert estimate is not None and estimate.scan == "columns"
    assert abs(estimate.angle_deg - scene.axis_angle_deg) <= 0.5


def test_a_tube_cut_by_the_image_side() -> None:
    scene = draw_tube((512, 512), tilt_deg=3.0, centre=(420.0, 250.0))
    estimate = estimate_tube_axis(scene.mask)
    assert estimate is not None and estimate.cut_by_edge and estimate.cut_sides == ("right",)
    assert len(estimate.sides) == 1 and math.isnan(estimate.width_px)
    assert abs(estimate.angle_deg - 3.0) <= 0.5


def test_the_largest_region_is_used() -> None:
    scene = draw_tube((512, 512), tilt_deg=-4.0)
    mask = scene.mask.copy()
    mask[480:500, 5:60] = 1  # a small false tube detection
    estimate = estimate_tube_axis(mask)
    assert estimate is not None and estimate.components == 2
    assert abs(estimate.angle_deg + 4.0) <= 0.5


def test_no_tube_gives_none() -> None:
    assert estimate_tube_axis(np.zeros((64, 64), np.uint8)) is None
    specks = np.zeros((64, 64), np.uint8)
    specks[10:14, 10:14] = 1
    assert estimate_tube_axis(specks, min_area_px=50) is None
    assert estimate_tube_axis(np.full((64, 64), 255, np.uint8)) is None


@pytest.mark.parametrize(
    "bad", [np.zeros((8, 8), np.float32), np.zeros((8, 8, 3), np.uint8), np.zeros((0, 5), np.uint8)]
)
def test_bad_input_is_refused(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="2-D integer"):
        estimate_tube_axis(bad)
