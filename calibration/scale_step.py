"""The scale step: pixels to millimetres on the measurement plane, by one of three methods.

- **board**: a checkerboard (or ChArUco board) of known square size lies on the measurement
  plane; the homography from its detected corners to their board coordinates (mm) is the scale
  (``cv2.findHomography``, least squares over all corners). Residual: RMS distance on the plane
  between the mapped corners and their true positions.
- **reference points**: either pairs of image points a known distance apart
  (``x1,y1,x2,y2=LEN``; one ``mm_per_px`` factor, least squares ``s = sum(d L) / sum(d^2)`` over
  the pixel distances ``d`` and known lengths ``L``; residuals ``s d - L``), or four or more image
  points with known plane coordinates (``x,y=X,Y``; a homography).
- **tube diameter** (slag cameras): the immersion tube's known outer diameter over its width in
  the image, measured perpendicular to its axis between the two side edges
  (:mod:`calibration.tube_edges`), or between two given side-edge points.

With intrinsics (from the calibration file or the pending-intrinsics file) every image point is
undistorted first and the scale is marked ``undistorted``, so the runtime applies it to
undistorted coordinates.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from calibration.calibration_file import Scale
from calibration.detect import BoardSpec, require_board
from calibration.errors import InputError
from calibration.geometry import Intrinsics, undistort
from calibration.points import LengthPair, PlanePoint
from calibration.scale import apply_homography
from calibration.tube_edges import TubeSides, find_tube_sides

__all__ = [
    "MIN_POINT_DISTANCE_PX",
    "ScaleResult",
    "scale_from_board",
    "scale_from_pairs",
    "scale_from_plane_points",
    "scale_from_tube",
]

log = logging.getLogger(__name__)

MIN_POINT_DISTANCE_PX = 10.0
"""Reference points closer than this (pixels) are treated as coincident."""
_COLLINEAR_RATIO = 0.02


@dataclass(frozen=True)
class ScaleResult:
    """A fitted scale and what the technician should see about it.

    Attributes
    ----------
    scale
        The scale for the calibration file.
    residuals_mm
        Per point (board, plane points) or per pair/row (pairs, tube) residuals in mm.
    lines
        Human-readable lines describing the fit.
    tube_diameter_mm
        The tube diameter used (tube method), else ``None``.
    axis_angle_deg
        The tube axis angle found on the way (tube method with edge detection), else ``None``.
    corners
        Detected board corners (raw image ``(N, 2)``) for the report, else ``None``.
    sides
        The tube side edges found (raw image), else ``None``.
    """

    scale: Scale
    residuals_mm: np.ndarray
    lines: list[str] = field(default_factory=list)
    tube_diameter_mm: float | None = None
    axis_angle_deg: float | None = None
    corners: np.ndarray | None = None
    sides: TubeSides | None = None


def _rms(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(values)))) if len(values) else 0.0


def _homography_scale(
    image_pts: np.ndarray, plane_pts: np.ndarray, source: str, undistorted: bool
) -> tuple[Scale, np.ndarray]:
    h, _ = cv2.findHomography(image_pts.astype(np.float64), plane_pts.astype(np.float64), 0)
    if h is None or not np.all(np.isfinite(h)):
        raise InputError(source, "no homography fits these points; spread them over the measured area")
    h = h / h[2, 2]
    mapped = apply_homography(h, image_pts)
    residuals = np.linalg.norm(mapped - plane_pts, axis=1)
    scale = Scale(
        method="homography",
        source=source,
        homography=h,
        residual_mm=_rms(residuals),
        points_used=len(image_pts),
        undistorted=undistorted,
    )
    return scale, residuals


def scale_from_board(
    gray: np.ndarray, spec: BoardSpec, intrinsics: Intrinsics | None, image_name: str = "--board"
) -> ScaleResult:
    """Homography scale from a board lying on the measurement plane.

    Raises
    ------
    InputError
        When the board is not found (saying which pattern size is there, if a nearby one is).
    """
    detection = require_board(
        gray,
        spec,
        image_name,
        "lay the whole board flat on the measurement plane, in focus and evenly lit, and check --pattern "
        "(inner corners)",
        " (inner corners, not squares)",
    )
    image_pts = undistort(detection.image_points, intrinsics)
    plane_pts = detection.object_points[:, :2]
    scale, residuals = _homography_scale(image_pts, plane_pts, "checkerboard", intrinsics is not None)
    lines = [
        f"board: {spec.describe()}, {len(plane_pts)} corners",
        f"homography residual: RMS {scale.residual_mm:.3f} mm, max {float(residuals.max()):.3f} mm on the "
        "plane",
    ]
    return ScaleResult(scale, residuals, lines, corners=detection.image_points)


def _check_distinct(points: np.ndarray, arg: str, what: str) -> None:
    for (i, a), (j, b) in itertools.combinations(enumerate(points), 2):
        distance = float(np.hypot(*(a - b)))
        if distance < MIN_POINT_DISTANCE_PX:
            raise InputError(
                arg,
                f"{what} {i + 1} and {j + 1} are {distance:.1f} px apart (coincident): pick points at "
                f"least {MIN_POINT_DISTANCE_PX:g} px apart, ideally across most of the image",
            )


def scale_from_pairs(
    pairs: Sequence[LengthPair], intrinsics: Intrinsics | None, arg: str = "--points"
) -> ScaleResult:
    """One ``mm_per_px`` factor from point pairs of known distance (least squares over the pairs).

    Raises
    ------
    InputError
        When a pair's points coincide (closer than :data:`MIN_POINT_DISTANCE_PX`).
    """
    lengths_px = []
    for i, (p0, p1, _) in enumerate(pairs):
        a, b = undistort(np.array([p0, p1]), intrinsics)
        distance = float(np.hypot(*(b - a)))
        if distance < MIN_POINT_DISTANCE_PX:
            raise InputError(
                arg,
                f"pair {i + 1}: its two points are {distance:.1f} px apart (coincident); the two points of "
                f"a pair must be the ends of the known length, at least {MIN_POINT_DISTANCE_PX:g} px apart",
            )
        lengths_px.append(distance)
    d = np.array(lengths_px)
    known = np.array([length for _, _, length in pairs], dtype=np.float64)
    mm_per_px = float(np.dot(d, known) / np.dot(d, d))
    residuals = mm_per_px * d - known
    scale = Scale(
        method="mm_per_px",
        source="reference_points",
        mm_per_px=mm_per_px,
        residual_mm=_rms(residuals) if len(pairs) > 1 else None,
        points_used=2 * len(pairs),
        undistorted=intrinsics is not None,
    )
    lines = [
        f"pair {i + 1}: {px:.2f} px for {length:g} mm -> {length / px:.5f} mm/px, residual {res:+.3f} mm"
        for i, (px, length, res) in enumerate(zip(d, known, residuals, strict=True))
    ]
    if len(pairs) == 1:
        lines.append(
            "one pair only: nothing to check it against; a second pair in another place gives a residual"
        )
    return ScaleResult(scale, residuals, lines)


def _collinear(points: np.ndarray) -> bool:
    centred = points - points.mean(axis=0)
    sv = np.linalg.svd(centred, compute_uv=False)
    return bool(sv[0] == 0 or sv[-1] / sv[0] < _COLLINEAR_RATIO)


def scale_from_plane_points(
    points: Sequence[PlanePoint], intrinsics: Intrinsics | None, arg: str = "--points"
) -> ScaleResult:
    """Homography scale from four or more image points with known plane coordinates (mm).

    Raises
    ------
    InputError
        When fewer than 4 points are given, two coincide, or they are (nearly) collinear: all of
        them, or any three of exactly four.
    """
    if len(points) < 4:
        raise InputError(
            arg,
            f"a homography needs at least 4 points x,y=X,Y, got {len(points)}; or give pairs "
            "x1,y1,x2,y2=LENGTH",
        )
    image_raw = np.array([p for p, _ in points], dtype=np.float64)
    plane = np.array([q for _, q in points], dtype=np.float64)
    _check_distinct(image_raw, arg, "points")
    for (i, a), (j, b) in itertools.combinations(enumerate(plane), 2):
        if np.allclose(a, b):
            raise InputError(arg, f"points {i + 1} and {j + 1} have the same plane coordinates {a.tolist()}")
    groups = [range(len(points))]
    if len(points) == 4:  # four points fix a homography only when no three of them are collinear
        groups += list(itertools.combinations(range(4), 3))
    for group in groups:
        idx = list(group)
        for name, pts in (("image", image_raw[idx]), ("plane", plane[idx])):
            if _collinear(pts):
                which = (
                    "all the points"
                    if len(idx) == len(points)
                    else "points " + ", ".join(str(i + 1) for i in idx)
                )
                raise InputError(
                    arg,
                    f"{which} lie on one line in the {name} (degenerate: a line fixes no scale across it); "
                    "pick points spread over an area, e.g. the corners of a rectangle",
                )
    image_pts = undistort(image_raw, intrinsics)
    scale, residuals = _homography_scale(image_pts, plane, "reference_points", intrinsics is not None)
    lines = [
        f"{len(points)} plane points, homography residual RMS {scale.residual_mm:.3f} mm, max "
        f"{float(residuals.max()):.3f} mm"
    ]
    return ScaleResult(scale, residuals, lines)


def scale_from_tube(
    gray: np.ndarray,
    diameter_mm: float,
    intrinsics: Intrinsics | None,
    edge_points: tuple[tuple[float, float], tuple[float, float]] | None = None,
    axis_angle_deg: float | None = None,
    mask: np.ndarray | None = None,
    image_name: str = "--image",
) -> ScaleResult:
    """``mm_per_px`` from the immersion tube's known outer diameter.

    Parameters
    ----------
    gray
        Reference image of the tube.
    diameter_mm
        The tube's outer diameter (mm).
    intrinsics
        ``(K, dist)`` to undistort with, or ``None``.
    edge_points
        Two points on the two side edges, across the tube; when given no edge detection runs.
        With ``axis_angle_deg`` the distance is taken perpendicular to the axis.
    axis_angle_deg
        The known axis angle (from the calibration file), used with ``edge_points``.
    mask
        Where to look for the edges (the ROI), or ``None``.
    image_name
        What to call the image in errors.

    Raises
    ------
    InputError
        When the edges are not found, or the given points coincide.
    """
    if not (math.isfinite(diameter_mm) and diameter_mm > 0):
        raise InputError(
            "--tube-diameter-mm", f"must be the tube's outer diameter in mm (> 0), got {diameter_mm}"
        )
    if edge_points is not None:
        a, b = undistort(np.array(edge_points), intrinsics)
        delta = b - a
        if axis_angle_deg is not None:
            normal = np.array(
                [math.cos(math.radians(axis_angle_deg)), -math.sin(math.radians(axis_angle_deg))]
            )
            width = abs(float(delta @ normal))
            how = f"across the axis at {axis_angle_deg:.2f} deg"
        else:
            width = float(np.hypot(*delta))
            how = "between the two points (assumed across the tube)"
        if width < MIN_POINT_DISTANCE_PX:
            raise InputError(
                "--points",
                f"the two side-edge points are {width:.1f} px apart across the tube (coincident or along "
                "the axis): give one point on each side edge, straight across the tube",
            )
        mm_per_px = diameter_mm / width
        scale = Scale(
            method="mm_per_px",
            source="tube_diameter",
            mm_per_px=mm_per_px,
            points_used=2,
            undistorted=intrinsics is not None,
        )
        lines = [f"tube width {width:.2f} px {how} for {diameter_mm:g} mm -> {mm_per_px:.5f} mm/px"]
        return ScaleResult(scale, np.zeros(0), lines, tube_diameter_mm=diameter_mm)
    raw = find_tube_sides(gray, mask, image_name)
    sides = raw.undistorted(intrinsics)
    centre_row = float(np.median(np.concatenate([sides.left.points[:, 1], sides.right.points[:, 1]])))
    width = sides.width_px(centre_row)
    mm_per_px = diameter_mm / width
    residuals = sides.point_widths_px() * mm_per_px - diameter_mm
    scale = Scale(
        method="mm_per_px",
        source="tube_diameter",
        mm_per_px=mm_per_px,
        residual_mm=_rms(residuals),
        points_used=len(sides.left.points) + len(sides.right.points),
        undistorted=intrinsics is not None,
    )
    lines = [
        f"tube side edges: {len(sides.left.points)} + {len(sides.right.points)} rows, line fit RMS "
        f"{sides.left.rms_px:.2f} / {sides.right.rms_px:.2f} px",
        f"tube width {width:.2f} px across the axis ({sides.axis_angle_deg:.2f} deg) for {diameter_mm:g} "
        f"mm -> {mm_per_px:.5f} mm/px; width varies by RMS {scale.residual_mm:.3f} mm along the tube",
    ]
    return ScaleResult(
        scale, residuals, lines, tube_diameter_mm=diameter_mm, axis_angle_deg=sides.axis_angle_deg, sides=raw
    )
