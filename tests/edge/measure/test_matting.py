"""SHDM matting refinement: better boundaries than thresholding on synthetic welds, crops equal the
full-image solve, and the skip / fallback / time-budget paths.

pymatting's Laplacian is compiled by Numba on its first call in a process; the module-scoped
``warmed`` fixture pays that once for the whole module.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from edge.measure import matting as matting_module
from edge.measure.matting import (
    MattingConfig,
    MattingResult,
    matting_crops,
    refine_weld_mask,
    trimap,
    warm_up,
)
from edge.synth import WeldScene, render_weld

pymatting = pytest.importorskip("pymatting", reason="pymatting (edge extra) runs the closed-form matting")

SIZE = (160, 200)
UNLIMITED = MattingConfig(max_seconds=None)


@pytest.fixture(scope="module")
def warmed() -> float:
    """Compile (or load) pymatting's Numba code once per test module."""
    return warm_up()


@pytest.fixture(scope="module")
def scenes() -> list[WeldScene]:
    return [render_weld(1, index, SIZE) for index in range(4)]  # one of each joint type


def signed_distance(mask: np.ndarray) -> np.ndarray:
    """Signed distance in pixels to the mask boundary (> 0 inside)."""
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    outside = cv2.distanceTransform((mask == 0).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.where(mask > 0, inside - 0.5, 0.5 - outside)


def soft_probability(mask: np.ndarray, seed: int, softness: float = 10.0, wobble: float = 0.4) -> np.ndarray:
    """A deterministic, plausibly soft weld probability map.

    A logistic ramp across the true boundary, ``softness`` px per unit logit, biased so that the
    true boundary sits at p = 0.42 (inside the 0.38..0.46 unknown band, the under-confident edge
    the SHDM thresholds are made for), plus a smooth random wobble of the logit. Thresholding at
    0.5 therefore erodes the weld by about 3 px, wavering along the boundary.
    """
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.standard_normal(mask.shape).astype(np.float32), (0, 0), 6.0)
    noise /= np.abs(noise).max()
    logit = np.log(0.42 / 0.58) + signed_distance(mask) / softness + wobble * noise
    return (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)


def boundary(mask: np.ndarray) -> np.ndarray:
    binary = (mask > 0).astype(np.uint8)
    return (binary - cv2.erode(binary, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT)) > 0


def boundary_f1(predicted: np.ndarray, truth: np.ndarray, tolerance_px: float = 2.0) -> float:
    """F1 of boundary pixels matched within ``tolerance_px`` (Euclidean) of the other boundary."""
    pred_b, true_b = boundary(predicted), boundary(truth)
    to_true = cv2.distanceTransform((~true_b).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    to_pred = cv2.distanceTransform((~pred_b).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    precision = float(np.mean(to_true[pred_b] <= tolerance_px))
    recall = float(np.mean(to_pred[true_b] <= tolerance_px))
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    return float(np.count_nonzero(a & b) / np.count_nonzero(a | b))


def test_boundary_f1_helper() -> None:
    truth = np.zeros((40, 40), np.uint8)
    truth[10:30, 10:30] = 1
    assert boundary_f1(truth, truth) == 1.0
    shifted = np.roll(truth, 1, axis=1)
    assert boundary_f1(shifted, truth) == 1.0
    assert boundary_f1(np.roll(truth, 4, axis=1), truth) < 0.7


def test_refinement_beats_thresholding(warmed: float, scenes: list[WeldScene]) -> None:
    for index, scene in enumerate(scenes):
        probability = soft_probability(scene.mask, seed=index)
        result = refine_weld_mask(scene.image, probability, UNLIMITED)
        assert result.refined and result.fallback_reason is None
        assert result.unknown_px > 0 and result.crops >= 1
        refined_f1, refined_iou = boundary_f1(result.mask, scene.mask), iou(result.mask, scene.mask)
        for thresholded in (probability > 0.5, probability >= 0.46):
            assert refined_f1 > boundary_f1(thresholded, scene.mask) + 0.1, scene.truth.joint
            assert refined_iou > iou(thresholded, scene.mask) + 0.03, scene.truth.joint
        assert refined_f1 > 0.9 and refined_iou > 0.88, scene.truth.joint


def test_mask_is_alpha_over_the_threshold(warmed: float, scenes: list[WeldScene]) -> None:
    scene = scenes[0]
    probability = soft_probability(scene.mask, seed=0)
    result = refine_weld_mask(scene.image, probability, UNLIMITED)
    assert result.alpha is not None and result.alpha.dtype == np.float32
    assert result.mask.dtype == np.uint8 and set(np.unique(result.mask)) <= {0, 1}
    np.testing.assert_array_equal(result.mask, (result.alpha > 0.5).astype(np.uint8))
    tri = trimap(probability)
    assert np.all(result.alpha[tri == 1.0] == 1.0) and np.all(result.alpha[tri == 0.0] == 0.0)


def test_crops_equal_the_full_image_solve(warmed: float, scenes: list[WeldScene]) -> None:
    for index, scene in enumerate(scenes):
        probability = soft_probability(scene.mask, seed=index)
        # Extra unknown blobs away from the weld: several crops, two of them close enough to merge,
        # one surrounded by background only.
        probability[10:14, 10:30] = 0.42
        probability[12:16, 33:40] = 0.44
        probability[140:150, 180:190] = 0.40
        result = refine_weld_mask(scene.image, probability, UNLIMITED)
        assert result.crops >= 2
        full = pymatting.estimate_alpha_cf(scene.image.astype(np.float64) / 255.0, trimap(probability))
        unknown = trimap(probability) == 0.5
        assert result.alpha is not None
        np.testing.assert_allclose(result.alpha[unknown], full[unknown], atol=1e-3)
        np.testing.assert_array_equal(result.mask, (full > 0.5).astype(np.uint8))


def test_crops_are_disjoint_and_cover_the_band_with_its_margin() -> None:
    unknown = np.zeros((60, 80), bool)
    unknown[10:12, 10:20] = True
    unknown[13:15, 22:30] = True  # 2 px from the first: grown boxes overlap -> merged
    unknown[40:45, 60:70] = True
    unknown[0:2, 78:80] = True  # in the corner: the box is clipped
    crops = matting_crops(unknown, margin=2)
    assert crops == [(38, 47, 58, 72), (8, 17, 8, 32), (0, 4, 76, 80)]  # most unknown pixels first
    for a, b in itertools.combinations(crops, 2):
        assert a[1] <= b[0] or b[1] <= a[0] or a[3] <= b[2] or b[3] <= a[2]
    covered = np.zeros_like(unknown)
    for y0, y1, x0, x1 in crops:
        covered[y0:y1, x0:x1] = True
    assert covered[unknown].all()
    assert matting_crops(np.zeros((5, 5), bool), 2) == []


def test_rgb_and_bgr_give_the_same_alpha(warmed: float, scenes: list[WeldScene]) -> None:
    scene = scenes[1]
    probability = soft_probability(scene.mask, seed=1)
    rgb = refine_weld_mask(scene.image, probability, UNLIMITED)
    bgr = refine_weld_mask(np.ascontiguousarray(scene.image[:, :, ::-1]), probability, UNLIMITED)
    assert rgb.alpha is not None and bgr.alpha is not None
    np.testing.assert_allclose(rgb.alpha, bgr.alpha, atol=1e-5)
    floats = refine_weld_mask(scene.image.astype(np.float32) / 255.0, probability, UNLIMITED)
    np.testing.assert_array_equal(floats.mask, rgb.mask)


def test_grey_image(warmed: float, scenes: list[WeldScene]) -> None:
    scene = scenes[2]
    grey = cv2.cvtColor(scene.image, cv2.COLOR_RGB2GRAY)
    result = refine_weld_mask(grey, soft_probability(scene.mask, seed=2), UNLIMITED)
    assert result.refined and result.mask.shape == grey.shape


def test_no_unknown_pixel_skips() -> None:
    probability = np.zeros(SIZE, np.float32)
    probability[40:100, 50:150] = 0.46  # exactly C_high: foreground
    probability[60:80, 60:80] = 0.9
    probability[0:5, 0:5] = 0.38  # exactly C_low: background
    image = np.zeros((*SIZE, 3), np.uint8)
    result = refine_weld_mask(image, probability)
    assert isinstance(result, MattingResult)
    assert not result.refined and result.alpha is None and result.fallback_reason is None
    assert result.unknown_px == 0 and result.crops == 0 and result.crops_skipped == 0
    np.testing.assert_array_equal(result.mask, (probability >= 0.46).astype(np.uint8))


def test_too_large_a_band_falls_back(scenes: list[WeldScene]) -> None:
    scene = scenes[0]
    probability = soft_probability(scene.mask, seed=0)
    result = refine_weld_mask(scene.image, probability, MattingConfig(max_unknown_fraction=0.001))
    assert not result.refined and result.alpha is None
    assert result.fallback_reason is not None and "max_unknown_fraction" in result.fallback_reason
    assert result.unknown_px == np.count_nonzero(trimap(probability) == 0.5)
    np.testing.assert_array_equal(result.mask, (probability >= 0.46).astype(np.uint8))


def test_spent_time_budget_falls_back(scenes: list[WeldScene]) -> None:
    scene = scenes[0]
    probability = soft_probability(scene.mask, seed=0)
    result = refine_weld_mask(scene.image, probability, MattingConfig(max_seconds=0.0))
    assert not result.refined and result.alpha is None and result.crops == 0
    assert result.crops_skipped >= 1
    assert result.fallback_reason is not None and "time budget" in result.fallback_reason
    np.testing.assert_array_equal(result.mask, (probability >= 0.46).astype(np.uint8))


def test_time_budget_spent_between_crops(
    warmed: float, scenes: list[WeldScene], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clock that advances 1 s per reading: the budget of 1.5 s allows exactly one crop."""
    scene = scenes[0]
    probability = soft_probability(scene.mask, seed=0)
    probability[10:14, 10:30] = 0.42
    probability[140:150, 180:190] = 0.40
    ticks = itertools.count()
    monkeypatch.setattr(matting_module.time, "perf_counter", lambda: float(next(ticks)))
    result = refine_weld_mask(scene.image, probability, MattingConfig(max_seconds=1.5))
    assert result.refined and result.crops == 1 and result.crops_skipped == 2
    assert result.fallback_reason == "time budget of 1.5 s spent: 2 of 3 crops not refined"
    assert result.alpha is not None
    # The unsolved blobs keep the thresholded mask (their p is below 0.5: background).
    assert not result.mask[10:14, 10:30].any() and not result.mask[140:150, 180:190].any()


def test_band_surrounded_by_background_only(warmed: float) -> None:
    probability = np.zeros((40, 40), np.float32)
    probability[10:20, 10:20] = 0.42
    image = np.random.default_rng(3).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    result = refine_weld_mask(image, probability, UNLIMITED)
    assert result.refined and result.alpha is not None
    assert np.all(result.alpha == 0.0) and not result.mask.any()


def test_config_from_manifest_and_validation() -> None:
    config = MattingConfig.from_manifest(
        {"foreground": 0.6, "background": 0.3, "alpha": 0.45}, max_seconds=1.0
    )
    assert (config.foreground, config.background, config.alpha_threshold, config.max_seconds) == (
        0.6,
        0.3,
        0.45,
        1.0,
    )
    assert MattingConfig().margin_px == 2
    with pytest.raises(ValueError, match="background"):
        MattingConfig(foreground=0.4, background=0.4)
    with pytest.raises(ValueError, match="max_seconds"):
        MattingConfig(max_seconds=-1.0)
    with pytest.raises(ValueError, match="radius"):
        MattingConfig(radius=0)


def test_bad_input() -> None:
    image = np.zeros((20, 30, 3), np.uint8)
    probability = np.zeros((20, 30), np.float32)
    with pytest.raises(ValueError, match="shape"):
        refine_weld_mask(image, np.zeros((20, 31), np.float32))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        refine_weld_mask(image, probability + 2.0)
    with pytest.raises(ValueError, match="float"):
        refine_weld_mask(image, probability.astype(np.uint8))
    with pytest.raises(ValueError, match="dtype"):
        refine_weld_mask(image.astype(np.int16), probability)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        refine_weld_mask(np.zeros((20, 30, 4), np.uint8), probability)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        refine_weld_mask(image.astype(np.float32) + 2.0, probability)
