"""The per-scene truth rows of a synthetic dataset (``truth.csv``, written by ``steelsight-train synth``).

``truth.csv`` has the header ``stem,<truth fields>``, one row per scene, nested values as compact
JSON. :func:`truth_rows` reads it as text; :mod:`trainer.data.slag_truth` turns slag rows into
scenes that measure themselves and :mod:`trainer.data.truth_select` picks scenes by them.
"""

from __future__ import annotations

import csv
from pathlib import Path

from trainer.data.sample import DatasetError

__all__ = ["TRUTH_FILE", "truth_rows"]

TRUTH_FILE = "truth.csv"
"""The truth file's name inside a dataset folder."""


def truth_rows(root: Path | str) -> list[dict[str, str]] | None:
    """Read ``root/truth.csv`` into one ``{column: text}`` dict per scene, in file order.

    Parameters
    ----------
    root
        The dataset folder.

    Returns
    -------
    list of dict or None
        The rows (every dict has every column, ``stem`` among them); ``None`` when the folder has
        no ``truth.csv`` (a set that was not rendered, such as NEU-Seg).

    Raises
    ------
    DatasetError
        When the file's header has no ``stem`` column.
    """
    path = Path(root) / TRUTH_FILE
    if not path.is_file():
        return None
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "stem" not in reader.fieldnames:
            raise DatasetError(
                f"{path}: the header must name a 'stem' column and the truth columns; write the set "
                "again with steelsight-train synth"
            )
        return [row for row in reader if row.get("stem")]
