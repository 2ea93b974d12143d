"""Per-scene slag truth of a synthetic dataset (``truth.csv`` written by ``steelsight-train synth``).

Read by the evaluation (thickness error from predicted masks) and by
``benchmarks/bundle_thickness.py`` (the same through the camera's mask path). Both measure a
class map with :meth:`SlagScene.measure`, so they use the same scale and give rows of the same
form to :func:`trainer.metrics.thickness_error`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.measure import measure_slag
from trainer.data.sample import DatasetError
from trainer.data.truth_rows import TRUTH_FILE, truth_rows

__all__ = ["SlagScene", "slag_truth"]


@dataclass(frozen=True)
class SlagScene:
    """What a synthetic slag scene records about itself: its true thickness and its exact scale.

    Attributes
    ----------
    name
        The scene's file stem.
    thickness_mm
        The true slag band thickness.
    homography
        3x3 image-to-tube-plane homography (mm), what a calibrated camera knows.
    axis_angle_deg, tube_diameter_mm
        The tube axis in the image and the tube's diameter.
    image_size
        ``(height, width)`` of the scene's image, the size the homography is for.
    """

    name: str
    thickness_mm: float
    homography: np.ndarray
    axis_angle_deg: float
    tube_diameter_mm: float
    image_size: tuple[int, int]

    def measure(self, classes: np.ndarray) -> dict[str, Any]:
        """Measure a predicted class map of this scene with :func:`edge.measure.measure_slag`.

        Returns
        -------
        dict
            The scene's row: ``stem``, ``true_mm``, ``measured_mm`` (``None`` when nothing was
            measured), ``lines``, ``coverage``, ``quality`` and ``quality_reason``.

        Raises
        ------
        ValueError
            When the class map is not the scene's own image size (the homography would give a
            wrong thickness).
        """
        if classes.shape[:2] != self.image_size:
            height, width = self.image_size
            raise ValueError(
                f"scene {self.name}: the class map is {classes.shape[0]}x{classes.shape[1]} but the scene's "
                f"truth is for {height}x{width} (HxW) images; measure at the size synth wrote the image"
            )
        measured = measure_slag(
            classes,
            homography=self.homography,
            axis_angle_deg=self.axis_angle_deg,
            tube_diameter_mm=self.tube_diameter_mm,
        )
        return {
            "stem": self.name,
            "true_mm": self.thickness_mm,
            "measured_mm": None if math.isnan(measured.thickness_mm) else measured.thickness_mm,
            "lines": measured.lines,
            "coverage": measured.coverage,
            "quality": str(measured.quality.code),
            "quality_reason": measured.quality.reason,
        }


def slag_truth(root: Path | str) -> dict[str, SlagScene]:
    """Per-scene slag truth of the dataset at ``root``, by file stem.

    Parameters
    ----------
    root
        The dataset folder; its ``truth.csv`` is read when it holds slag thickness.

    Returns
    -------
    dict
        ``{stem: SlagScene}``; empty when the folder has no ``truth.csv`` or its truth is not a
        slag scene's (a weld set, for example).

    Raises
    ------
    DatasetError
        For a row with a missing column or a value that does not parse, naming the file and line.
    """
    path = Path(root) / TRUTH_FILE
    rows = truth_rows(root)
    if not rows or "thickness_mm" not in rows[0]:
        return {}
    scenes = {}
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        try:
            scene = SlagScene(
                name=row["stem"],
                thickness_mm=float(row["thickness_mm"]),
                homography=np.asarray(json.loads(row["homography_image_to_plane"]), np.float64).reshape(3, 3),
                axis_angle_deg=float(row["axis_angle_deg"]),
                tube_diameter_mm=float(row["tube_diameter_mm"]),
                image_size=tuple(int(v) for v in json.loads(row["image_size"])),
            )
        except (KeyError, TypeError, ValueError) as error:  # JSONDecodeError is a ValueError
            problem = f"no column {error}" if isinstance(error, KeyError) else str(error)
            raise DatasetError(
                f"{path} line {number}: not a slag scene's truth ({problem}); write the set again with "
                "steelsight-train synth --task slag"
            ) from error
        scenes[scene.name] = scene
    return scenes
