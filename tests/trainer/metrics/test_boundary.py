"""Boundary F1: identical and shifted masks, tolerance, empty cases, ignore pixels, averaging."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from trainer.metrics import BoundaryAccumulator, BoundaryScore, boundary_f1, label_boundaries
from trainer.metrics.boundary import _squared_distance_to


def _square(shift: tuple[int, int] = (0, 0), size: int = 16) -> np.ndarray:
    mask = np.zeros((size, size), dtype=np.int64)
    r, c = 4 + shift[0], 4 + shift[1]
    mask[r : r + 6, c : c + 6] = 1
    return mask


def test_label_boundaries_of_a_small_map() -> None:
    labels = np.array(
        [
            [0, 0, 0, 0],
            [0, 1, 1, 0],
            [0, 1, 1, 0],
            [0, 0, 0, 0],
        ]
    )
    expected = np.array(
        [
            [0, 1, 1, 0],
            [1, 1, 1, 1],
            [1, 1, 1, 1],
            [0, 1, 1, 0],
        ],
        dtype=bool,
    )
    np.testing.assert_array_equal(label_boundaries(labels), expected)
    # The image border is no boundary, and neither is a neighbour outside the valid mask.
    assert not label_boundaries(np.ones((3, 3), dtype=int)).any()
    valid = labels == 0
    assert not label_boundaries(labels, valid).any()


def test_identical_maps_score_one() -> None:
    labels = _square()
    labels[10:14, 1:3] = 2
    assert boundary_f1(labels, labels, tolerance_px=0.0) == BoundaryScore(1.0, 1.0, 1.0)


def test_one_pixel_shift_is_within_a_two_pixel_tolerance() -> None:
    score = boundary_f1(_square((0, 1)), _square(), tolerance_px=2.0)
    assert score == BoundaryScore(1.0, 1.0, 1.0)


def test_one_pixel_shift_is_penalised_by_a_subpixel_tolerance() -> None:
    score = boundary_f1(_square((0, 1)), _square(), tolerance_px=0.5)
    assert 0.0 < score.f1 < 1.0
    assert score.precision < 1.0 and score.recall < 1.0


def test_empty_cases() -> None:
    empty = np.zeros((8, 8), dtype=np.int64)
    assert boundary_f1(empty, empty) == BoundaryScore(1.0, 1.0, 1.0)
    assert boundary_f1(empty, _square(size=16)[:8, :8]) == BoundaryScore(0.0, 0.0, 0.0)
    assert boundary_f1(_square(size=16)[:8, :8], empty) == BoundaryScore(0.0, 0.0, 0.0)


def test_ignored_pixels_take_no_part() -> None:
    target = np.zeros((16, 16), dtype=np.uint8)
    target[2:12, 2:12] = 255
    pred = _square()  # its whole boundary lies on ignored pixels
    assert boundary_f1(pred, target) == BoundaryScore(1.0, 1.0, 1.0)


def test_distance_map_is_the_exact_euclidean_distance() -> None:
    mask = np.random.default_rng(0).random((40, 50)) < 0.01
    exact = ndimage.distance_transform_edt(~mask)
    np.testing.assert_array_equal(_squared_distance_to(mask), np.rint(exact**2).astype(np.int64))


def test_tolerance_is_inclusive_at_irrational_distances() -> None:
    # A one-pixel object moved by (2, 3): the farthest boundary pixels are sqrt(13) apart, and
    # math.sqrt(13) ** 2 is 12.999999999999998, just below 13.
    target = np.zeros((9, 9), dtype=np.int64)
    pred = target.copy()
    target[2, 2] = 1
    pred[4, 5] = 1
    assert math.sqrt(13) ** 2 < 13
    assert boundary_f1(pred, target, tolerance_px=math.sqrt(13)) == BoundaryScore(1.0, 1.0, 1.0)
    assert boundary_f1(pred, target, tolerance_px=3.6).f1 < 1.0


def test_accumulator_averages_over_images() -> None:
    empty = np.zeros((16, 16), dtype=np.int64)
    preds = np.stack([_square(), empty])
    targets = np.stack([_square(), _square()])
    acc = BoundaryAccumulator(tolerance_px=1.0)
    acc.update(preds, targets)
    assert acc.num_images == 2
    assert acc.result() == BoundaryScore(0.5, 0.5, 0.5)
    assert acc.result().as_dict() == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    other = BoundaryAccumulator(tolerance_px=1.0)
    other.update(_square(), _square())
    assert acc.merge(other).result().f1 == pytest.approx(2 / 3)
    assert np.isnan(BoundaryAccumulator().result().f1)


def test_errors() -> None:
    with pytest.raises(ValueError, match=r"pred shape \(4, 4\) does not match target shape \(4, 5\)"):
        boundary_f1(np.zeros((4, 4), dtype=int), np.zeros((4, 5), dtype=int))
    with pytest.raises(ValueError, match="tolerance_px must be"):
        boundary_f1(np.zeros((4, 4), dtype=int), np.zeros((4, 4), dtype=int), tolerance_px=-1.0)
    with pytest.raises(ValueError, match="one HxW map"):
        boundary_f1(np.zeros((2, 4, 4), dtype=int), np.zeros((2, 4, 4), dtype=int))
    with pytest.raises(ValueError, match=r"tolerance_px=2\.0"):
        BoundaryAccumulator(1.0).merge(BoundaryAccumulator(2.0))
