"""Slag thickness from a class mask: hand-made bands with known thickness, and the not-found cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.measure.slag_thickness import SlagThickness, slag_thickness


def band_mask(
    shape: tuple[int, int], angle_deg: float, tube_half_px: float, band: tuple[float, float]
) -> np.ndarray:
    """A tube of half-width ``tube_half_px`` through the image centre along ``angle_deg`` (the
    slag_thickness convention) with slag where the along-axis coordinate lies in ``band``."""
    a = math.radians(angle_deg)
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    xs -= (shape[1] - 1) / 2
    ys -= (shape[0] - 1) / 2
    across = xs * math.cos(a) - ys * math.sin(a)
    along = xs * math.sin(a) + ys * math.cos(a)
    mask = np.zeros(shape, np.uint8)
    tube = np.abs(across) <= tube_half_px
    mask[tube] = 1
    mask[tube & (along >= band[0]) & (along <= band[1])] = 2
    return mask


def test_axis_aligned_band_of_known_height() -> None:
    mask = np.zeros((100, 120), np.uint8)
    mask[:, 20:100] = 1
    mask[40:60, 20:100] = 2  # 20 px of slag on 80 columns
    result = slag_thickness(mask, 0.0, 2.5)
    assert result == SlagThickness(
        median_mm=50.0, p10_mm=50.0, p90_mm=50.0, lines=80, tube_lines=80, coverage=1.0, found=True
    )


@pytest.mark.parametrize("angle", [-9.0, 4.0, 17.0, 35.0])
def test_rotated_band(angle: float) -> None:
    mask = band_mask((220, 220), angle, tube_half_px=60.0, band=(-14.6, 15.1))  # 29.7 px thick
    result = slag_thickness(mask, angle, 2.0)
    assert result.found
    assert result.median_mm == pytest.approx(2.0 * 29.7, abs=2.0 * 0.5)
    assert result.coverage > 0.95 and result.lines > 100
    assert result.p10_mm <= result.median_mm <= result.p90_mm
    # The axis direction may point either way along the tube.
    flipped = slag_thickness(mask, angle + 180.0, 2.0)
    assert flipped.median_mm == pytest.approx(result.median_mm, abs=0.3)


def test_a_wrong_axis_angle_measures_an_oblique_band() -> None:
    mask = band_mask((220, 220), 10.0, tube_half_px=60.0, band=(-15.0, 15.0))
    right = slag_thickness(mask, 10.0, 1.0).median_mm
    wrong = slag_thickness(mask, 40.0, 1.0).median_mm
    assert wrong == pytest.approx(right / math.cos(math.radians(30.0)), rel=0.05)


def test_small_holes_in_the_band_are_bridged() -> None:
    mask = np.zeros((80, 60), np.uint8)
    mask[:, 10:50] = 1
    mask[30:50, 10:50] = 2
    mask[39, 10:50] = 1  # a one-pixel seam across the band
    assert slag_thickness(mask, 0.0, 1.0).median_mm == pytest.approx(20.0)
    assert slag_thickness(mask, 0.0, 1.0, max_gap_px=0.0).median_mm == pytest.approx(10.0)


def test_empty_or_slag_free_masks_are_not_found() -> None:
    empty = slag_thickness(np.zeros((50, 50), np.uint8), 0.0, 1.0)
    assert not empty.found and empty.lines == 0 and empty.tube_lines == 0 and empty.coverage == 0.0
    assert math.isnan(empty.median_mm) and math.isnan(empty.p10_mm) and math.isnan(empty.p90_mm)

    tube_only = np.zeros((50, 50), np.uint8)
    tube_only[:, 10:40] = 1
    tube_only[:5, :] = 255  # ignore pixels are neither tube nor slag
    result = slag_thickness(tube_only, 3.0, 1.0)
    assert not result.found and result.lines == 0 and result.tube_lines >= 30 and result.coverage == 0.0

    few = tube_only.copy()
    few[20:25, 10:13] = 2  # slag on only three lines
    result = slag_thickness(few, 0.0, 1.0, min_lines=5)
    assert not result.found and result.lines == 3 and math.isnan(result.median_mm)
    assert slag_thickness(few, 0.0, 1.0, min_lines=3).found


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((np.zeros((4, 4, 3), np.uint8), 0.0, 1.0), "mask"),
        ((np.zeros((4, 4), np.float32), 0.0, 1.0), "mask"),
        ((np.zeros((4, 4), np.uint8), 0.0, 0.0), "mm_per_px"),
        ((np.zeros((4, 4), np.uint8), 0.0, float("nan")), "mm_per_px"),
        ((np.zeros((4, 4), np.uint8), float("inf"), 1.0), "axis_angle_deg"),
        ((np.zeros((4, 4), np.uint8), 0.0, 1.0, 0), "min_lines"),
    ],
)
def test_bad_arguments_are_refused(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        slag_thickness(*args)
