"""Weld geometry from a binary weld mask of an etched macro-section.

Frames
------
Image coordinates follow OpenCV: ``(x, y)`` with ``x`` to the right, ``y`` down, pixel centres
at integers. The *plane* is the measurement plane in mm: with ``mm_per_px = s`` it is the image
scaled, ``(s x, s y)``; with a ``homography`` ``H`` (image -> plane in mm, 3x3) it is
``H (x, y, 1)`` after the perspective division. ``centroid_mm`` and ``contour_mm`` are plane
coordinates.

The plate surface is a straight line in the plane whose direction is
``u = (cos a, sin a)`` with ``a = config.surface_angle_deg`` (0: horizontal in the plane,
``a > 0`` tilts it down to the right on screen). Depth is measured along the normal
``n = (-sin a, cos a)``, pointing into the plate (down on screen for ``a = 0``). The line passes
through ``surface_px`` (an image point, mapped to the plane) when it is given; otherwise it is
estimated as the level of the weld's widest chord parallel to ``u`` within the upper
``config.surface_search_fraction`` of the weld's extent along ``n`` (for a reinforced butt weld
the fusion faces are widest where they meet the plate surface at the toes, and the cap above
narrows again). Give ``surface_px`` for fillet welds and whenever the plate position is known.

Measurements (of the largest weld region; these match the definitions of
:class:`edge.synth.WeldTruth` so the synthetic truth is comparable):

``area_mm2``
    Sum over the region's pixels of the area each pixel covers on the plane: ``s**2`` per pixel
    with a scale, ``|det J(x, y)|`` with a homography, where ``J`` is the Jacobian of the
    image -> plane map at the pixel centre; for a homography ``det J = det(H) / w**3`` with
    ``w = h31 x + h32 y + h33`` (exact to second order over the pixel). Holes are not weld.
``width_mm``
    Extent of the weld along the plate surface: on a line parallel to the surface, the distance
    from the first to the last point lying in a weld pixel's square (gaps inside included;
    the line is sampled every ``1 / config.oversample`` pixel, nearest-neighbour lookup); the
    largest such extent over ``config.oversample`` lines within half a pixel of the surface
    line. (The mask resolves the surface only to a pixel, and the weld is widest where its
    fusion faces meet the surface; when the surface runs through a row of pixel centres this is
    that row's extent.) Truth: the extent of the polygon's intersection with ``y = 0``.
``depth_mm``
    The largest distance along ``n`` from the surface line to a weld pixel centre, plus half
    that pixel (its far edge), in mm: the penetration including any root reinforcement below
    the plate. Truth: the largest ``y`` of the polygon.
``bbox_px``
    ``(x, y, width, height)`` of the region in pixels (COCO order; ``x + width`` is exclusive).
``centroid_px``, ``centroid_mm``
    Mean pixel-centre position; on the plane the area-weighted centroid.
``contour_mm``
    The region's outer boundary (through its boundary pixel centres, OpenCV
    ``findContours``), simplified with Douglas-Peucker at ``config.contour_tolerance_px`` pixels,
    mapped to the plane.

Quality: no region of at least ``config.min_region_px`` pixels -> BAD ("no weld found"); the
region touches the image border, several regions of at least ``min_region_px`` (the largest is
measured, ``regions`` counts them), or a surface line that misses the weld -> UNCERTAIN (reasons
joined by ``"; "``, :meth:`MeasureQuality.worst`). Smaller specks are ignored.

Input: a ``uint8`` mask with 0 background and 1 or 255 weld (both conventions, also mixed), or
``bool``. Any other value (class ids, probabilities, an ignore label) is a ``ValueError``: a
mask that is not binary is a caller's bug, not a measurement of poor quality.

Accuracy on :func:`edge.synth.render_weld` masks with the true surface point (tests): area within
0.2 %, width within 0.7 px and depth within 0.5 px; drawn through a rotated or tilted homography,
width within about 1.7 px (the cap meets the surface in a sharp toe that a pixel grid resolves only
to about a pixel once the surface no longer runs through pixel centres).
"""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from calibration.scale import apply_homography, denominators
from edge.measure.quality import MeasureQuality

__all__ = ["WeldMeasureConfig", "WeldMeasurement", "measure_weld"]

log = logging.getLogger(__name__)

NO_WELD = "no weld found"
TOUCHES_BORDER = "weld touches the image border"
MISSES_SURFACE = "the plate surface line does not cross the weld"

UNITS: dict[str, str] = {
    "area_mm2": "mm2",
    "width_mm": "mm",
    "depth_mm": "mm",
    "bbox_px": "px",
    "centroid_px": "px",
    "centroid_mm": "mm",
    "contour_mm": "mm",
}
"""Units of the payload's value fields (UCUM-style codes; ``px`` for image pixels)."""

_MASK_VALUES = (0, 1, 255)
_CHUNK = 1 << 20


@dataclass(frozen=True)
class WeldMeasureConfig:
    """Parameters of :func:`measure_weld`.

    Attributes
    ----------
    surface_angle_deg
        Direction of the plate surface on the measurement plane in degrees (0: along +x;
        positive tilts it down to the right on screen, as image ``y`` points down).
    min_region_px
        Connected weld regions (8-connected) smaller than this many pixels are ignored specks.
    contour_tolerance_px
        Douglas-Peucker tolerance in image pixels for simplifying the outer contour (0 keeps
        every boundary pixel).
    oversample
        Samples per pixel along the surface line, and the number of parallel lines within half
        a pixel of it, for the width.
    surface_search_fraction
        When no surface point is given: the surface is looked for in this upper fraction
        (0..1] of the weld's extent along the surface normal.
    """

    surface_angle_deg: float = 0.0
    min_region_px: int = 20
    contour_tolerance_px: float = 1.0
    oversample: int = 8
    surface_search_fraction: float = 0.5

    def __post_init__(self) -> None:
        if not _real(self.surface_angle_deg) or not math.isfinite(self.surface_angle_deg):
            raise ValueError(f"surface_angle_deg must be a finite number, got {self.surface_angle_deg!r}")
        if not _integer(self.min_region_px) or self.min_region_px < 1:
            raise ValueError(f"min_region_px must be an integer >= 1, got {self.min_region_px!r}")
        if not _real(self.contour_tolerance_px) or not 0 <= self.contour_tolerance_px < math.inf:
            raise ValueError(
                f"contour_tolerance_px must be a finite number >= 0, got {self.contour_tolerance_px!r}"
            )
        if not _integer(self.oversample) or self.oversample < 1:
            raise ValueError(f"oversample must be an integer >= 1, got {self.oversample!r}")
        if not _real(self.surface_search_fraction) or not 0 < self.surface_search_fraction <= 1:
            raise ValueError(
                f"surface_search_fraction must be in (0, 1], got {self.surface_search_fraction!r}"
            )


@dataclass(frozen=True)
class WeldMeasurement:
    """Geometry of the largest weld region of one mask (see the module docstring).

    Attributes
    ----------
    area_mm2, width_mm, depth_mm
        Area, width along the plate surface, penetration depth; NaN when no weld was found.
    area_px
        Pixels of the measured region (0 when none).
    bbox_px
        ``(x, y, width, height)`` in pixels, or ``None``.
    centroid_px, centroid_mm
        Centroid in image pixels and on the plane in mm, or ``None``.
    contour_mm
        Simplified outer contour ``((x, y), ...)`` on the plane in mm (empty when none).
    regions
        Number of weld regions of at least ``min_region_px`` pixels.
    surface_px
        The image point ``(x, y)`` the plate surface line was laid through, or ``None``.
    surface_estimated
        Whether that point was estimated from the mask (no ``surface_px`` given).
    quality
        GOOD, UNCERTAIN (with the reasons) or BAD.
    """

    area_mm2: float
    width_mm: float
    depth_mm: float
    area_px: int
    bbox_px: tuple[int, int, int, int] | None
    centroid_px: tuple[float, float] | None
    centroid_mm: tuple[float, float] | None
    contour_mm: tuple[tuple[float, float], ...]
    regions: int
    quality: MeasureQuality
    surface_px: tuple[float, float] | None = None
    surface_estimated: bool = False

    @property
    def found(self) -> bool:
        """Whether a weld region was measured."""
        return self.area_px > 0

    def as_payload(self, decimals: int = 3) -> dict[str, Any]:
        """The weld-geometry fields of the ``weld/result`` payload (DESIGN.md contract 3).

        Parameters
        ----------
        decimals
            Rounding of the mm and sub-pixel values.

        Returns
        -------
        dict
            JSON-ready: ``area_mm2``, ``width_mm``, ``depth_mm`` (``None`` when not found),
            ``bbox_px`` ``[x, y, w, h]``, ``centroid_px``, ``centroid_mm`` (``None`` when not
            found), ``contour_mm`` ``[[x, y], ...]``, ``regions``, ``quality`` (``"GOOD"`` |
            ``"UNCERTAIN"`` | ``"BAD"``), ``quality_code`` (Sparkplug 192 | 64 | 0),
            ``quality_reason`` and ``units``.
        """

        def number(value: float) -> float | None:
            return round(float(value), decimals) if math.isfinite(value) else None

        def point(value: tuple[float, float] | None) -> list[float | None] | None:
            return None if value is None else [number(value[0]), number(value[1])]

        return {
            "area_mm2": number(self.area_mm2),
            "width_mm": number(self.width_mm),
            "depth_mm": number(self.depth_mm),
            "bbox_px": None if self.bbox_px is None else [int(v) for v in self.bbox_px],
            "centroid_px": point(self.centroid_px),
            "centroid_mm": point(self.centroid_mm),
            "contour_mm": [point(p) for p in self.contour_mm],
            "regions": int(self.regions),
            **self.quality.as_payload(),
            "units": dict(UNITS),
        }


# --------------------------------------------------------------------------------------------
# Input checks


def _real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _integer(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_mask(mask: object) -> np.ndarray:
    """The weld pixels of ``mask`` as ``uint8`` 0/1; ValueError naming what was expected."""
    if not isinstance(mask, np.ndarray):
        raise ValueError(f"mask must be a numpy array (H, W) of uint8 or bool, got {type(mask).__name__}")
    if mask.ndim != 2 or mask.shape[0] < 1 or mask.shape[1] < 1:
        raise ValueError(f"mask must be a non-empty 2-D array (H, W), got shape {mask.shape}")
    if mask.dtype == np.bool_:
        return mask.view(np.uint8)
    if mask.dtype != np.uint8:
        raise ValueError(f"mask must be uint8 (0 background, 1 or 255 weld) or bool, got dtype {mask.dtype}")
    present = np.flatnonzero(np.bincount(mask.ravel(), minlength=256))
    bad = [int(v) for v in present if v not in _MASK_VALUES]
    if bad:
        raise ValueError(
            f"mask values must be 0 (background) and 1 or 255 (weld), found {bad[:5]}; "
            "pass a binary weld mask, not class ids or probabilities"
        )
    return (mask != 0).view(np.uint8)


class _Plane:
    """The image -> measurement-plane map (a scale or a homography)."""

    def __init__(self, mm_per_px: float | None, homography: np.ndarray | None) -> None:
        if (mm_per_px is None) == (homography is None):
            raise ValueError("give exactly one scale: mm_per_px or homography (image -> plane in mm)")
        self.scale: float | None = None
        self.h: np.ndarray | None = None
        self.h_inv: np.ndarray | None = None
        if mm_per_px is not None:
            if not _real(mm_per_px) or not 0 < float(mm_per_px) < math.inf:
                raise ValueError(f"mm_per_px must be a finite number > 0, got {mm_per_px!r}")
            self.scale = float(mm_per_px)
            return
        h = np.asarray(homography, dtype=np.float64)
        if h.shape != (3, 3) or not np.all(np.isfinite(h)):
            raise ValueError(
                f"homography must be a finite 3x3 matrix (image -> plane in mm), got shape {h.shape}"
            )
        h = h / np.linalg.norm(h)
        det = float(np.linalg.det(h))
        if det == 0.0 or not np.linalg.cond(h) < 1e13:
            raise ValueError("homography is not invertible (singular 3x3 matrix)")
        self.h = h
        self.h_inv = np.linalg.inv(h)
        self.det = det

    def to_plane(self, xy: np.ndarray) -> np.ndarray:
        """Plane mm of image points ``(N, 2)``."""
        if self.scale is not None:
            return np.asarray(xy, np.float64) * self.scale
        return apply_homography(self.h, xy)

    def to_image(self, pts: np.ndarray) -> np.ndarray:
        """Image px of plane points ``(N, 2)``."""
        if self.scale is not None:
            return np.asarray(pts, np.float64) / self.scale
        return apply_homography(self.h_inv, pts)

    def pixel_area(self, xy: np.ndarray) -> np.ndarray:
        """Plane area (mm^2) covered by the pixels centred at ``xy`` ``(N, 2)``."""
        if self.scale is not None:
            return np.full(len(xy), self.scale**2)
        w = denominators(self.h, xy)
        if np.any(w <= 0) and np.any(w >= 0):
            raise ValueError("homography maps part of the weld to infinity (the weld crosses its horizon)")
        return np.abs(self.det / w**3)


# --------------------------------------------------------------------------------------------
# Measurement


def not_measured(reason: str = NO_WELD, regions: int = 0) -> WeldMeasurement:
    """A BAD measurement without geometry (no weld, or the frame could not be measured)."""
    nan = math.nan
    return WeldMeasurement(nan, nan, nan, 0, None, None, None, (), regions, MeasureQuality.bad(reason))


def _estimate_surface(along: np.ndarray, across: np.ndarray, step: float, fraction: float) -> float:
    """Across-level of the widest chord parallel to the surface in the upper ``fraction``."""
    low = float(across.min())
    level = np.floor((across - low) / step + 0.5).astype(np.int64)
    count = int(level.max()) + 1
    lo = np.full(count, np.inf)
    hi = np.full(count, -np.inf)
    np.minimum.at(lo, level, along)
    np.maximum.at(hi, level, along)
    extent = np.where(np.isfinite(lo), hi - lo, -np.inf)
    top = math.floor(fraction * (count - 1) + 1e-9)
    best = int(np.argmax(extent[: top + 1]))  # ties: the upper level
    return low + best * step


def _surface_width(
    component: np.ndarray,
    plane: _Plane,
    origin: np.ndarray,
    u: np.ndarray,
    span: tuple[float, float],
    pixel: float,
    oversample: int,
) -> float:
    """Largest extent (plane units) of lines parallel to the surface, within half a pixel of it,
    through the component's pixel squares.

    The lines are offset along the normal by ``(k + 0.5) / oversample - 0.5`` pixels,
    ``k = 0 .. oversample-1``, and sampled every ``pixel / oversample``; a sample is weld when
    the pixel whose square holds it is (nearest neighbour).
    """
    height, width = component.shape
    n = np.array([-u[1], u[0]])
    step = pixel / oversample
    t = np.arange(span[0], span[1] + step, step)
    best = 0.0
    for offset in (np.arange(oversample) + 0.5) / oversample - 0.5:
        first = last = None
        base = origin + offset * pixel * n
        for start in range(0, t.size, _CHUNK):
            ts = t[start : start + _CHUNK]
            px = plane.to_image(base[None, :] + ts[:, None] * u[None, :])
            ix = np.floor(px[:, 0] + 0.5)
            iy = np.floor(px[:, 1] + 0.5)
            inside = (ix >= 0) & (ix < width) & (iy >= 0) & (iy < height)
            hit = np.zeros(ts.size, bool)
            hit[inside] = component[iy[inside].astype(np.intp), ix[inside].astype(np.intp)] != 0
            where = np.flatnonzero(hit)
            if where.size:
                if first is None:
                    first = start + int(where[0])
                last = start + int(where[-1])
        if first is not None and last is not None:
            best = max(best, (last - first + 1) * step)
    return best


def measure_weld(
    mask: np.ndarray,
    *,
    mm_per_px: float | None = None,
    homography: np.ndarray | None = None,
    surface_px: tuple[float, float] | None = None,
    config: WeldMeasureConfig = WeldMeasureConfig(),
) -> WeldMeasurement:
    """Measure the weld in a binary macro-section mask.

    Parameters
    ----------
    mask
        ``(H, W)`` ``uint8`` with 0 background and 1 (or 255) weld, or ``bool``.
    mm_per_px
        Scale of the image (mm per pixel, the same along x and y); or
    homography
        3x3 image -> measurement-plane (mm) homography. Give exactly one of the two.
    surface_px
        An image point ``(x, y)`` on the plate's top surface line; ``None`` estimates the line
        (see the module docstring).
    config
        Measurement parameters.

    Returns
    -------
    WeldMeasurement
        The geometry of the largest region with its quality (BAD "no weld found" when there
        is none).

    Raises
    ------
    ValueError
        For a mask that is not 2-D ``uint8``/``bool`` with values 0/1/255, none or both scales,
        a non-positive ``mm_per_px``, a malformed or singular homography, or one that maps the
        weld across its horizon.
    """
    binary = _check_mask(mask)
    plane = _Plane(mm_per_px, homography)
    if surface_px is not None:
        surface = np.asarray(surface_px, np.float64).reshape(-1)
        if surface.shape != (2,) or not np.all(np.isfinite(surface)):
            raise ValueError(f"surface_px must be a finite image point (x, y), got {surface_px!r}")
    height, width = binary.shape

    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8, ltype=cv2.CV_32S)
    areas = stats[1:, cv2.CC_STAT_AREA]
    kept = np.flatnonzero(areas >= config.min_region_px)
    if kept.size == 0:
        reason = NO_WELD if count <= 1 else f"{NO_WELD} (only specks below {config.min_region_px} px)"
        log.debug("measure_weld: %s", reason)
        return not_measured(reason)
    regions = int(kept.size)
    label = int(kept[np.argmax(areas[kept])]) + 1
    x0, y0, bw, bh, area_px = (int(v) for v in stats[label, :5])
    component = (labels[y0 : y0 + bh, x0 : x0 + bw] == label).view(np.uint8)

    ys, xs = np.nonzero(component)
    pixels = np.column_stack([xs + x0, ys + y0]).astype(np.float64)
    weights = plane.pixel_area(pixels)
    points = plane.to_plane(pixels)
    area_mm2 = float(weights.sum())
    centroid_px = (float(pixels[:, 0].mean()), float(pixels[:, 1].mean()))
    centre = weights @ points / area_mm2
    centroid_mm = (float(centre[0]), float(centre[1]))
    step = math.sqrt(area_mm2 / area_px)  # mean pixel size on the plane

    angle = math.radians(config.surface_angle_deg)
    u = np.array([math.cos(angle), math.sin(angle)])
    n = np.array([-math.sin(angle), math.cos(angle)])
    along = points @ u
    across = points @ n
    if surface_px is None:
        level = _estimate_surface(along, across, step, config.surface_search_fraction)
        foot = level * n + float(centre @ u) * u  # the line's point nearest the centroid
        surface_xy = plane.to_image(foot[None, :])[0]
        estimated = True
    else:
        surface_xy = np.asarray(surface_px, np.float64).reshape(2)
        level = float(plane.to_plane(surface_xy[None, :])[0] @ n)
        estimated = False

    full = np.zeros(binary.shape, np.uint8)
    full[y0 : y0 + bh, x0 : x0 + bw] = component
    span = (float(along.min()) - 2 * step, float(along.max()) + 2 * step)
    width_mm = _surface_width(full, plane, level * n, u, span, step, config.oversample)
    deepest = int(np.argmax(across))
    depth_mm = float(across[deepest] - level + 0.5 * math.sqrt(weights[deepest]))

    contours, _ = cv2.findContours(component, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE, offset=(x0, y0))
    outer = max(contours, key=len)
    if config.contour_tolerance_px > 0 and len(outer) > 2:
        outer = cv2.approxPolyDP(outer, float(config.contour_tolerance_px), True)
    contour = plane.to_plane(outer.reshape(-1, 2).astype(np.float64))
    contour_mm = tuple((float(x), float(y)) for x, y in contour)

    reasons: list[str] = []
    if x0 == 0 or y0 == 0 or x0 + bw == width or y0 + bh == height:
        reasons.append(TOUCHES_BORDER)
    if regions > 1:
        reasons.append(f"{regions} separate weld regions; the largest is measured")
    if width_mm == 0.0:
        reasons.append(MISSES_SURFACE)
    quality = MeasureQuality.good()
    for reason in reasons:
        quality = MeasureQuality.worst(quality, MeasureQuality.uncertain(reason))
    result = WeldMeasurement(
        area_mm2=area_mm2,
        width_mm=float(width_mm),
        depth_mm=depth_mm,
        area_px=area_px,
        bbox_px=(x0, y0, bw, bh),
        centroid_px=centroid_px,
        centroid_mm=centroid_mm,
        contour_mm=contour_mm,
        regions=regions,
        quality=quality,
        surface_px=(float(surface_xy[0]), float(surface_xy[1])),
        surface_estimated=estimated,
    )
    log.debug(
        "measure_weld: %.3f mm2, width %.3f mm, depth %.3f mm, %d region(s), %s",
        area_mm2,
        width_mm,
        depth_mm,
        regions,
        quality.code,
    )
    return result
