"""Threshold curves: separable data, a hand-checked threshold, merging, the best threshold, the plot."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from trainer.metrics import AprfCurve, aprf_curve, best_threshold, default_thresholds, plot_aprf


def _separable(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 2, size=(2, 12, 10))
    prob = np.where(target == 1, rng.uniform(0.76, 0.95, target.shape), rng.uniform(0.05, 0.24, target.shape))
    return prob, target


def test_default_thresholds() -> None:
    thresholds = default_thresholds()
    assert thresholds.shape == (99,)
    assert thresholds[0] == 0.01 and thresholds[49] == 0.5 and thresholds[-1] == 0.99


def test_separable_case_reaches_f1_one_in_the_middle() -> None:
    prob, target = _separable()
    curve = aprf_curve(prob, target)
    middle = int(np.flatnonzero(curve.thresholds == 0.5)[0])
    for name in ("accuracy", "precision", "recall", "f1", "f2"):
        assert curve.metric(name)[middle] == 1.0
    assert curve.f1[0] < 1.0 and curve.f1[-1] < 1.0
    # F1 = 1 on the plateau 0.25 .. 0.75: the chosen threshold is its middle.
    assert best_threshold(curve) == pytest.approx(0.5)


def test_one_threshold_by_hand() -> None:
    prob = np.array([0.1, 0.4, 0.5, 0.6, 0.9, 0.2, 0.7])
    target = np.array([0, 1, 0, 1, 1, 1, 255])
    curve = aprf_curve(prob, target, thresholds=np.array([0.25, 0.5, 0.75]))
    # At 0.5 (foreground means prob >= 0.5): TP = {0.6, 0.9}, FP = {0.5}, FN = {0.4, 0.2}, TN = {0.1};
    # the 0.7 pixel is ignored.
    assert (curve.tp[1], curve.fp[1], curve.fn[1], curve.tn[1]) == (2, 1, 2, 1)
    assert curve.accuracy[1] == pytest.approx(3 / 6)
    assert curve.precision[1] == pytest.approx(2 / 3)
    assert curve.recall[1] == pytest.approx(2 / 4)
    assert curve.f1[1] == pytest.approx(2 * 2 / (2 * 2 + 1 + 2))
    assert curve.f2[1] == pytest.approx(5 * 2 / (5 * 2 + 4 * 2 + 1))
    assert curve.num_pixels == 6


def test_counts_equal_brute_force_thresholding() -> None:
    rng = np.random.default_rng(1)
    prob = rng.random((3, 20, 20)).astype(np.float32)
    prob[0, 0, :5] = [0.0, 1.0, 0.5, 0.01, 0.99]  # values on and beyond the thresholds
    target = rng.integers(0, 2, size=prob.shape)
    target[rng.random(prob.shape) < 0.1] = 255
    curve = aprf_curve(prob, target)
    valid = target != 255
    for j, t in enumerate(curve.thresholds):
        predicted = prob[valid] >= np.float32(t)
        truth = target[valid] == 1
        assert curve.tp[j] == np.sum(predicted & truth)
        assert curve.fp[j] == np.sum(predicted & ~truth)
        assert curve.fn[j] == np.sum(~predicted & truth)
        assert curve.tn[j] == np.sum(~predicted & ~truth)


def test_merging_two_halves_equals_one_pass() -> None:
    rng = np.random.default_rng(2)
    prob = rng.random((4, 16, 16))
    target = (rng.random((4, 16, 16)) < prob).astype(np.uint8)
    whole = aprf_curve(prob, target)
    merged = aprf_curve(prob[:2], target[:2]).merge(aprf_curve(prob[2:], target[2:]))
    for name in ("tp", "fp", "fn", "tn"):
        np.testing.assert_array_equal(getattr(merged, name), getattr(whole, name))
    np.testing.assert_array_equal(merged.f1, whole.f1)
    with pytest.raises(ValueError, match="different thresholds"):
        whole.merge(aprf_curve(prob, target, thresholds=np.array([0.5])))


def test_undefined_values_are_nan() -> None:
    curve = aprf_curve(np.array([0.1, 0.2]), np.array([0, 0]), thresholds=np.array([0.15, 0.5]))
    assert np.isnan(curve.recall).all()  # no foreground in the truth
    assert curve.precision[0] == 0.0 and np.isnan(curve.precision[1])  # nothing predicted at 0.5
    assert curve.f1[0] == 0.0 and np.isnan(curve.f1[1])
    assert best_threshold(curve, "accuracy") == 0.5
    assert curve.as_dict()["f1"] == [0.0, None]
    with pytest.raises(ValueError, match="undefined"):
        best_threshold(curve, "recall")


def test_plot_writes_a_png(tmp_path: Path) -> None:
    prob, target = _separable(seed=3)
    curve = aprf_curve(prob, target)
    path = plot_aprf(curve, tmp_path / "plots" / "aprf.png", chosen_threshold=0.46, title="weld")
    assert path == tmp_path / "plots" / "aprf.png"
    image = cv2.imread(str(path))
    assert image is not None and image.shape[0] > 100 and image.shape[1] > 100
    with pytest.raises(ValueError, match=r"ending in \.png"):
        plot_aprf(curve, tmp_path / "aprf.pdf")


def test_errors() -> None:
    with pytest.raises(ValueError, match=r"prob shape \(2,\) does not match target shape \(3,\)"):
        aprf_curve(np.zeros(2), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\].*\[-2.0, 3.0\]"):
        aprf_curve(np.array([-2.0, 3.0]), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"got values \[2\]"):
        aprf_curve(np.array([0.2, 0.3]), np.array([0, 2]))
    with pytest.raises(ValueError, match="strictly increasing"):
        aprf_curve(np.array([0.2]), np.array([0]), thresholds=np.array([0.5, 0.4]))
    with pytest.raises(ValueError, match="unknown metric 'iou'; valid metrics are accuracy, precision"):
        best_threshold(aprf_curve(np.array([0.2]), np.array([1])), "iou")
    with pytest.raises(ValueError, match=r"tp shape \(1,\) does not match thresholds shape \(2,\)"):
        AprfCurve(np.array([0.1, 0.2]), np.zeros(1), np.zeros(2), np.zeros(2), np.zeros(2))
