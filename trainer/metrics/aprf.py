"""Accuracy / precision / recall / F1 / F2 against the decision threshold of a binary segmentation.

A pixel is predicted foreground when its foreground probability is ``>=`` the
threshold (compared in the probabilities' dtype, as ``prob >= t`` on a float32
map compares). Instead of thresholding the full arrays once per threshold,
:func:`aprf_curve` sorts every probability into the threshold intervals once
(``np.searchsorted``) and counts the foreground and background pixels per
interval (``np.bincount``); the confusion counts of every threshold are then
cumulative sums of those two histograms. The result is exact (no binning of the
probabilities), costs one pass over the pixels, and curves of several batches or
workers are summed with :meth:`AprfCurve.merge`.

Undefined values are NaN: precision when nothing is predicted foreground, recall
when the truth has no foreground, F1/F2 when there is neither a true nor a
predicted foreground pixel, accuracy of an empty curve. Plots show NaN as gaps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["APRF_METRICS", "AprfCurve", "aprf_curve", "best_threshold", "default_thresholds", "plot_aprf"]

APRF_METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "f2")
"""The metric names of :class:`AprfCurve` (and of :func:`best_threshold`)."""


def default_thresholds() -> np.ndarray:
    """The 99 thresholds 0.01, 0.02, ..., 0.99."""
    return np.arange(1, 100, dtype=np.float64) / 100.0


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _check_thresholds(thresholds: np.ndarray) -> np.ndarray:
    thresholds = np.array(thresholds, dtype=np.float64)  # a copy: the curve keeps it
    if thresholds.ndim != 1 or thresholds.size == 0:
        raise ValueError(f"thresholds must be a non-empty 1-D array, got shape {thresholds.shape}")
    if not np.isfinite(thresholds).all():
        raise ValueError("thresholds must be finite")
    if thresholds.size > 1 and not (np.diff(thresholds) > 0).all():
        raise ValueError(f"thresholds must be strictly increasing, got {thresholds.tolist()}")
    return thresholds


@dataclass(frozen=True, eq=False)
class AprfCurve:
    """Confusion counts of a binary segmentation at each threshold, and the metrics derived from them.

    Attributes
    ----------
    thresholds
        ``[K]`` strictly increasing thresholds; foreground means ``prob >= threshold``.
    tp, fp, fn, tn
        ``[K]`` int64 pixel counts at each threshold (read-only arrays).
    """

    thresholds: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    tn: np.ndarray

    def __post_init__(self) -> None:
        thresholds = _check_thresholds(self.thresholds)
        thresholds.setflags(write=False)
        object.__setattr__(self, "thresholds", thresholds)
        for name in ("tp", "fp", "fn", "tn"):
            counts = np.array(getattr(self, name), dtype=np.int64)
            if counts.shape != thresholds.shape:
                raise ValueError(
                    f"{name} shape {counts.shape} does not match thresholds shape {thresholds.shape}"
                )
            if (counts < 0).any():
                raise ValueError(f"{name} holds negative counts")
            counts.setflags(write=False)
            object.__setattr__(self, name, counts)

    @property
    def num_pixels(self) -> int:
        """Number of counted (non-ignored) pixels."""
        return int(self.tp[0] + self.fp[0] + self.fn[0] + self.tn[0])

    @property
    def accuracy(self) -> np.ndarray:
        """``(TP + TN) / all`` per threshold."""
        return _ratio(self.tp + self.tn, self.tp + self.fp + self.fn + self.tn)

    @property
    def precision(self) -> np.ndarray:
        """``TP / (TP + FP)`` per threshold; NaN where nothing is predicted foreground."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> np.ndarray:
        """``TP / (TP + FN)`` per threshold; NaN where the truth has no foreground."""
        return _ratio(self.tp, self.tp + self.fn)

    def f_beta(self, beta: float) -> np.ndarray:
        """``(1 + b^2) TP / ((1 + b^2) TP + b^2 FN + FP)`` per threshold."""
        if not beta > 0:
            raise ValueError(f"beta must be > 0, got {beta}")
        b2 = beta * beta
        tp = self.tp.astype(np.float64)
        return _ratio((1 + b2) * tp, (1 + b2) * tp + b2 * self.fn + self.fp)

    @property
    def f1(self) -> np.ndarray:
        """F1 per threshold (precision and recall weighted equally)."""
        return self.f_beta(1.0)

    @property
    def f2(self) -> np.ndarray:
        """F2 per threshold (recall weighted above precision)."""
        return self.f_beta(2.0)

    def metric(self, name: str) -> np.ndarray:
        """The curve of one of :data:`APRF_METRICS` by name."""
        if name not in APRF_METRICS:
            raise ValueError(f"unknown metric {name!r}; valid metrics are {', '.join(APRF_METRICS)}")
        return getattr(self, name)

    def merge(self, other: AprfCurve) -> AprfCurve:
        """The curve of the pixels of both curves (same thresholds required)."""
        if not isinstance(other, AprfCurve):
            raise TypeError(f"can only merge an AprfCurve, got {type(other).__name__}")
        if not np.array_equal(self.thresholds, other.thresholds):
            raise ValueError(
                f"cannot merge curves with different thresholds ({self.thresholds.size} vs "
                f"{other.thresholds.size} values, or different values)"
            )
        return AprfCurve(
            self.thresholds, self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn
        )

    def as_dict(self) -> dict[str, list[float | None]]:
        """Thresholds and the five metrics as JSON-ready lists (NaN written as ``None``)."""
        out: dict[str, list[float | None]] = {"threshold": self.thresholds.tolist()}
        for name in APRF_METRICS:
            out[name] = [None if np.isnan(v) else float(v) for v in self.metric(name)]
        return out


def aprf_curve(
    prob: np.ndarray,
    target: np.ndarray,
    thresholds: np.ndarray | None = None,
    ignore_index: int = 255,
) -> AprfCurve:
    """Accuracy, precision, recall, F1 and F2 of a binary segmentation at each threshold.

    Parameters
    ----------
    prob
        Foreground probabilities in ``[0, 1]``, any shape (``HxW``, ``NxHxW``).
    target
        Integer (or boolean) truth of the same shape: 1 foreground, 0 background,
        ``ignore_index`` skipped.
    thresholds
        Strictly increasing thresholds; default :func:`default_thresholds` (0.01 .. 0.99).
    ignore_index
        Target value of unlabelled pixels.

    Returns
    -------
    AprfCurve
    """
    thresholds = default_thresholds() if thresholds is None else _check_thresholds(thresholds)
    prob = np.asarray(prob)
    target = np.asarray(target)
    if prob.shape != target.shape:
        raise ValueError(f"prob shape {prob.shape} does not match target shape {target.shape}")
    if not np.issubdtype(prob.dtype, np.floating):
        raise ValueError(f"prob must hold floating-point probabilities, got dtype {prob.dtype}")
    if not (np.issubdtype(target.dtype, np.integer) or target.dtype == np.bool_):
        raise ValueError(f"target must hold integer labels 0/1, got dtype {target.dtype}")
    prob = prob.ravel()
    target = target.ravel().astype(np.int64, copy=False)
    valid = target != ignore_index
    if not valid.all():
        prob = prob[valid]
        target = target[valid]
    if prob.size:
        lo, hi = float(prob.min()), float(prob.max())
        if not (lo >= 0.0 and hi <= 1.0):  # also catches NaN
            raise ValueError(
                f"prob must be probabilities in [0, 1], got values in [{lo}, {hi}] "
                "(logits instead of softmax?)"
            )
        bad = (target != 0) & (target != 1)
        if bad.any():
            raise ValueError(
                f"target must be 0 (background), 1 (foreground) or ignore_index {ignore_index}, "
                f"got values {np.unique(target[bad])[:8].tolist()}"
            )
    k = thresholds.size
    # bins[i] = number of thresholds <= prob[i]; prob[i] >= thresholds[j] exactly when j < bins[i].
    # Compared in the probabilities' own dtype, as `prob >= 0.46` on a float32 map compares.
    bins = np.searchsorted(thresholds.astype(prob.dtype), prob, side="right")
    foreground = target == 1
    fg_hist = np.bincount(bins[foreground], minlength=k + 1)
    bg_hist = np.bincount(bins[~foreground], minlength=k + 1)
    # Predicted foreground at threshold j: pixels in bins j+1 .. k (reverse cumulative sum).
    tp = np.cumsum(fg_hist[::-1])[::-1][1:]
    fp = np.cumsum(bg_hist[::-1])[::-1][1:]
    fn = int(fg_hist.sum()) - tp
    tn = int(bg_hist.sum()) - fp
    return AprfCurve(thresholds, tp, fp, fn, tn)


def best_threshold(curve: AprfCurve, metric: str = "f1") -> float:
    """The threshold that maximises a metric of the curve.

    When several thresholds share the maximum, the middle of the longest run of
    consecutive maximal thresholds is returned (the first such run on a tie; the
    lower of the two middle ones for an even run), which stays clear of the edges of
    a plateau. NaN values are never chosen.

    Parameters
    ----------
    curve
        The curve from :func:`aprf_curve`.
    metric
        One of :data:`APRF_METRICS`.

    Returns
    -------
    float
    """
    values = curve.metric(metric)
    if np.isnan(values).all():
        raise ValueError(f"the {metric} curve is undefined (NaN) at every threshold: no pixels to judge by?")
    is_max = values == np.nanmax(values)
    best_start, best_len, start = 0, 0, None
    for i, flag in enumerate([*is_max.tolist(), False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            if i - start > best_len:
                best_start, best_len = start, i - start
            start = None
    return float(curve.thresholds[best_start + (best_len - 1) // 2])


def plot_aprf(
    curve: AprfCurve, path: str | Path, chosen_threshold: float | None = None, title: str = ""
) -> Path:
    """Plot the five curves against the threshold into a PNG file.

    Uses matplotlib's Agg canvas directly (no pyplot, no display, no global state).

    Parameters
    ----------
    curve
        The curve from :func:`aprf_curve`.
    path
        Output file; must end in ``.png``. Missing parent folders are created.
    chosen_threshold
        Marked with a dashed vertical line and a label with its value (and the
        metrics at the nearest curve threshold), if given.
    title
        Figure title.

    Returns
    -------
    Path
        The written file.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"plot_aprf writes PNG files; expected a path ending in .png, got {path}")
    fig = Figure(figsize=(8.0, 5.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    labels = {"accuracy": "accuracy", "precision": "precision", "recall": "recall", "f1": "F1", "f2": "F2"}
    for name in APRF_METRICS:
        ax.plot(curve.thresholds, curve.metric(name), label=labels[name], linewidth=1.6)
    if chosen_threshold is not None:
        nearest = int(np.argmin(np.abs(curve.thresholds - chosen_threshold)))
        f1 = curve.f1[nearest]
        label = f"chosen t = {chosen_threshold:.2f}" + ("" if np.isnan(f1) else f" (F1 = {f1:.3f})")
        ax.axvline(chosen_threshold, color="black", linestyle="--", linewidth=1.2, label=label)
        ax.annotate(
            label,
            xy=(chosen_threshold, 1.0),
            xytext=(4, -4),
            textcoords="offset points",
            rotation=90,
            va="top",
            fontsize=8,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.0},
        )
    ax.set_xlabel("threshold")
    ax.set_ylabel("score")
    ax.set_xlim(min(0.0, float(curve.thresholds[0])), max(1.0, float(curve.thresholds[-1])))
    ax.set_ylim(0.0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=8, ncol=6, frameon=False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
