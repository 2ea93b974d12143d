"""Confusion-matrix segmentation metrics: IoU, mIoU, pixel accuracy, mPA, precision, recall, Dice.

The matrix is accumulated over any number of images with one ``np.bincount``
per update (int64 counts, so no overflow for any realistic data set), and
matrices of several workers are summed with :meth:`ConfusionMatrix.merge`.

Undefined values
----------------
Every per-class ratio is NaN where its denominator is zero, and the means
(:meth:`~ConfusionMatrix.miou`, :meth:`~ConfusionMatrix.mpa`, ``mean_dice`` of the
summary) average the classes whose value is defined (``np.nanmean``):

- a class absent from both the truth and the prediction has NaN IoU, Dice,
  precision and recall, so it is left out of every mean;
- a class absent from the truth but predicted somewhere has NaN recall (it is
  left out of mPA; its false positives already lower the recall of the classes
  they were taken from) and IoU = Dice = precision = 0;
- a class present in the truth but never predicted has NaN precision and
  IoU = Dice = recall = 0.

A mean over no defined class, and the pixel accuracy of an empty matrix, are NaN.
:meth:`~ConfusionMatrix.summary` writes NaN as ``None`` so that its output is strict JSON.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["ConfusionMatrix"]


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` as float64, NaN where the denominator is 0."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _nanmean(values: np.ndarray) -> float:
    """Mean of the non-NaN entries; NaN (without a RuntimeWarning) if there are none."""
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if defined.size else math.nan


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def check_label_arrays(
    pred: np.ndarray, target: np.ndarray, what: str = "pred"
) -> tuple[np.ndarray, np.ndarray]:
    """Validate two integer label maps of the same shape and return them as arrays.

    Parameters
    ----------
    pred, target
        Integer (or boolean) arrays of equal shape, e.g. ``HxW`` or ``NxHxW``.
    what
        Name of the first array in error messages.

    Returns
    -------
    tuple[np.ndarray, np.ndarray]
        The inputs as numpy arrays (not copied when they already are).
    """
    pred = np.asarray(pred)
    target = np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(f"{what} shape {pred.shape} does not match target shape {target.shape}")
    for label, array in ((what, pred), ("target", target)):
        if not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
            raise ValueError(f"{label} must hold integer class ids, got dtype {array.dtype}")
    return pred, target


class ConfusionMatrix:
    """Accumulated ``num_classes x num_classes`` confusion matrix of a segmentation.

    Rows are the true classes, columns the predicted ones: ``matrix[t, p]`` counts
    the pixels of true class ``t`` predicted as ``p``. Pixels whose target equals
    ``ignore_index`` are not counted. See the module docstring for how classes with
    an undefined ratio (NaN) are treated.

    Parameters
    ----------
    num_classes
        Number of classes (>= 1); class ids are ``0 .. num_classes - 1``.
    ignore_index
        Target value of unlabelled pixels; must not be a valid class id.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise ValueError(f"num_classes must be an integer >= 1, got {num_classes!r}")
        if 0 <= ignore_index < num_classes:
            raise ValueError(
                f"ignore_index {ignore_index} is a valid class id for {num_classes} classes; "
                f"expected a value outside [0, {num_classes - 1}]"
            )
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self._matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def __repr__(self) -> str:
        return (
            f"ConfusionMatrix(num_classes={self.num_classes}, ignore_index={self.ignore_index}, "
            f"pixels={self.total})"
        )

    @classmethod
    def from_matrix(cls, matrix: np.ndarray, ignore_index: int = 255) -> ConfusionMatrix:
        """Wrap an existing square count matrix (e.g. one all-reduced across workers).

        Parameters
        ----------
        matrix
            Square matrix of non-negative integer counts, rows = truth, columns = prediction.
        ignore_index
            As in the constructor.
        """
        matrix = np.asarray(matrix)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] < 1:
            raise ValueError(f"matrix must be square [C, C] with C >= 1, got shape {matrix.shape}")
        result = cls(matrix.shape[0], ignore_index)
        result.merge_matrix(matrix)
        return result

    # -- accumulation -------------------------------------------------------

    def update(self, pred: np.ndarray, target: np.ndarray) -> None:
        """Add the pixels of one or more predictions.

        Parameters
        ----------
        pred
            Predicted class ids, integer array (``HxW``, ``NxHxW``, any shape), all in
            ``[0, num_classes)``.
        target
            True class ids of the same shape; ``ignore_index`` pixels are skipped, all
            other values must be in ``[0, num_classes)``.
        """
        pred, target = check_label_arrays(pred, target)
        if pred.size == 0:
            return
        pred = pred.astype(np.int64, copy=False).ravel()
        target = target.astype(np.int64, copy=False).ravel()
        c = self.num_classes
        lo, hi = int(pred.min()), int(pred.max())
        if lo < 0 or hi >= c:
            bad = np.unique(pred[(pred < 0) | (pred >= c)])[:8].tolist()
            raise ValueError(f"pred holds class ids {bad} outside [0, {c - 1}] for {c} classes")
        valid = target != self.ignore_index
        if not valid.all():
            pred = pred[valid]
            target = target[valid]
        if target.size == 0:
            return
        if int(target.min()) < 0 or int(target.max()) >= c:
            bad = np.unique(target[(target < 0) | (target >= c)])[:8].tolist()
            raise ValueError(
                f"target holds class ids {bad} outside [0, {c - 1}] for {c} classes "
                f"(ignore_index is {self.ignore_index})"
            )
        counts = np.bincount(target * c + pred, minlength=c * c)
        self._matrix += counts.reshape(c, c)

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add the counts of another matrix (e.g. of another worker) in place.

        Returns
        -------
        ConfusionMatrix
            ``self``, for chaining.
        """
        if not isinstance(other, ConfusionMatrix):
            raise TypeError(f"can only merge a ConfusionMatrix, got {type(other).__name__}")
        if (other.num_classes, other.ignore_index) != (self.num_classes, self.ignore_index):
            raise ValueError(
                f"cannot merge a matrix with num_classes={other.num_classes}, ignore_index="
                f"{other.ignore_index} into one with num_classes={self.num_classes}, "
                f"ignore_index={self.ignore_index}"
            )
        self._matrix += other._matrix
        return self

    def merge_matrix(self, matrix: np.ndarray) -> ConfusionMatrix:
        """Add a raw count matrix (e.g. the sum of all workers' :attr:`matrix`) in place.

        Parameters
        ----------
        matrix
            ``[num_classes, num_classes]`` non-negative integer counts, rows = truth.

        Returns
        -------
        ConfusionMatrix
            ``self``, for chaining.
        """
        matrix = np.asarray(matrix)
        expected = (self.num_classes, self.num_classes)
        if matrix.shape != expected:
            raise ValueError(
                f"matrix shape {matrix.shape} does not match {self.num_classes} classes: expected {expected}"
            )
        if not np.issubdtype(matrix.dtype, np.integer):
            raise ValueError(
                f"matrix must hold integer counts, got dtype {matrix.dtype} (round all-reduced floats)"
            )
        if (matrix < 0).any():
            raise ValueError(f"matrix holds negative counts: {matrix[matrix < 0][:8].tolist()}")
        self._matrix += matrix.astype(np.int64)
        return self

    def reset(self) -> None:
        """Set all counts to zero."""
        self._matrix[...] = 0

    # -- counts ---------------------------------------------------------------

    @property
    def matrix(self) -> np.ndarray:
        """A copy of the int64 counts, rows = truth, columns = prediction."""
        return self._matrix.copy()

    @property
    def total(self) -> int:
        """Number of counted (non-ignored) pixels."""
        return int(self._matrix.sum())

    def _tp_fp_fn(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        tp = np.diag(self._matrix)
        fp = self._matrix.sum(axis=0) - tp
        fn = self._matrix.sum(axis=1) - tp
        return tp, fp, fn

    # -- metrics --------------------------------------------------------------

    def iou(self) -> np.ndarray:
        """Per-class intersection over union ``TP / (TP + FP + FN)``; NaN for absent classes."""
        tp, fp, fn = self._tp_fp_fn()
        return _ratio(tp, tp + fp + fn)

    def miou(self) -> float:
        """Mean IoU over the classes present in the truth or the prediction."""
        return _nanmean(self.iou())

    def precision(self) -> np.ndarray:
        """Per-class precision ``TP / (TP + FP)``; NaN for classes never predicted."""
        tp, fp, _ = self._tp_fp_fn()
        return _ratio(tp, tp + fp)

    def recall(self) -> np.ndarray:
        """Per-class recall (class pixel accuracy) ``TP / (TP + FN)``; NaN for classes not in the truth."""
        tp, _, fn = self._tp_fp_fn()
        return _ratio(tp, tp + fn)

    def dice(self) -> np.ndarray:
        """Per-class Dice = F1 ``2 TP / (2 TP + FP + FN)``; NaN for absent classes."""
        tp, fp, fn = self._tp_fp_fn()
        return _ratio(2 * tp, 2 * tp + fp + fn)

    def pixel_accuracy(self) -> float:
        """Fraction of counted pixels predicted correctly; NaN if nothing was counted."""
        total = self.total
        return float(np.trace(self._matrix) / total) if total else math.nan

    def mpa(self) -> float:
        """Mean pixel accuracy (the papers' mPA): mean per-class recall over the classes in the truth."""
        return _nanmean(self.recall())

    def summary(self, class_names: Sequence[str] | None = None) -> dict[str, Any]:
        """All figures as a JSON-ready dict (NaN written as ``None``).

        Parameters
        ----------
        class_names
            One unique name per class; default ``"class_0"``, ``"class_1"``, ...

        Returns
        -------
        dict
            ``num_classes``, ``pixels``, ``pixel_accuracy``, ``miou``, ``mpa``,
            ``mean_dice``, ``per_class`` (name -> ``{"id", "iou", "precision", "recall",
            "dice", "support", "predicted"}``, where ``support`` counts the true pixels of
            the class and ``predicted`` its predicted pixels) and ``matrix`` (list of rows).
        """
        if class_names is None:
            names = [f"class_{i}" for i in range(self.num_classes)]
        else:
            names = [str(name) for name in class_names]
            if len(names) != self.num_classes:
                raise ValueError(f"got {len(names)} class names for {self.num_classes} classes: {names}")
            if len(set(names)) != len(names):
                raise ValueError(f"class names must be unique, got {names}")
        iou, precision, recall, dice = self.iou(), self.precision(), self.recall(), self.dice()
        support = self._matrix.sum(axis=1)
        predicted = self._matrix.sum(axis=0)
        per_class = {
            name: {
                "id": i,
                "iou": _json_float(iou[i]),
                "precision": _json_float(precision[i]),
                "recall": _json_float(recall[i]),
                "dice": _json_float(dice[i]),
                "support": int(support[i]),
                "predicted": int(predicted[i]),
            }
            for i, name in enumerate(names)
        }
        return {
            "num_classes": self.num_classes,
            "pixels": self.total,
            "pixel_accuracy": _json_float(self.pixel_accuracy()),
            "miou": _json_float(self.miou()),
            "mpa": _json_float(self.mpa()),
            "mean_dice": _json_float(_nanmean(dice)),
            "per_class": per_class,
            "matrix": self._matrix.tolist(),
        }
