"""The immersion tube's two side edges in a reference image: for the tube-diameter scale and the axis angle.

1. Coarse: ``cv2.Canny`` edges of the smoothed image and ``cv2.HoughLinesP`` segments; the
   longest segment within 40 degrees of vertical is one side, the longest roughly parallel one
   (within 10 degrees) with the opposite brightness step and at least 10 px away the other.
2. Fine: each image row is scanned horizontally near each coarse side for the strongest step of
   that side's polarity (Sobel ``x`` of the smoothed image), located to a fraction of a pixel by
   a parabola through the peak and its neighbours.
3. Each side is fitted as ``x = m * y + c`` by least squares, dropping rows more than
   ``max(0.5 px, 3 MAD)`` off the line (a notch, slag on the edge) for a few rounds.

The axis angle follows the calibration file: the direction down the tube is ``(sin a, cos a)``
in image ``(x, y)``; with ``x = m * y + c`` that is ``a = atan(m)``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

from calibration.errors import InputError
from calibration.geometry import Intrinsics, undistort

__all__ = ["SideEdge", "TubeSides", "find_tube_sides", "fit_side"]

log = logging.getLogger(__name__)

_MAX_TILT_DEG = 40.0
_MAX_SIDE_ANGLE_DEG = 10.0
_SEARCH_PX = 4
_FIT_ROUNDS = 4
_MIN_ROWS = 10


@dataclass(frozen=True)
class SideEdge:
    """One side edge: ``x = slope * y + intercept``, fitted through ``points`` (``(N, 2)`` x, y)."""

    slope: float
    intercept: float
    points: np.ndarray
    rms_px: float

    def x_at(self, y: np.ndarray | float) -> np.ndarray | float:
        """The edge's ``x`` at row(s) ``y``."""
        return self.slope * np.asarray(y, dtype=np.float64) + self.intercept

    @property
    def angle_deg(self) -> float:
        """The axis angle of this edge (``atan(slope)``, degrees)."""
        return math.degrees(math.atan(self.slope))


@dataclass(frozen=True)
class TubeSides:
    """The tube's left and right side edges (raw image coordinates)."""

    left: SideEdge
    right: SideEdge

    def undistorted(self, intrinsics: Intrinsics | None) -> TubeSides:
        """The same sides refitted through undistorted edge points (unchanged without intrinsics)."""
        if intrinsics is None:
            return self
        left = fit_side(undistort(self.left.points, intrinsics))
        right = fit_side(undistort(self.right.points, intrinsics))
        if left is None or right is None:  # pragma: no cover - the raw fits had enough points
            return self
        return TubeSides(left, right)

    @property
    def axis_angle_deg(self) -> float:
        """Mean angle of the two sides (degrees, 0 = vertical)."""
        return math.degrees(math.atan(0.5 * (self.left.slope + self.right.slope)))

    def width_px(self, y: float) -> float:
        """Distance between the two side lines perpendicular to the axis, around row ``y``.

        The mean of the distances from each line's point at row ``y`` to the other line (the
        sides converge slightly under perspective).
        """
        return 0.5 * (
            _distance_to(self.right, float(self.left.x_at(y)), y)
            + _distance_to(self.left, float(self.right.x_at(y)), y)
        )

    def point_widths_px(self) -> np.ndarray:
        """Every edge point's distance to the other side's line (px): how constant the width is."""
        return np.concatenate(
            [
                _distance_to(self.right, self.left.points[:, 0], self.left.points[:, 1]),
                _distance_to(self.left, self.right.points[:, 0], self.right.points[:, 1]),
            ]
        )


def _distance_to(side: SideEdge, x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray | float:
    """Distance of points ``(x, y)`` from the line ``x = slope * y + intercept``."""
    return np.abs(np.asarray(x) - side.slope * np.asarray(y) - side.intercept) / math.hypot(1.0, side.slope)


def fit_side(points: np.ndarray) -> SideEdge | None:
    """Robust least-squares line ``x = m * y + c`` through edge points ``(N, 2)``; ``None`` if too few."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    keep = np.ones(len(pts), dtype=bool)
    slope = intercept = 0.0
    for _ in range(_FIT_ROUNDS):
        if np.count_nonzero(keep) < _MIN_ROWS:
            return None
        slope, intercept = np.polyfit(pts[keep, 1], pts[keep, 0], 1)
        residual = pts[:, 0] - (slope * pts[:, 1] + intercept)
        mad = float(np.median(np.abs(residual[keep] - np.median(residual[keep]))))
        new_keep = np.abs(residual) <= max(0.5, 3.0 * 1.4826 * mad)
        if np.array_equal(new_keep, keep):
            break
        keep = new_keep
    residual = pts[keep, 0] - (slope * pts[keep, 1] + intercept)
    return SideEdge(float(slope), float(intercept), pts[keep], float(np.sqrt(np.mean(residual**2))))


def _segments(smooth: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    median = float(np.median(smooth))
    edges = cv2.Canny(smooth, int(max(10, 0.5 * median)), int(max(30, 1.2 * median)))
    if mask is not None:
        edges[mask == 0] = 0
    height = smooth.shape[0]
    lines = cv2.HoughLinesP(
        edges,
        1,
        np.pi / 360,
        threshold=max(20, height // 8),
        minLineLength=max(20, height // 5),
        maxLineGap=8,
    )
    return np.zeros((0, 4)) if lines is None else lines.reshape(-1, 4).astype(np.float64)


def _refine(
    gx: np.ndarray, slope: float, intercept: float, polarity: float, mask: np.ndarray | None
) -> np.ndarray:
    """Sub-pixel edge points along horizontal scans near the line ``x = slope * y + intercept``."""
    height, width = gx.shape
    points = []
    for y in range(height):
        x0 = slope * y + intercept
        lo, hi = math.floor(x0) - _SEARCH_PX, math.ceil(x0) + _SEARCH_PX
        if lo < 1 or hi > width - 2:
            continue
        if mask is not None and not np.all(mask[y, lo : hi + 1]):
            continue
        profile = polarity * gx[y, lo : hi + 1]
        i = int(np.argmax(profile))
        if i == 0 or i == len(profile) - 1 or profile[i] <= 0:
            continue
        a, b, c = profile[i - 1], profile[i], profile[i + 1]
        denominator = a - 2 * b + c
        offset = 0.5 * (a - c) / denominator if denominator < 0 else 0.0
        points.append((lo + i + offset, float(y)))
    return np.array(points, dtype=np.float64).reshape(-1, 2)


def find_tube_sides(gray: np.ndarray, mask: np.ndarray | None = None, source: str = "--image") -> TubeSides:
    """Find the tube's two side edges in a grey image.

    Parameters
    ----------
    gray
        ``uint8`` grey image with the tube roughly vertical (within 40 degrees).
    mask
        Optional ``uint8`` mask (non-zero = search here), e.g. the ROI.
    source
        What to call the image in errors.

    Returns
    -------
    TubeSides
        Left and right edges (raw image coordinates), left being the smaller ``x``.

    Raises
    ------
    InputError
        When two roughly parallel side edges of opposite brightness steps are not found.
    """
    smooth = cv2.GaussianBlur(gray, (0, 0), 1.5)
    gx = cv2.Sobel(smooth.astype(np.float32), cv2.CV_32F, 1, 0, ksize=3)
    segments = _segments(smooth, mask)
    candidates = []
    for segment in segments:
        x1, y1, x2, y2 = segment if segment[3] >= segment[1] else segment[[2, 3, 0, 1]]
        angle = math.degrees(math.atan2(x2 - x1, y2 - y1))
        if abs(angle) > _MAX_TILT_DEG or y2 == y1:
            continue
        ys = np.linspace(y1, y2, 20)
        xs = np.linspace(x1, x2, 20)
        polarity = float(np.sign(np.mean(gx[np.round(ys).astype(int), np.round(xs).astype(int)])))
        if polarity == 0:
            continue
        slope = (x2 - x1) / (y2 - y1)
        candidates.append((math.hypot(x2 - x1, y2 - y1), angle, polarity, slope, x1 - slope * y1))
    candidates.sort(key=lambda c: -c[0])
    hint = (
        "the tube's two side edges were not found; check that the tube is in view, roughly vertical and "
        "sharp, or give the side-edge points with --points"
    )
    if not candidates:
        raise InputError(source, hint)
    first = candidates[0]
    mid = gray.shape[0] / 2.0
    second = next(
        (
            c
            for c in candidates[1:]
            if c[2] == -first[2]
            and abs(c[1] - first[1]) <= _MAX_SIDE_ANGLE_DEG
            and abs((c[3] * mid + c[4]) - (first[3] * mid + first[4])) >= 10
        ),
        None,
    )
    if second is None:
        raise InputError(source, hint)
    sides = []
    for _, _, polarity, slope, intercept in (first, second):
        fitted = fit_side(_refine(gx, slope, intercept, polarity, mask))
        if fitted is None:
            raise InputError(source, hint)
        sides.append(fitted)
    left, right = sorted(sides, key=lambda s: float(s.x_at(mid)))
    log.info(
        "tube sides: left x=%.3fy+%.2f (%d rows, %.2f px rms), right x=%.3fy+%.2f (%d rows, %.2f px rms)",
        left.slope,
        left.intercept,
        len(left.points),
        left.rms_px,
        right.slope,
        right.intercept,
        len(right.points),
        right.rms_px,
    )
    return TubeSides(left, right)
