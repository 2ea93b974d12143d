"""Summary of slag-thickness errors over a set of scenes (measured against the scenes' truth).

One row per scene: ``true_mm``, ``measured_mm`` (``None`` when the measurement found no band) and
``quality`` (``"GOOD"``, ``"UNCERTAIN"`` or ``"BAD"``). The relative error of a scene is
``|measured - true| / true``. Two ways to state the error in percent are reported, because they
answer different questions:

- ``mae_percent``: the mean of the per-scene relative errors. Every scene counts alike, so one
  thin band measured several times too thick can dominate it.
- ``mae_percent_of_mean_true``: the MAE in mm divided by the mean true thickness (the error in mm
  a plant engineer sees, relative to a typical band).

The same figures over the scenes rated GOOD (the ones a camera publishes without a warning) come
under ``good``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edge.measure.quality import QualityCode

__all__ = ["thickness_error"]

QUALITY_CODES = tuple(code.value for code in QualityCode)


FIGURES = (
    "mae_mm",
    "mae_percent",
    "median_percent",
    "mae_percent_of_mean_true",
    "bias_mm",
    "max_abs_error_mm",
    "p95_abs_error_mm",
    "p95_percent",
)
"""The error figures, in the order :func:`_errors` computes them."""


def _errors(rows: list[dict[str, Any]]) -> dict[str, float]:
    if not rows:
        return dict.fromkeys(FIGURES, math.nan)
    true = np.array([float(r["true_mm"]) for r in rows])
    error = np.array([float(r["measured_mm"]) for r in rows]) - true
    absolute = np.abs(error)
    relative = absolute / true
    values = (
        absolute.mean(),
        100 * relative.mean(),
        100 * np.median(relative),
        100 * absolute.mean() / true.mean(),
        error.mean(),
        absolute.max(),
        np.percentile(absolute, 95),
        100 * np.percentile(relative, 95),
    )
    return {name: float(value) for name, value in zip(FIGURES, values, strict=True)}


def thickness_error(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Summarise per-scene slag-thickness measurements against their truth.

    Parameters
    ----------
    rows
        One mapping per scene with ``true_mm`` (> 0), ``measured_mm`` (``None`` when not
        measured) and ``quality``.

    Returns
    -------
    dict
        ``scenes``, ``measured``, the error figures over the measured scenes (``mae_mm``,
        ``mae_percent``, ``median_percent``, ``mae_percent_of_mean_true``, ``bias_mm``,
        ``max_abs_error_mm``, ``p95_abs_error_mm``, ``p95_percent``; NaN when none was measured),
        ``quality`` (count per code) and ``good`` (``scenes`` and the same error figures over
        the measured GOOD scenes).

    Raises
    ------
    ValueError
        For a row without a positive finite ``true_mm``, with a non-finite ``measured_mm``, or
        with an unknown quality code, naming the row.
    """
    for index, row in enumerate(rows):
        true = row.get("true_mm")
        if not isinstance(true, (int, float)) or not math.isfinite(true) or true <= 0:
            raise ValueError(f"row {index}: true_mm must be a finite number > 0, got {true!r}")
        measured = row.get("measured_mm")
        if measured is not None and not (isinstance(measured, (int, float)) and math.isfinite(measured)):
            raise ValueError(f"row {index}: measured_mm must be a finite number or None, got {measured!r}")
        if row.get("quality") not in QUALITY_CODES:
            quality = row.get("quality")
            raise ValueError(f"row {index}: quality must be one of {QUALITY_CODES}, got {quality!r}")
    measured = [r for r in rows if r["measured_mm"] is not None]
    good = [r for r in measured if r["quality"] == "GOOD"]
    return {
        "scenes": len(rows),
        "measured": len(measured),
        **_errors(measured),
        "quality": {code: sum(r["quality"] == code for r in rows) for code in QUALITY_CODES},
        "good": {"scenes": len(good), **_errors(good)},
    }
