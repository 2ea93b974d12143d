"""Simple-polygon geometry of a region of interest: area, self-intersection, bounds and mask.

Points are image ``(x, y)`` with pixel centres at integer coordinates (OpenCV). Pure numpy
except :func:`polygon_mask`, which rasterizes with OpenCV.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

__all__ = ["polygon_area", "polygon_bounds", "polygon_mask", "self_intersection"]

_MASK_SHIFT = 4
"""Fractional bits used to rasterize sub-pixel vertices with ``cv2.fillPoly``."""

Point = Sequence[float]


def polygon_area(points: Sequence[Point]) -> float:
    """The unsigned area (shoelace formula) of a closed polygon, in square pixels."""
    pts = np.asarray(points, dtype=np.float64)
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _orient(a: Point, b: Point, c: Point) -> float:
    """Twice the signed area of triangle ``abc``: > 0 counter-clockwise (in x-right, y-up axes)."""
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _on_segment(a: Point, b: Point, p: Point) -> bool:
    """``p`` (collinear with ``ab``) lies within the bounding box of segment ``ab``."""
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def _segments_touch(a: Point, b: Point, c: Point, d: Point) -> bool:
    """Closed segments ``ab`` and ``cd`` share at least one point."""
    o1, o2, o3, o4 = _orient(a, b, c), _orient(a, b, d), _orient(c, d, a), _orient(c, d, b)
    if ((o1 > 0 > o2) or (o1 < 0 < o2)) and ((o3 > 0 > o4) or (o3 < 0 < o4)):
        return True
    return (
        (o1 == 0 and _on_segment(a, b, c))
        or (o2 == 0 and _on_segment(a, b, d))
        or (o3 == 0 and _on_segment(c, d, a))
        or (o4 == 0 and _on_segment(c, d, b))
    )


def self_intersection(points: Sequence[Point]) -> str | None:
    """Why the closed polygon is not simple, or ``None`` when it is.

    Checks for repeated consecutive points, edges that fold back onto the previous edge and
    any two non-adjacent edges that cross or touch. ``O(n^2)`` in the number of points, which
    is fine for hand-drawn regions.

    Returns
    -------
    str | None
        E.g. ``"edge 0 (point 0 -> 1) crosses edge 2 (point 2 -> 3)"``.
    """
    n = len(points)
    for i in range(n):
        a, b = points[i], points[(i + 1) % n]
        if a[0] == b[0] and a[1] == b[1]:
            return f"points {i} and {(i + 1) % n} are the same point"
    for i in range(n):
        a, b, c = points[i], points[(i + 1) % n], points[(i + 2) % n]
        # Adjacent edges meet at b; they overlap only when c turns straight back along a-b.
        if _orient(a, b, c) == 0 and (a[0] - b[0]) * (c[0] - b[0]) + (a[1] - b[1]) * (c[1] - b[1]) > 0:
            return f"the edge after point {(i + 1) % n} folds back along the edge before it"
    for i in range(n):
        a, b = points[i], points[(i + 1) % n]
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # adjacent through the closing edge
            c, d = points[j], points[(j + 1) % n]
            if _segments_touch(a, b, c, d):
                return (
                    f"edge {i} (point {i} -> {(i + 1) % n}) crosses or touches "
                    f"edge {j} (point {j} -> {(j + 1) % n})"
                )
    return None


def polygon_bounds(points: Sequence[Point], height: int, width: int) -> tuple[int, int, int, int]:
    """Integer bounding box ``(x, y, w, h)`` of the pixels the polygon touches, clipped to the image.

    ``x, y`` is the top-left pixel and ``w, h`` count pixels, so a polygon through the four
    corner pixel centres of the image gives ``(0, 0, width, height)``.
    """
    pts = np.asarray(points, dtype=np.float64)
    x0 = min(max(math.floor(float(pts[:, 0].min())), 0), width - 1)
    y0 = min(max(math.floor(float(pts[:, 1].min())), 0), height - 1)
    x1 = min(max(math.ceil(float(pts[:, 0].max())), 0), width - 1)
    y1 = min(max(math.ceil(float(pts[:, 1].max())), 0), height - 1)
    return x0, y0, x1 - x0 + 1, y1 - y0 + 1


def polygon_mask(points: Sequence[Point], height: int, width: int) -> np.ndarray:
    """A ``uint8`` ``height x width`` mask: 255 on the polygon (its border pixels included), 0 elsewhere."""
    mask = np.zeros((height, width), dtype=np.uint8)
    fixed = np.round(np.asarray(points, dtype=np.float64) * (1 << _MASK_SHIFT)).astype(np.int32)
    cv2.fillPoly(mask, [fixed.reshape(-1, 1, 2)], 255, lineType=cv2.LINE_8, shift=_MASK_SHIFT)
    return mask
