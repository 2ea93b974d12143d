"""ConfusionMatrix: a hand-computed example, ignore pixels, merging, NaN handling, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from trainer.metrics import ConfusionMatrix

# 4 classes; class 3 appears in neither map. The last pixel is ignored (its prediction, 2,
# would otherwise count as a false positive of class 2).
TARGET = np.array([[0, 0, 1], [1, 2, 255]], dtype=np.uint8)
PRED = np.array([[0, 1, 1], [1, 0, 2]], dtype=np.int64)
EXPECTED = np.array(
    [
        [1, 1, 0, 0],  # truth 0: one right, one predicted as 1
        [0, 2, 0, 0],  # truth 1: both right
        [1, 0, 0, 0],  # truth 2: predicted as 0
        [0, 0, 0, 0],  # truth 3: absent
    ]
)
NAN = math.nan


def _example() -> ConfusionMatrix:
    cm = ConfusionMatrix(4)
    cm.update(PRED, TARGET)
    return cm


def test_hand_computed_matrix() -> None:
    cm = _example()
    np.testing.assert_array_equal(cm.matrix, EXPECTED)
    assert cm.matrix.dtype == np.int64
    assert cm.total == 5


def test_hand_computed_metrics() -> None:
    cm = _example()
    # TP = (1, 2, 0, 0), FP = (1, 1, 0, 0), FN = (1, 0, 1, 0)
    np.testing.assert_allclose(cm.iou(), [1 / 3, 2 / 3, 0.0, NAN])
    np.testing.assert_allclose(cm.recall(), [1 / 2, 1.0, 0.0, NAN])
    np.testing.assert_allclose(cm.precision(), [1 / 2, 2 / 3, NAN, NAN])  # class 2 never predicted
    np.testing.assert_allclose(cm.dice(), [2 / 4, 4 / 5, 0.0, NAN])
    assert cm.miou() == pytest.approx((1 / 3 + 2 / 3 + 0) / 3)
    assert cm.mpa() == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert cm.pixel_accuracy() == pytest.approx(3 / 5)


def test_ignored_pixels_are_not_counted_whatever_their_prediction() -> None:
    cm = ConfusionMatrix(4)
    pred = PRED.copy()
    pred[1, 2] = 0
    cm.update(pred, TARGET)
    np.testing.assert_array_equal(cm.matrix, EXPECTED)
    everything_ignored = ConfusionMatrix(4)
    everything_ignored.update(PRED, np.full_like(TARGET, 255))
    assert everything_ignored.total == 0


def test_merge_equals_update_on_the_concatenation() -> None:
    rng = np.random.default_rng(0)
    preds = rng.integers(0, 3, size=(4, 8, 9))
    targets = rng.integers(0, 3, size=(4, 8, 9))
    targets[rng.random(targets.shape) < 0.1] = 255
    first, second = ConfusionMatrix(3), ConfusionMatrix(3)
    first.update(preds[:1], targets[:1])
    second.update(preds[1:], targets[1:])
    whole = ConfusionMatrix(3)
    whole.update(np.concatenate(list(preds), axis=1), np.concatenate(list(targets), axis=1))
    # Workers' matrices summed as arrays (an all-reduce) give the same counts.
    summed = ConfusionMatrix(3).merge_matrix(first.matrix + second.matrix)
    np.testing.assert_array_equal(summed.matrix, whole.matrix)
    assert first.merge(second) is first
    np.testing.assert_array_equal(first.matrix, whole.matrix)
    np.testing.assert_array_equal(ConfusionMatrix.from_matrix(whole.matrix).matrix, whole.matrix)


def test_absent_classes_are_nan_and_left_out_of_the_means() -> None:
    cm = ConfusionMatrix(3)
    cm.update(np.zeros((2, 2), dtype=np.int64), np.zeros((2, 2), dtype=np.int64))
    assert cm.iou()[0] == 1.0
    assert np.isnan(cm.iou()[1:]).all()
    assert cm.miou() == 1.0
    assert cm.mpa() == 1.0
    empty = ConfusionMatrix(3)
    assert math.isnan(empty.miou()) and math.isnan(empty.pixel_accuracy())


def test_summary_is_strict_json_with_nan_as_none() -> None:
    summary = _example().summary(["background", "tube", "slag", "spare"])
    text = json.dumps(summary, allow_nan=False)
    assert json.loads(text) == summary
    assert summary["per_class"]["spare"]["iou"] is None
    assert summary["per_class"]["slag"]["precision"] is None
    assert summary["per_class"]["tube"]["iou"] == pytest.approx(2 / 3)
    assert summary["per_class"]["background"]["support"] == 2
    assert summary["per_class"]["tube"]["predicted"] == 3
    assert summary["miou"] == pytest.approx(1 / 3)
    assert summary["mean_dice"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert summary["matrix"] == EXPECTED.tolist()
    assert list(_example().summary()["per_class"]) == ["class_0", "class_1", "class_2", "class_3"]


def test_errors_name_the_bad_value() -> None:
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError, match=r"pred shape \(2, 3\) does not match target shape \(3, 2\)"):
        cm.update(np.zeros((2, 3), dtype=int), np.zeros((3, 2), dtype=int))
    with pytest.raises(ValueError, match=r"pred holds class ids \[3\] outside \[0, 2\]"):
        cm.update(np.array([0, 3]), np.array([0, 0]))
    with pytest.raises(ValueError, match=r"target holds class ids \[5\] outside \[0, 2\]"):
        cm.update(np.array([0, 0]), np.array([0, 5]))
    with pytest.raises(ValueError, match="integer class ids, got dtype float64"):
        cm.update(np.zeros(2), np.zeros(2, dtype=int))
    with pytest.raises(ValueError, match="ignore_index 1 is a valid class id"):
        ConfusionMatrix(3, ignore_index=1)
    with pytest.raises(ValueError, match="num_classes=4"):
        cm.merge(ConfusionMatrix(4))
    with pytest.raises(
        ValueError, match=r"matrix shape \(2, 2\) does not match 3 classes: expected \(3, 3\)"
    ):
        cm.merge_matrix(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="integer counts, got dtype float64"):
        cm.merge_matrix(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="got 2 class names for 3 classes"):
        cm.summary(["a", "b"])
    assert cm.total == 0  # failed updates added nothing
