"""Evaluation metrics (numpy only, no torch): confusion-matrix figures, boundary F1, threshold curves,
slag-thickness errors."""

from __future__ import annotations

from trainer.metrics.aprf import (
    APRF_METRICS,
    AprfCurve,
    aprf_curve,
    best_threshold,
    default_thresholds,
    plot_aprf,
)
from trainer.metrics.boundary import BoundaryAccumulator, BoundaryScore, boundary_f1, label_boundaries
from trainer.metrics.confusion import ConfusionMatrix
from trainer.metrics.thickness_error import thickness_error

__all__ = [
    "APRF_METRICS",
    "AprfCurve",
    "BoundaryAccumulator",
    "BoundaryScore",
    "ConfusionMatrix",
    "aprf_curve",
    "best_threshold",
    "boundary_f1",
    "default_thresholds",
    "label_boundaries",
    "plot_aprf",
    "thickness_error",
]
