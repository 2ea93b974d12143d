"""The ROI step: the region of interest polygon and the measurement axis angle.

From points the technician gives (``--points "x,y;..."`` and ``--axis-deg``), or estimated from a
reference image of the tube: the axis from the tube's side edges (:mod:`calibration.tube_edges`),
and, when no points are given, the ROI as the band between the side edges widened by
``margin`` of the tube's width on each side, over the rows where the tube was seen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from calibration.errors import InputError
from calibration.geometry import Intrinsics
from calibration.polygon import polygon_area, self_intersection
from calibration.tube_edges import TubeSides, find_tube_sides

__all__ = ["RoiResult", "check_axis", "check_roi", "roi_from_image"]

DEFAULT_MARGIN = 0.25
"""How far beyond each side edge the estimated ROI reaches, as a fraction of the tube's width."""


@dataclass(frozen=True)
class RoiResult:
    """An ROI and axis angle, with the tube sides they came from (if estimated)."""

    roi: tuple[tuple[float, float], ...] | None
    axis_angle_deg: float | None
    sides: TubeSides | None = None


def check_roi(
    points: Sequence[tuple[float, float]], image_size: tuple[int, int], arg: str = "--points"
) -> None:
    """Refuse an ROI the calibration file would refuse, naming the point and the fix.

    Raises
    ------
    InputError
        When fewer than 3 points, a point outside the image, a self-crossing or zero-area polygon.
    """
    height, width = image_size
    if len(points) < 3:
        raise InputError(arg, f"an ROI needs at least 3 points x,y (a polygon), got {len(points)}")
    for i, (x, y) in enumerate(points):
        if not (0 <= x <= width - 1 and 0 <= y <= height - 1):
            raise InputError(
                arg,
                f"point {i + 1} ({x:g},{y:g}) lies outside the {height}x{width} (HxW) image: x must be "
                f"0..{width - 1} and y 0..{height - 1}",
            )
    pts = np.asarray(points, dtype=np.float64)
    spread = np.linalg.svd(pts - pts.mean(axis=0), compute_uv=False)
    if spread[0] == 0 or spread[-1] < 1e-6 * spread[0]:
        raise InputError(
            arg, "the points are collinear (the polygon has no area); give the corners of a region"
        )
    problem = self_intersection(points)
    if problem is not None:
        raise InputError(
            arg, f"the polygon crosses itself ({problem}); give the points in order around the region"
        )
    if polygon_area(points) < 1.0:
        raise InputError(
            arg, "the points are collinear (the polygon has no area); give the corners of a region"
        )


def check_axis(angle: float, arg: str = "--axis-deg") -> float:
    """The axis angle if it is a finite number of degrees in ``-90..90``.

    Raises
    ------
    InputError
        Otherwise, with the convention.
    """
    if not (math.isfinite(angle) and -90.0 <= angle <= 90.0):
        raise InputError(
            arg,
            "must be -90..90 degrees (0 = straight down the image, positive = leaning to the right), got "
            f"{angle}",
        )
    return float(angle)


def roi_from_image(
    gray: np.ndarray,
    intrinsics: Intrinsics | None,
    margin: float = DEFAULT_MARGIN,
    mask: np.ndarray | None = None,
    image_name: str = "--image",
) -> RoiResult:
    """Estimate the axis angle and an ROI around the tube from a reference image.

    Raises
    ------
    InputError
        When the tube's side edges are not found.
    """
    raw = find_tube_sides(gray, mask, image_name)
    sides = raw.undistorted(intrinsics)
    width = gray.shape[1]
    rows = np.concatenate([raw.left.points[:, 1], raw.right.points[:, 1]])
    top, bottom = float(rows.min()), float(rows.max())
    tube_width = abs(float(raw.right.x_at((top + bottom) / 2) - raw.left.x_at((top + bottom) / 2)))
    pad = margin * tube_width

    def clip_x(x: float) -> float:
        return float(min(max(x, 0.0), width - 1.0))

    roi = (
        (clip_x(float(raw.left.x_at(top)) - pad), top),
        (clip_x(float(raw.right.x_at(top)) + pad), top),
        (clip_x(float(raw.right.x_at(bottom)) + pad), bottom),
        (clip_x(float(raw.left.x_at(bottom)) - pad), bottom),
    )
    roi = tuple((round(x, 1), round(y, 1)) for x, y in roi)
    if polygon_area(roi) < 1.0 or self_intersection(roi) is not None:  # pragma: no cover - degenerate image
        raise InputError(image_name, "the tube seen is too short for an ROI; give the ROI with --points")
    return RoiResult(roi, round(sides.axis_angle_deg, 3), raw)
