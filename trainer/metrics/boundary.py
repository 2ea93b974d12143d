"""Boundary F1 (BF score) of a segmentation, with a distance tolerance in pixels.

Definitions used here
---------------------
- The *boundary of class c* in a label map is the set of pixels of class ``c``
  with at least one 4-neighbour of another label. The image border is not a
  boundary (a pixel has no neighbour outside the image).
- *Ignored pixels* (target == ``ignore_index``) take no part: in the truth, a
  pixel next to an ignored pixel is not a boundary because of it; in the
  prediction, boundary pixels lying on ignored target pixels are dropped.
  (Predicted boundaries are computed on the full prediction first, so a
  predicted boundary next to, but outside, an ignored region still counts.)
- A predicted boundary pixel of class ``c`` is *matched* if a true boundary pixel
  of class ``c`` lies within ``tolerance_px`` (Euclidean distance between pixel
  centres, ``<=``), and vice versa for the true boundary pixels. ``tolerance_px =
  0`` (or anything below 1) therefore asks for the exact pixel.
- Counts are summed over the classes present in either map (micro average):
  ``precision = matched predicted / all predicted`` and ``recall = matched true /
  all true`` boundary pixels, ``f1 = 2 P R / (P + R)`` (0 when ``P + R = 0``).
- Empty cases: no boundary in either map (e.g. both a single class) gives
  precision = recall = F1 = 1; a boundary in only one of them gives 0 for all three.

:class:`BoundaryAccumulator` averages the per-image scores over images
(the mean of the per-image F1, not the F1 of the mean precision and recall).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from trainer.metrics.confusion import check_label_arrays

__all__ = ["BoundaryAccumulator", "BoundaryScore", "boundary_f1", "label_boundaries"]


@dataclass(frozen=True)
class BoundaryScore:
    """Boundary precision, recall and F1, each in ``[0, 1]`` (NaN only for an empty accumulator)."""

    precision: float
    recall: float
    f1: float

    def as_dict(self) -> dict[str, float]:
        """``{"precision", "recall", "f1"}`` as plain floats."""
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1}


def label_boundaries(labels: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Pixels of a label map that have a 4-neighbour with a different label.

    Parameters
    ----------
    labels
        ``HxW`` integer label map.
    valid
        Optional ``HxW`` boolean mask; a neighbour outside it never makes a boundary
        (and pixels outside it are never boundaries).

    Returns
    -------
    np.ndarray
        ``HxW`` boolean boundary mask.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be an HxW map, got shape {labels.shape}")
    if valid is not None and valid.shape != labels.shape:
        raise ValueError(f"valid mask shape {valid.shape} does not match labels shape {labels.shape}")
    boundary = np.zeros(labels.shape, dtype=bool)
    # Vertical and horizontal neighbour pairs: (a, b) and the matching slices of the output.
    for a, b in (
        ((slice(1, None), slice(None)), (slice(None, -1), slice(None))),
        ((slice(None), slice(1, None)), (slice(None), slice(None, -1))),
    ):
        differs = labels[a] != labels[b]
        if valid is not None:
            differs &= valid[a] & valid[b]
        boundary[a] |= differs
        boundary[b] |= differs
    return boundary


def _squared_distance_to(mask: np.ndarray) -> np.ndarray:
    """Exact squared Euclidean distance (int64) from every pixel to the nearest ``True`` pixel of ``mask``."""
    # cv2 measures the distance to the nearest zero pixel; DIST_MASK_PRECISE is the exact EDT, but its
    # float32 result can be 1 ulp off sqrt(k). Squaring and rounding recovers the integer k exactly
    # (for distances below ~1000 px, far beyond any tolerance), so matching does not depend on rounding.
    distance = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.rint(distance.astype(np.float64) ** 2).astype(np.int64)


def _boundary_counts(
    pred: np.ndarray, target: np.ndarray, tolerance_px: float, ignore_index: int
) -> tuple[int, int, int, int]:
    """``(matched_pred, total_pred, matched_true, total_true)`` boundary pixels of one image."""
    valid = target != ignore_index
    pred_boundary = label_boundaries(pred) & valid
    true_boundary = label_boundaries(target, valid)
    # Squared pixel distances are integers k; the slack makes e.g. tolerance math.sqrt(13) (whose square
    # is 12.999999999999998) match distance sqrt(13) without ever admitting the next integer.
    max_squared = tolerance_px * tolerance_px + 1e-6
    classes = np.union1d(np.unique(pred[pred_boundary]), np.unique(target[true_boundary]))
    matched_pred = total_pred = matched_true = total_true = 0
    for c in classes:
        bp = pred_boundary & (pred == c)
        bt = true_boundary & (target == c)
        n_pred, n_true = int(bp.sum()), int(bt.sum())
        total_pred += n_pred
        total_true += n_true
        if n_pred and n_true:
            matched_pred += int((_squared_distance_to(bt)[bp] <= max_squared).sum())
            matched_true += int((_squared_distance_to(bp)[bt] <= max_squared).sum())
    return matched_pred, total_pred, matched_true, total_true


def _score(matched_pred: int, total_pred: int, matched_true: int, total_true: int) -> BoundaryScore:
    if total_pred == 0 and total_true == 0:
        return BoundaryScore(1.0, 1.0, 1.0)
    if total_pred == 0 or total_true == 0:
        return BoundaryScore(0.0, 0.0, 0.0)
    precision = matched_pred / total_pred
    recall = matched_true / total_true
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return BoundaryScore(precision, recall, f1)


def boundary_f1(
    pred: np.ndarray, target: np.ndarray, tolerance_px: float = 2.0, ignore_index: int = 255
) -> BoundaryScore:
    """Boundary precision, recall and F1 of one ``HxW`` prediction.

    See the module docstring for the definitions and the empty cases.

    Parameters
    ----------
    pred
        ``HxW`` integer predicted class ids.
    target
        ``HxW`` integer true class ids; ``ignore_index`` pixels are ignored.
    tolerance_px
        Largest distance (pixels, >= 0) at which a boundary pixel counts as matched.
    ignore_index
        Target value of unlabelled pixels.

    Returns
    -------
    BoundaryScore
    """
    pred, target = check_label_arrays(pred, target)
    if pred.ndim != 2:
        raise ValueError(
            f"boundary_f1 takes one HxW map, got shape {pred.shape}; use BoundaryAccumulator for batches"
        )
    if not (math.isfinite(tolerance_px) and tolerance_px >= 0):
        raise ValueError(f"tolerance_px must be a finite number >= 0, got {tolerance_px}")
    return _score(*_boundary_counts(pred, target, tolerance_px, ignore_index))


class BoundaryAccumulator:
    """Average :func:`boundary_f1` over images.

    Parameters
    ----------
    tolerance_px
        As in :func:`boundary_f1`.
    ignore_index
        As in :func:`boundary_f1`.
    """

    def __init__(self, tolerance_px: float = 2.0, ignore_index: int = 255) -> None:
        if not (math.isfinite(tolerance_px) and tolerance_px >= 0):
            raise ValueError(f"tolerance_px must be a finite number >= 0, got {tolerance_px}")
        self.tolerance_px = float(tolerance_px)
        self.ignore_index = int(ignore_index)
        self._sums = np.zeros(3, dtype=np.float64)
        self.num_images = 0

    def __repr__(self) -> str:
        return (
            f"BoundaryAccumulator(tolerance_px={self.tolerance_px}, ignore_index={self.ignore_index}, "
            f"num_images={self.num_images})"
        )

    def update(self, pred: np.ndarray, target: np.ndarray) -> None:
        """Score one ``HxW`` image or each image of an ``NxHxW`` batch and add it to the average."""
        pred, target = check_label_arrays(pred, target)
        if pred.ndim == 2:
            pred, target = pred[None], target[None]
        elif pred.ndim != 3:
            raise ValueError(f"pred and target must be HxW or NxHxW, got shape {pred.shape}")
        for p, t in zip(pred, target, strict=True):
            score = boundary_f1(p, t, self.tolerance_px, self.ignore_index)
            self._sums += (score.precision, score.recall, score.f1)
            self.num_images += 1

    def merge(self, other: BoundaryAccumulator) -> BoundaryAccumulator:
        """Add the images of another accumulator (same settings) in place; returns ``self``."""
        if not isinstance(other, BoundaryAccumulator):
            raise TypeError(f"can only merge a BoundaryAccumulator, got {type(other).__name__}")
        if (other.tolerance_px, other.ignore_index) != (self.tolerance_px, self.ignore_index):
            raise ValueError(
                f"cannot merge an accumulator with tolerance_px={other.tolerance_px}, ignore_index="
                f"{other.ignore_index} into one with tolerance_px={self.tolerance_px}, "
                f"ignore_index={self.ignore_index}"
            )
        self._sums += other._sums
        self.num_images += other.num_images
        return self

    def result(self) -> BoundaryScore:
        """Mean precision, recall and F1 over the images so far (NaN if there were none)."""
        if self.num_images == 0:
            return BoundaryScore(math.nan, math.nan, math.nan)
        precision, recall, f1 = (self._sums / self.num_images).tolist()
        return BoundaryScore(precision, recall, f1)
