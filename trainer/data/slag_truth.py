"""Per-scene slag truth of a synthetic dataset (``truth.csv`` written by ``steelsight-train synth``).

Read by the evaluation (thickness error from predicted masks) and by
``benchmarks/bundle_thickness.py`` (the same through the camera's mask path), so both measure
against the same numbers with the same scale.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

__all__ = ["slag_truth"]


def slag_truth(root: Path | str) -> dict[str, dict[str, Any]]:
    """Per-scene slag truth of the dataset at ``root``, by file stem.

    Parameters
    ----------
    root
        The dataset folder; its ``truth.csv`` is read when it holds slag thickness.

    Returns
    -------
    dict
        ``{stem: {"thickness_mm", "axis_angle_deg", "homography", "tube_diameter_mm"}}`` with the
        homography as a nested 3x3 list (image to tube plane, mm); empty when the folder has no
        ``truth.csv`` or its truth is not a slag scene's (a weld set, for example).
    """
    path = Path(root) / "truth.csv"
    if not path.is_file():
        return {}
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "thickness_mm" not in rows[0]:
        return {}
    return {
        row["stem"]: {
            "thickness_mm": float(row["thickness_mm"]),
            "axis_angle_deg": float(row["axis_angle_deg"]),
            "homography": json.loads(row["homography_image_to_plane"]),
            "tube_diameter_mm": float(row["tube_diameter_mm"]),
        }
        for row in rows
    }
