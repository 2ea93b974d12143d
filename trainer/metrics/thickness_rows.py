"""The per-scene slag thickness file (``thickness.csv``): one row per scene, as measured.

The rows come from :meth:`trainer.data.slag_truth.SlagScene.measure` (``stem``, ``true_mm``,
``measured_mm`` or ``None``, ``lines``, ``coverage``, ``quality``, ``quality_reason``).
``steelsight-train eval`` writes them next to its report and ``benchmarks/bundle_thickness.py
--rows`` for the camera's path; ``benchmarks/thickness_by_truth.py`` reads them back for
:func:`trainer.metrics.thickness_error`.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trainer.data.sample import DatasetError

__all__ = ["THICKNESS_FILE", "read_thickness_rows", "relative_error_sum", "write_thickness_rows"]

THICKNESS_FILE = "thickness.csv"
"""The file's name inside an evaluation report folder."""


def write_thickness_rows(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Write measured rows to ``path`` (header from the first row; an unmeasured scene's value empty)."""
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def read_thickness_rows(path: Path) -> list[dict[str, Any]]:
    """Read a thickness file (or a report folder holding one) into rows for ``thickness_error``.

    Returns
    -------
    list of dict
        ``stem``, ``true_mm`` (float), ``measured_mm`` (float or ``None``) and ``quality`` per scene.

    Raises
    ------
    DatasetError
        When the file is missing or a row lacks a column or a number, naming the file and line.
    """
    path = Path(path)
    csv_path = path / THICKNESS_FILE if path.is_dir() else path
    if not csv_path.is_file():
        raise DatasetError(
            f"{csv_path}: no {THICKNESS_FILE}; give a report folder of 'steelsight-train eval' on a "
            "synthetic slag set"
        )
    rows = []
    with csv_path.open(newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):  # line 1 is the header
            try:
                measured = row["measured_mm"].strip()
                rows.append(
                    {
                        "stem": row["stem"],
                        "true_mm": float(row["true_mm"]),
                        "measured_mm": float(measured) if measured else None,
                        "quality": row["quality"],
                    }
                )
            except (AttributeError, KeyError, ValueError) as error:  # a short row has None cells
                raise DatasetError(
                    f"{csv_path} line {number}: not a thickness row ({error!r}); write the report "
                    "again with steelsight-train eval"
                ) from error
    return rows


def relative_error_sum(rows: Sequence[dict[str, Any]]) -> float:
    """Sum of ``|measured - true| / true`` over the measured rows (a fraction per scene, not %).

    Divided by the number of measured rows and times 100, it is ``mae_percent`` of
    :func:`trainer.metrics.thickness_error`; as a sum it adds up across groups and processes.
    """
    return sum(
        abs(r["measured_mm"] - r["true_mm"]) / r["true_mm"] for r in rows if r["measured_mm"] is not None
    )
