"""The tube (snorkel) axis in the image, estimated from the tube and slag pixels of a class mask.

A furnace camera sees the tube as a straight band between two parallel side edges, usually cut by
the top of the frame and ending in the bath at the bottom, so the visible part can be wider than
long and its second moments point the wrong way. The estimate therefore fits the two *side edges*:

1. The largest connected region of tube and slag pixels (classes 1 and 2) is found with
   ``cv2.findContours``; only its outer contour is used, so the cost does not grow with the area.
2. Each image row (a *row scan*) gives the leftmost and the rightmost pixel of the region; the
   edge lies half a pixel outside them. Rows whose extreme pixel sits on the image border or next
   to a not-measured pixel (255) are where the tube is cut by the frame or the region of
   interest: they are left out of the fit and counted.
3. Each side is fitted by least squares as ``x = m * y + c``, starting from the central half of
   the rows and iterating with a residual threshold (``max(1 px, 4 MAD)``), which drops the rows
   where the bath line, the top of the tube or a notch forms the extreme.
4. The same is done on columns (``y = m * x + c``) for tubes nearer to horizontal. The scan
   whose two sides are both found, run nearly parallel (within ``max_side_angle_deg``) and carry
   the most points wins; if no scan has two sides, the best single side gives the angle (and the
   width is unknown).

The axis angle follows :mod:`edge.measure.slag_thickness`: the direction down the tube is
``(sin a, cos a)`` in image ``(x, y)``, reported in ``(-90, 90]``. Under perspective the two
sides converge slightly; the angle is the mean of the two side directions.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

__all__ = ["AxisEstimate", "SideLine", "estimate_tube_axis"]

log = logging.getLogger(__name__)

_TUBE, _SLAG, _IGNORE = 1, 2, 255
_FIT_ROUNDS = 8
_MIN_THRESHOLD_PX = 1.0
_MAX_THRESHOLD_PX = 3.0


@dataclass(frozen=True)
class SideLine:
    """A fitted side edge of the tube.

    Attributes
    ----------
    point
        Image ``(x, y)`` of a point on the edge.
    direction
        Unit ``(dx, dy)`` along the edge, pointing down the tube (``dy >= 0``).
    points
        Number of edge points (rows or columns) the fit kept.
    rms_px
        Root-mean-square distance of those points from the line, in pixels.
    """

    point: tuple[float, float]
    direction: tuple[float, float]
    points: int
    rms_px: float


@dataclass(frozen=True, eq=False)
class AxisEstimate:
    """The tube axis estimated from a class mask.

    Attributes
    ----------
    angle_deg
        Axis angle ``a`` in ``(-90, 90]``: the direction down the tube is ``(sin a, cos a)``.
    width_px
        Tube width perpendicular to the axis through the region's centroid, in pixels (NaN when
        only one side was found).
    cut_by_edge
        ``True`` when a side edge of the tube lies on the image border (the tube is wider than
        the view) or a side was not found.
    cut_sides
        Which sides are cut: ``"left"`` / ``"right"`` (row scan) or ``"top"`` / ``"bottom"``
        (column scan).
    sides
        The fitted side lines (two, or one when the other is cut or missing).
    scan
        ``"rows"`` or ``"columns"``: which scan found the sides.
    centroid
        Image ``(x, y)`` of the region's centroid.
    area_px
        Area of the region in pixels (of its outer contour).
    contour
        ``(N, 1, 2)`` ``int32`` outer contour of the region (OpenCV layout).
    components
        Number of separate tube/slag regions in the mask.
    """

    angle_deg: float
    width_px: float
    cut_by_edge: bool
    cut_sides: tuple[str, ...]
    sides: tuple[SideLine, ...]
    scan: str
    centroid: tuple[float, float]
    area_px: float
    contour: np.ndarray
    components: int

    def across(self) -> np.ndarray:
        """Unit vector ``(cos a, -sin a)`` across the tube."""
        angle = math.radians(self.angle_deg)
        return np.array([math.cos(angle), -math.sin(angle)])

    def side_points_at(self, x: float, y: float) -> np.ndarray | None:
        """Where the line across the tube through image point ``(x, y)`` meets the two sides.

        Returns
        -------
        numpy.ndarray or None
            ``(2, 2)`` image points on the two side edges, or ``None`` with fewer than two sides.
        """
        if len(self.sides) < 2:
            return None
        origin = np.array([x, y], np.float64)
        normal = self.across()
        hits = []
        for side in self.sides:
            direction = np.array(side.direction)
            system = np.column_stack([normal, -direction])
            lam, _ = np.linalg.solve(system, np.array(side.point) - origin)
            hits.append(origin + lam * normal)
        return np.array(hits)

    def width_at(self, x: float, y: float) -> float:
        """Tube width in pixels across the axis through image point ``(x, y)`` (NaN with one side)."""
        points = self.side_points_at(x, y)
        return float("nan") if points is None else float(np.hypot(*(points[1] - points[0])))


@dataclass(frozen=True)
class _Fit:
    """One side fitted as ``edge = slope * scan + intercept`` (internal)."""

    slope: float
    intercept: float
    points: int
    rms: float


@dataclass(frozen=True)
class _ScanResult:
    """Both sides of one scan (internal)."""

    scan: str
    fits: tuple[_Fit | None, _Fit | None]
    cut: tuple[bool, bool]


def _robust_start(sides: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, list[float]] | None:
    """A common slope and per-side intercepts that ignore gross outliers.

    The slope is the median of the slopes between points a quarter of each side's length apart,
    pooled over the sides (the tube's sides are parallel up to perspective, so a side whose end is
    spoilt by the bath line is held by the other); each intercept is the median offset.
    """
    slopes = []
    for scan, edge in sides:
        lag = max(1, scan.size // 4)
        run = scan[lag:] - scan[:-lag]
        valid = run > 0
        slopes.append((edge[lag:] - edge[:-lag])[valid] / run[valid])
    pooled = np.concatenate(slopes)
    if pooled.size == 0:
        return None
    slope = float(np.median(pooled))
    return slope, [float(np.median(edge - slope * scan)) for scan, edge in sides]


def _fit_side(scan: np.ndarray, edge: np.ndarray, start: tuple[float, float], min_points: int) -> _Fit | None:
    """Straight-line fit ``edge = m * scan + c`` by least squares with residual trimming.

    Starts from the line ``start``; each round keeps the points within ``3 * 1.48 MAD`` (clipped
    to 1..3 px) of the current line and refits them.
    """
    slope, intercept = start
    keep: np.ndarray | None = None
    for _ in range(_FIT_ROUNDS):
        residual = np.abs(edge - (slope * scan + intercept))
        reference = residual if keep is None else residual[keep]
        threshold = min(_MAX_THRESHOLD_PX, max(_MIN_THRESHOLD_PX, 3.0 * 1.4826 * float(np.median(reference))))
        new_keep = residual <= threshold
        if keep is not None and np.array_equal(new_keep, keep):
            break
        keep = new_keep
        if int(keep.sum()) < max(2, min_points):
            return None
        x, y = scan[keep], edge[keep]
        spread = float(((x - x.mean()) ** 2).sum())
        if spread <= 0.0:
            return None
        slope = float(((x - x.mean()) * (y - y.mean())).sum() / spread)
        intercept = float(y.mean() - slope * x.mean())
    assert keep is not None
    x, y = scan[keep], edge[keep]
    rms = float(np.sqrt(np.mean((y - (slope * x + intercept)) ** 2)))
    return _Fit(slope, intercept, int(keep.sum()), rms)


def _scan(
    points: np.ndarray, classes: np.ndarray, rows_scan: bool, min_points: int, min_cut: float
) -> _ScanResult:
    """Fit the two sides of a region from its contour ``points`` (scan coordinate, edge coordinate).

    ``rows_scan``: the scan coordinate is the row ``y`` (edges along ``x``), else the column.
    An extreme pixel on the image border or next to a not-measured (255) pixel is where the tube
    is cut, not one of its sides. Both sides start from a common robust slope
    (:func:`_robust_start`).
    """
    order = np.lexsort((points[:, 1], points[:, 0]))
    scan_sorted, edge_sorted = points[order, 0], points[order, 1]
    heads = np.flatnonzero(np.append(True, scan_sorted[1:] != scan_sorted[:-1]))
    tails = np.append(heads[1:] - 1, scan_sorted.size - 1)
    scan_index = scan_sorted[heads]
    scan_values = scan_index.astype(np.float64)
    low, high = edge_sorted[heads], edge_sorted[tails]
    lines = scan_values.size
    size = classes.shape[1] if rows_scan else classes.shape[0]
    cuts = []
    for edge, step in ((low, -1), (high, 1)):
        beyond = edge + step
        outside = (beyond < 0) | (beyond >= size)
        clipped = np.clip(beyond, 0, size - 1)
        neighbour = classes[scan_index, clipped] if rows_scan else classes[clipped, scan_index]
        cuts.append(outside | (neighbour == _IGNORE))
    cut_low, cut_high = cuts
    sides = [
        (scan_values[~cut_low], low[~cut_low] - 0.5),
        (scan_values[~cut_high], high[~cut_high] + 0.5),
    ]
    usable = [index for index, (scan, _) in enumerate(sides) if scan.size >= max(2, min_points)]
    fits: list[_Fit | None] = [None, None]
    start = _robust_start([sides[index] for index in usable]) if usable else None
    if start is not None:
        slope, intercepts = start
        for index, intercept in zip(usable, intercepts, strict=True):
            fits[index] = _fit_side(*sides[index], (slope, intercept), min_points)
    needed = max(2.0, min_cut * lines)
    return _ScanResult(
        "rows" if rows_scan else "columns",
        (fits[0], fits[1]),
        (bool(cut_low.sum() >= needed), bool(cut_high.sum() >= needed)),
    )


def _direction(fit: _Fit, scan: str) -> np.ndarray:
    """Unit direction down the tube (``dy >= 0``) of a fitted side, in image ``(dx, dy)``."""
    vector = np.array([fit.slope, 1.0]) if scan == "rows" else np.array([1.0, fit.slope])
    if vector[1] < 0 or (vector[1] == 0 and vector[0] < 0):
        vector = -vector
    return vector / np.hypot(*vector)


def _side_line(fit: _Fit, scan: str) -> SideLine:
    """A fitted side as a :class:`SideLine`."""
    point = (fit.intercept, 0.0) if scan == "rows" else (0.0, fit.intercept)
    direction = _direction(fit, scan)
    return SideLine(point, (float(direction[0]), float(direction[1])), fit.points, fit.rms)


def _angle_deg(direction: np.ndarray) -> float:
    """Axis angle in ``(-90, 90]`` of a direction ``(dx, dy)``."""
    angle = math.degrees(math.atan2(direction[0], direction[1]))
    if angle <= -90.0:
        angle += 180.0
    elif angle > 90.0:
        angle -= 180.0
    return angle


def _angle_difference(a: float, b: float) -> float:
    """Smallest difference between two axis angles (modulo 180 degrees), in degrees."""
    return abs((a - b + 90.0) % 180.0 - 90.0)


def estimate_tube_axis(
    classes: np.ndarray,
    *,
    min_area_px: int = 200,
    min_side_px: int = 10,
    max_side_angle_deg: float = 8.0,
    min_cut_fraction: float = 0.02,
    prior_angle_deg: float | None = None,
) -> AxisEstimate | None:
    """Estimate the tube axis from the tube and slag pixels of a class mask.

    Parameters
    ----------
    classes
        2-D integer class ids (1 tube, 2 slag; everything else is neither).
    min_area_px
        Smallest region (tube and slag) in pixels that counts as a tube.
    min_side_px
        Fewest edge points a side fit must keep.
    max_side_angle_deg
        Largest angle between the two fitted sides for them to count as the tube's sides.
    min_cut_fraction
        A side counts as cut by the image border when at least this fraction of its rows
        (or columns), and at least two, have their extreme pixel on the border.
    prior_angle_deg
        Expected axis angle (e.g. the calibrated one). When no scan finds both sides, the single
        side closest to it is taken as a tube side (the other single edges are the bath line or
        the tube's end); ``None`` means a vertical tube (0), the furnace camera's usual view.

    Returns
    -------
    AxisEstimate or None
        The estimate, or ``None`` when there is no region of at least ``min_area_px`` pixels or
        no side edge could be fitted.

    Raises
    ------
    ValueError
        If ``classes`` is not a non-empty 2-D integer array.
    """
    classes = np.asarray(classes)
    if classes.ndim != 2 or classes.size == 0 or not np.issubdtype(classes.dtype, np.integer):
        raise ValueError(
            f"classes must be a non-empty 2-D integer array of class ids, got {classes.dtype} {classes.shape}"
        )
    foreground = ((classes == _TUBE) | (classes == _SLAG)).view(np.uint8)
    contours, _ = cv2.findContours(foreground, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    areas = [cv2.contourArea(contour) + len(contour) / 2.0 + 1.0 for contour in contours]
    best = int(np.argmax(areas))
    contour, area = contours[best], areas[best]
    if area < min_area_px:
        return None
    points = contour.reshape(-1, 2)
    results = (
        _scan(points[:, ::-1], classes, True, min_side_px, min_cut_fraction),  # scan y, edge x
        _scan(points, classes, False, min_side_px, min_cut_fraction),  # scan x, edge y
    )

    def parallel(result: _ScanResult) -> bool:
        first, second = result.fits
        if first is None or second is None:
            return False
        angle = math.degrees(
            math.acos(min(1.0, abs(float(_direction(first, result.scan) @ _direction(second, result.scan)))))
        )
        return angle <= max_side_angle_deg

    two_sided = [result for result in results if parallel(result)]
    if two_sided:
        chosen = max(two_sided, key=lambda result: min(fit.points for fit in result.fits if fit))
        fits = [fit for fit in chosen.fits if fit is not None]
    else:
        singles = [(result, fit) for result in results for fit in result.fits if fit is not None]
        if not singles:
            log.debug("tube axis: no side edge found in a region of %.0f px", area)
            return None
        prior = 0.0 if prior_angle_deg is None else prior_angle_deg
        chosen, fit = min(
            singles,
            key=lambda pair: _angle_difference(_angle_deg(_direction(pair[1], pair[0].scan)), prior),
        )
        fits = [fit]
    mean = np.sum([_direction(fit, chosen.scan) for fit in fits], axis=0)
    angle = _angle_deg(mean / np.hypot(*mean))
    names = ("left", "right") if chosen.scan == "rows" else ("top", "bottom")
    cut_sides = tuple(
        name for name, cut, fit in zip(names, chosen.cut, chosen.fits, strict=True) if cut or fit is None
    )
    moments = cv2.moments(contour)
    if moments["m00"] > 0:
        centroid = (moments["m10"] / moments["m00"], moments["m01"] / moments["m00"])
    else:
        centroid = (float(points[:, 0].mean()), float(points[:, 1].mean()))
    estimate = AxisEstimate(
        angle_deg=float(angle),
        width_px=float("nan"),
        cut_by_edge=bool(cut_sides),
        cut_sides=cut_sides,
        sides=tuple(_side_line(fit, chosen.scan) for fit in fits),
        scan=chosen.scan,
        centroid=(float(centroid[0]), float(centroid[1])),
        area_px=float(area),
        contour=contour,
        components=len(contours),
    )
    return replace(estimate, width_px=estimate.width_at(*estimate.centroid))
