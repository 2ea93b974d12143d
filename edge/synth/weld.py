"""Synthetic etched weld macro-sections with an exact weld-nugget ground truth.

A macro-section is a polished and etched cut through a welded joint, photographed straight on.
The weld nugget (fusion zone, class 1) is defined as a polygon in millimetres; everything else
(the plates, the heat-affected zone, the surroundings) is class 0. The image blends the weld
into the plates over several pixels across the fusion line, as real etched sections do, while
the mask follows the polygon exactly: a mask pixel is weld when its centre lies inside the
polygon (even-odd rule, half-open in ``y``).

Coordinates
-----------
Section coordinates ``(x, y)`` in mm: ``x`` to the right, ``y`` down, origin on the top surface
of the plates at the joint (for a fillet weld: the top surface of the base plate at the face of
the web). The image is an axis-aligned scaled copy: ``x_px = origin_px[0] + x / mm_per_px``,
``y_px = origin_px[1] + y / mm_per_px`` with pixel centres at integer ``(x, y)`` (OpenCV), and
``origin_px[1]`` is an integer row, so the top surface runs exactly through a row of pixel
centres.

Joints
------
``butt_v``: single-V butt weld, full penetration, cap and root reinforcement.
``butt_x``: double-V butt weld, caps on both sides.
``incomplete_penetration``: single-V butt weld whose fusion stops above the plate bottom; the
unfused root shows as a thin dark slit.
``fillet``: one fillet weld in the corner of a T-joint (base plate and web), penetrating both.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from edge.synth import textures as tx

log = logging.getLogger(__name__)

__all__ = [
    "WELD_CLASSES",
    "WELD_JOINTS",
    "WeldScene",
    "WeldTruth",
    "fill_polygon",
    "polygon_area",
    "render_weld",
]

WELD_CLASSES: tuple[str, ...] = ("background", "weld")
"""Class names by id of the weld scenes (0 background, 1 weld)."""

WELD_JOINTS: tuple[str, ...] = ("butt_v", "butt_x", "fillet", "incomplete_penetration")
"""The joint types :func:`render_weld` draws, in the order of the scene index cycle."""

_CURVE_POINTS = 48


@dataclass(frozen=True)
class WeldTruth:
    """Exact ground truth of one weld macro-section.

    Attributes
    ----------
    joint
        One of :data:`WELD_JOINTS`.
    mm_per_px
        Millimetres per pixel (the same along x and y).
    area_mm2
        Area of the weld polygon.
    width_mm
        Width of the weld on the plate top surface (``y = 0``): the extent of the polygon's
        intersection with that line.
    depth_mm
        Depth of the weld below the top surface: the largest ``y`` of the polygon (it includes
        any root reinforcement below the plate bottom).
    polygon_mm
        The weld outline as ``(x, y)`` vertices in section mm (see the module docstring).
    plate_thickness_mm
        Thickness of the plates (of the base plate for a fillet weld).
    origin_px
        Image ``(x, y)`` of the section origin; ``y`` is an integer row.
    cap_height_mm
        Height of the weld above the top surface (``-min y`` of the polygon).
    full_penetration
        Whether the fusion reaches through the plate: ``True`` for ``butt_v`` and ``butt_x``,
        ``False`` for ``incomplete_penetration`` and for fillet welds (partial by design).
    web_thickness_mm
        Thickness of the web of a fillet weld's T-joint; ``None`` for butt welds.
    mirrored
        Whether a fillet weld is drawn on the right of its web (mirrored in x).
    image_size
        ``(height, width)`` of the image.
    """

    joint: str
    mm_per_px: float
    area_mm2: float
    width_mm: float
    depth_mm: float
    polygon_mm: tuple[tuple[float, float], ...]
    plate_thickness_mm: float
    origin_px: tuple[float, float]
    cap_height_mm: float
    full_penetration: bool
    web_thickness_mm: float | None
    mirrored: bool
    image_size: tuple[int, int]

    def to_dict(self) -> dict[str, Any]:
        """The truth as a JSON-ready dict (tuples become lists), in field order."""
        data = asdict(self)
        data["polygon_mm"] = [list(point) for point in self.polygon_mm]
        data["origin_px"] = list(self.origin_px)
        data["image_size"] = list(self.image_size)
        return data


@dataclass(frozen=True, eq=False)
class WeldScene:
    """One rendered weld macro-section.

    Attributes
    ----------
    image
        ``uint8`` RGB array ``(H, W, 3)``.
    mask
        ``uint8`` class ids ``(H, W)``: 0 background, 1 weld.
    truth
        The exact ground truth.
    """

    image: np.ndarray
    mask: np.ndarray
    truth: WeldTruth


@dataclass(frozen=True)
class _Joint:
    """The geometry of one joint in section mm (internal)."""

    kind: str
    polygon: np.ndarray
    plate_mm: float
    web_mm: float | None
    full_penetration: bool
    root_slit: tuple[tuple[float, float], tuple[float, float]] | None
    slit_width_mm: float


# --------------------------------------------------------------------------------------------
# Polygon helpers


def polygon_area(polygon: np.ndarray) -> float:
    """Area of a simple polygon ``(N, 2)`` by the shoelace formula (always >= 0)."""
    x, y = polygon[:, 0], polygon[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def _crossings(polygon: np.ndarray, y: float) -> np.ndarray:
    """Sorted x of the polygon's edges crossing the line ``y`` (half-open rule ``y0 <= y < y1``)."""
    start, end = polygon, np.roll(polygon, -1, axis=0)
    low, high = np.minimum(start[:, 1], end[:, 1]), np.maximum(start[:, 1], end[:, 1])
    hit = (low <= y) & (y < high)
    s, e = start[hit], end[hit]
    return np.sort(s[:, 0] + (y - s[:, 1]) * (e[:, 0] - s[:, 0]) / (e[:, 1] - s[:, 1]))


def fill_polygon(polygon_px: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Rasterise a polygon exactly at pixel centres.

    Parameters
    ----------
    polygon_px
        ``(N, 2)`` vertices ``(x, y)`` in pixel coordinates (pixel centres at integers).
    shape
        ``(height, width)`` of the result.

    Returns
    -------
    numpy.ndarray
        ``bool`` array: ``True`` where the pixel centre lies inside the polygon (even-odd
        rule; an edge point counts as inside on the left and top edges, half-open elsewhere).
    """
    height, width = shape
    rows = np.arange(height, dtype=np.float64)
    start = np.asarray(polygon_px, np.float64)
    end = np.roll(start, -1, axis=0)
    low, high = np.minimum(start[:, 1], end[:, 1]), np.maximum(start[:, 1], end[:, 1])
    hit = (low[:, None] <= rows[None, :]) & (rows[None, :] < high[:, None])  # (edges, rows)
    dy = np.where(end[:, 1] == start[:, 1], 1.0, end[:, 1] - start[:, 1])
    xs = start[:, 0:1] + (rows[None, :] - start[:, 1:2]) * ((end[:, 0] - start[:, 0]) / dy)[:, None]
    xs = np.where(hit, xs, np.inf).T  # (rows, edges)
    xs.sort(axis=1)
    counts = hit.sum(axis=0)
    spans = np.zeros((height, width + 1), np.int32)
    for k in range(0, int(counts.max(initial=0)) - 1, 2):
        row = np.nonzero(counts > k + 1)[0]
        first = np.clip(np.ceil(xs[row, k]), 0, width).astype(np.int64)
        last = np.clip(np.floor(xs[row, k + 1]) + 1, 0, width).astype(np.int64)
        keep = last > first
        np.add.at(spans, (row[keep], first[keep]), 1)
        np.add.at(spans, (row[keep], last[keep]), -1)
    return np.cumsum(spans, axis=1)[:, :width] > 0


def _wobble(rng: np.random.Generator, count: int, amplitude: float) -> np.ndarray:
    """A smooth random offset along a curve of ``count`` points that vanishes at both ends."""
    s = np.linspace(0.0, 1.0, count)
    waves = sum(
        rng.uniform(-1, 1) * np.sin(math.pi * s * rng.integers(2, 7) + rng.uniform(0, math.pi))
        for _ in range(2)
    )
    return amplitude * np.sin(math.pi * s) * waves / 2.0


def _cap(
    half_left: float, half_right: float, height: float, power: float, sign: float, y0: float
) -> np.ndarray:
    """A reinforcement arc from ``(-half_left, y0)`` to ``(half_right, y0)`` bulging by ``sign*height``.

    The height is limited to the arc's half-width so that its tip stays blunt: the row of pixel
    centres nearest the tip then always crosses the weld, and mask extents match the polygon.
    """
    s = np.linspace(0.0, 1.0, _CURVE_POINTS)
    x = -half_left + s * (half_left + half_right)
    centre = (half_right - half_left) / 2.0
    half = (half_left + half_right) / 2.0
    height = min(height, half)
    bulge = height * np.clip(1.0 - ((x - centre) / half) ** 2, 0.0, 1.0) ** power
    return np.column_stack([x, y0 + sign * bulge])


def _side(
    rng: np.random.Generator, top_half: float, bottom_half: float, y_top: float, y_bottom: float, k: float
) -> np.ndarray:
    """Half-width profile of a fusion line from ``(top_half, y_top)`` to ``(bottom_half, y_bottom)``."""
    s = np.linspace(0.0, 1.0, _CURVE_POINTS)
    half = bottom_half + (top_half - bottom_half) * (1.0 - s) ** k
    half = half + _wobble(rng, _CURVE_POINTS, 0.04 * abs(y_bottom - y_top) + 0.05)
    return np.column_stack([half, y_top + s * (y_bottom - y_top)])


def _butt(rng: np.random.Generator, kind: str) -> _Joint:
    """Single-V, double-V or partially penetrated single-V butt weld."""
    plate = rng.uniform(6.0, 25.0)
    gap = rng.uniform(0.0, 2.5)
    fusion = rng.uniform(0.5, 2.0)
    asym = rng.uniform(0.88, 1.12, size=2)
    k = rng.uniform(0.75, 1.4)
    cap_h = rng.uniform(0.4, 3.0)
    cap_p = rng.uniform(0.5, 1.0)
    if kind == "butt_x":
        middle = plate * rng.uniform(0.4, 0.6)
        top = middle * math.tan(math.radians(rng.uniform(25, 40))) + gap / 2 + fusion
        bottom = (plate - middle) * math.tan(math.radians(rng.uniform(25, 40))) + gap / 2 + fusion
        neck = gap / 2 + fusion * rng.uniform(0.5, 1.0) + 0.3
        right = np.vstack(
            [
                _side(rng, top * asym[1], neck * asym[1], 0.0, middle, k),
                _side(rng, neck * asym[1], bottom * asym[1], middle, plate, 1.0 / k)[1:],
            ]
        )
        left = np.vstack(
            [
                _side(rng, top * asym[0], neck * asym[0], 0.0, middle, k),
                _side(rng, neck * asym[0], bottom * asym[0], middle, plate, 1.0 / k)[1:],
            ]
        )
        left[:, 0] *= -1
        top_cap = _cap(top * asym[0], top * asym[1], cap_h, cap_p, -1.0, 0.0)
        bottom_cap = _cap(bottom * asym[0], bottom * asym[1], rng.uniform(0.3, 2.5), cap_p, 1.0, plate)
        polygon = np.vstack([top_cap, right[1:], bottom_cap[::-1][1:-1], left[::-1][:-1]])
        return _Joint(kind, polygon, plate, None, True, None, 0.0)

    depth = plate if kind == "butt_v" else plate * rng.uniform(0.45, 0.8)
    top = depth * math.tan(math.radians(rng.uniform(25, 40))) + gap / 2 + fusion
    root = (gap / 2 + fusion * rng.uniform(0.6, 1.2)) if kind == "butt_v" else rng.uniform(0.5, 1.4)
    right = _side(rng, top * asym[1], root * asym[1], 0.0, depth, k)
    left = _side(rng, top * asym[0], root * asym[0], 0.0, depth, k)
    left[:, 0] *= -1
    top_cap = _cap(top * asym[0], top * asym[1], cap_h, cap_p, -1.0, 0.0)
    if kind == "butt_v":
        spread = rng.uniform(1.0, 1.6)
        bead = _cap(
            root * asym[0] * spread, root * asym[1] * spread, rng.uniform(0.3, 2.0), cap_p, 1.0, plate
        )
        polygon = np.vstack([top_cap, right[1:], bead[::-1], left[::-1][:-1]])
        return _Joint(kind, polygon, plate, None, True, None, 0.0)
    # Partial penetration: a rounded fusion bottom, then an unfused root slit down to the plate bottom.
    bottom = _cap(root * asym[0], root * asym[1], root * rng.uniform(0.5, 1.0), 0.5, 1.0, depth)
    polygon = np.vstack([top_cap, right[1:-1], bottom[::-1], left[::-1][1:-1]])
    slit_top = float(polygon[:, 1].max())
    return _Joint(kind, polygon, plate, None, False, ((0.0, slit_top), (0.0, plate)), rng.uniform(0.06, 0.4))


def _fillet(rng: np.random.Generator) -> _Joint:
    """A fillet weld in the left corner of a T-joint: web ``0 <= x <= web`` standing on the base."""
    plate = rng.uniform(6.0, 25.0)
    web = rng.uniform(5.0, 20.0)
    leg_b = rng.uniform(4.0, 12.0)
    leg_a = leg_b * rng.uniform(0.65, 1.5)
    chord = math.hypot(leg_a, leg_b)
    s = np.linspace(0.0, 1.0, _CURVE_POINTS)[:, None]
    toe_base, toe_web = np.array([-leg_a, 0.0]), np.array([0.0, -leg_b])
    outward = np.array([-leg_b, -leg_a]) / chord
    bulge = rng.uniform(-0.1, 0.18) * min(leg_a, leg_b)
    face = (1 - s) * toe_base + s * toe_web + bulge * 4 * s * (1 - s) * outward
    corner = leg_a * leg_b / chord
    penetration = rng.uniform(0.4, 2.5)
    reach = 4 * s * (1 - s) * (corner + penetration)
    fusion = (1 - s) * toe_web + s * toe_base - reach * outward
    fusion[:, 1] += _wobble(rng, _CURVE_POINTS, 0.15)
    polygon = np.vstack([face, fusion[1:-1]])
    return _Joint("fillet", polygon, plate, web, False, None, rng.uniform(0.05, 0.3))


# --------------------------------------------------------------------------------------------
# Rendering


def _signed_distance(mask: np.ndarray) -> np.ndarray:
    """Approximate signed distance in pixels to the mask boundary (> 0 inside)."""
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    outside = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.where(mask, inside - 0.5, 0.5 - outside).astype(np.float32)


def _grain_directions(signed: np.ndarray) -> np.ndarray:
    """Unit vectors along the growth direction of columnar grains (normal to the fusion line)."""
    field = cv2.GaussianBlur(signed, (0, 0), 2.0)
    gx = cv2.Sobel(field, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(field, cv2.CV_32F, 0, 1, ksize=3)
    norm = np.sqrt(gx**2 + gy**2) + 1e-6
    return np.dstack([gx / norm, gy / norm]).astype(np.float32)


def _scratches(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Polishing scratches: thin anti-aliased lines, mostly in one direction (float32, -1..1)."""
    layer = np.zeros((height, width), np.float32)
    main = rng.uniform(0, math.pi)
    for _ in range(int(rng.integers(5, 60))):
        angle = main + rng.normal(0, 0.12) if rng.random() < 0.8 else rng.uniform(0, math.pi)
        length = rng.uniform(0.1, 1.2) * max(height, width)
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        dx, dy = math.cos(angle) * length / 2, math.sin(angle) * length / 2
        value = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.3, 1.0))
        p0, p1 = (round(cx - dx), round(cy - dy)), (round(cx + dx), round(cy + dy))
        cv2.line(layer, p0, p1, value, 1, cv2.LINE_AA)
    return layer


def _layout(
    rng: np.random.Generator, joint: _Joint, sign: float, height: int, width: int
) -> tuple[float, float, int]:
    """Scale and placement: ``(mm_per_px, origin_x, origin_y)`` with the weld inside the image.

    ``sign`` is -1 for a mirrored fillet joint (web at negative x), else 1.
    """
    poly = joint.polygon
    x_lo, x_hi = float(poly[:, 0].min()), float(poly[:, 0].max())
    if joint.web_mm is not None:
        web_lo, web_hi = sorted((sign * -0.3 * joint.web_mm, sign * 1.3 * joint.web_mm))
        x_lo, x_hi = min(x_lo, web_lo), max(x_hi, web_hi)
    y_lo, y_hi = float(poly[:, 1].min()), max(float(poly[:, 1].max()), joint.plate_mm)
    span_x = (x_hi - x_lo) * rng.uniform(1.5, 2.6)
    span_y = (y_hi - y_lo) * rng.uniform(1.2, 1.7)
    mm_per_px = max(span_x / width, span_y / height)
    margin = 3.0
    # Left/right and top/bottom free space in pixels, split at random.
    free_x = width - 1 - 2 * margin - (x_hi - x_lo) / mm_per_px
    free_y = height - 1 - 2 * margin - (y_hi - y_lo) / mm_per_px
    origin_x = margin - x_lo / mm_per_px + free_x * rng.uniform(0.2, 0.8)
    origin_y = math.floor(margin - y_lo / mm_per_px + free_y * rng.uniform(0.25, 0.75))
    return float(mm_per_px), float(origin_x), int(origin_y)


def _render(
    rng: np.random.Generator,
    joint: _Joint,
    sign: float,
    mm_per_px: float,
    origin: tuple[float, int],
    shape: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Draw the etched section and its mask (``sign`` -1 mirrors the web of a fillet joint)."""
    height, width = shape
    scale = 1.0 / mm_per_px
    polygon_px = joint.polygon * scale + np.array([origin[0], origin[1]])
    weld = fill_polygon(polygon_px, shape)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    x_mm, y_mm = (xs - origin[0]) * mm_per_px, (ys - origin[1]) * mm_per_px
    x_web = sign * x_mm  # section x with the web on the positive side

    def cover(distance_mm: np.ndarray) -> np.ndarray:
        return np.clip(0.5 + distance_mm * scale, 0.0, 1.0).astype(np.float32)

    plates = cover(np.minimum(y_mm, joint.plate_mm - y_mm))
    if joint.web_mm is not None:
        web = cover(np.minimum(np.minimum(x_web, joint.web_mm - x_web), 0.5 * mm_per_px - y_mm))
        plates = np.maximum(plates, web)
    signed = _signed_distance(weld)
    specimen = np.maximum(plates, cover(signed * mm_per_px))

    # Unfused root (partial penetration) or the unfused contact under a fillet's web: a dark slit.
    slit = np.zeros(shape, np.float32)
    half_slit = max(joint.slit_width_mm * scale / 2.0, 0.35)
    if joint.root_slit is not None:
        (sx, sy0), (_, sy1) = joint.root_slit
        px = origin[0] + sx * scale
        along = (ys >= origin[1] + sy0 * scale) & (ys <= origin[1] + sy1 * scale)
        slit = cover((half_slit - np.abs(xs - px)) * mm_per_px) * along
    elif joint.web_mm is not None:
        row = float(origin[1])
        inside_web = (x_web >= 0.0) & (x_web <= joint.web_mm)
        slit = cover((half_slit - np.abs(ys - row)) * mm_per_px) * inside_web
    slit = slit * (1.0 - np.clip(signed + 1.5, 0.0, 1.0))

    # Tones and textures.
    plate_tone = rng.uniform(0.45, 0.8)
    delta = rng.uniform(0.08, 0.3) * (1 if rng.random() < 0.4 else -1)
    weld_tone = float(np.clip(plate_tone + delta, 0.12, 0.95))
    rolling = tx.fractal_noise(rng, shape, cell=rng.uniform(20, 60), octaves=4, anisotropy=rng.uniform(4, 10))
    speckle = tx.value_noise(rng, shape, rng.uniform(1.0, 2.0))
    plate_img = plate_tone * (1.0 + rng.uniform(0.03, 0.1) * (rolling - 0.5) + 0.05 * (speckle - 0.5))

    grains = tx.value_noise(rng, shape, (rng.uniform(1.0, 2.0), rng.uniform(1.5, 3.5)))
    streaks = tx.line_integral_convolution(grains, _grain_directions(signed), steps=8, step_px=1.5)
    streaks = (streaks - streaks.mean()) / (streaks.std() + 1e-6)
    weld_img = weld_tone * (1.0 + rng.uniform(0.05, 0.14) * streaks + 0.04 * (speckle - 0.5))
    # Faint boundaries between weld passes.
    passes = np.zeros(shape, np.float32)
    cx, cy = polygon_px[:, 0].mean(), polygon_px[:, 1].mean()
    extent = float(np.ptp(polygon_px[:, 0]))
    for _ in range(int(rng.integers(0, 5))):
        centre = (round(cx + rng.normal(0, 0.15) * extent), round(cy + rng.normal(0, 0.15) * extent))
        axes = (
            max(2, round(rng.uniform(0.15, 0.45) * extent)),
            max(2, round(rng.uniform(0.1, 0.3) * extent)),
        )
        cv2.ellipse(passes, centre, axes, 0.0, 0.0, 180.0, 1.0, 1, cv2.LINE_AA)
    weld_img = weld_img * (1.0 - rng.uniform(0.03, 0.1) * cv2.GaussianBlur(passes, (0, 0), 0.8))
    # Pores: small dark round voids inside the nugget (still weld class).
    if rng.random() < 0.3:
        inside = np.argwhere(signed > 4)
        for _ in range(int(rng.integers(1, 5))):
            if len(inside) == 0:
                break
            py, px = inside[int(rng.integers(0, len(inside)))]
            radius = rng.uniform(0.8, 2.5)
            pore = np.exp(-((xs - px) ** 2 + (ys - py) ** 2) / (2 * radius**2))
            weld_img = weld_img * (1.0 - 0.7 * pore)

    # Heat-affected zone: a tone shift fading away from the fusion line.
    haz_width = rng.uniform(1.0, 4.0) * scale
    haz_noise = tx.fractal_noise(rng, shape, cell=rng.uniform(8, 30), octaves=3)
    haz = np.exp(-((np.maximum(-signed, 0.0) / haz_width) ** 1.5)) * (0.7 + 0.6 * haz_noise)
    plate_img = plate_img * (1.0 + rng.uniform(-0.25, 0.12) * haz)

    # The fusion line: a gradual blend over several pixels, centred on the geometric edge.
    blend = rng.uniform(2.0, 6.0)
    jitter = (tx.fractal_noise(rng, shape, cell=12.0, octaves=2) - 0.5) * rng.uniform(0.0, 1.5)
    alpha = tx.smoothstep(-blend, blend, signed + jitter)
    # Against the surroundings (cap, root bead, fillet face) the weld ends in the specimen's sharp edge.
    alpha = 1.0 - plates * (1.0 - alpha)
    section = plate_img * (1.0 - alpha) + weld_img * alpha
    section = section * (1.0 - rng.uniform(0.5, 0.9) * slit)
    section = section + rng.uniform(0.02, 0.08) * _scratches(rng, height, width)

    dark_mount = rng.random() < 0.6
    surround_tone = rng.uniform(0.03, 0.15) if dark_mount else rng.uniform(0.75, 0.95)
    surround = surround_tone * (1.0 + 0.1 * (tx.fractal_noise(rng, shape, cell=40.0, octaves=3) - 0.5))
    grey = surround * (1.0 - specimen) + section * specimen

    # Uneven illumination, colour of the etch, camera.
    gx, gy = rng.uniform(-0.25, 0.25, size=2)
    light = 1.0 + gx * (xs / width - 0.5) + gy * (ys / height - 0.5)
    light = light + 0.15 * (tx.fractal_noise(rng, shape, cell=max(height, width) / 2.0, octaves=2) - 0.5)
    grey = (grey * light).astype(np.float32)
    if rng.random() < 0.3:
        tint = np.ones(3, np.float32)
    else:
        tint = np.array([1.0, rng.uniform(0.9, 1.0), rng.uniform(0.75, 0.97)], np.float32)
    image = grey[..., None] * tint
    image = tx.adjust_exposure(image, gain=rng.uniform(0.85, 1.2), gamma=rng.uniform(0.85, 1.15))
    image = tx.vignette(image, rng.uniform(0.0, 0.3))
    image = tx.blur(image, rng.uniform(0.3, 1.1))
    image = tx.add_sensor_noise(image, rng, rng.uniform(0.003, 0.02), rng.uniform(0.0, 0.02))
    return tx.to_uint8(image), weld.astype(np.uint8)


def render_weld(seed: int, index: int, size: tuple[int, int] = (512, 512)) -> WeldScene:
    """Render weld macro-section ``index`` of the synthetic dataset ``seed``.

    The joint type cycles with the index through :data:`WELD_JOINTS` (so every type appears in
    any four consecutive indices); everything else is drawn at random.

    Parameters
    ----------
    seed
        Dataset seed (integer >= 0).
    index
        Scene number (integer >= 0); scenes are independent of how many are drawn.
    size
        ``(height, width)`` of the image in pixels, each at least 64.

    Returns
    -------
    WeldScene
        The ``uint8`` RGB image, the ``uint8`` mask (0 background, 1 weld) and the exact
        :class:`WeldTruth`. The same arguments give byte-identical arrays.

    Raises
    ------
    ValueError
        If ``seed`` or ``index`` is not a non-negative integer or ``size`` is invalid.
    """
    height, width = tx.check_size(size)
    rng = tx.scene_rng(seed, index)
    kind = WELD_JOINTS[(index + seed) % len(WELD_JOINTS)]
    joint = _fillet(rng) if kind == "fillet" else _butt(rng, kind)
    mirrored = kind == "fillet" and bool(rng.random() < 0.5)
    if mirrored:
        joint = _Joint(
            joint.kind,
            joint.polygon * np.array([-1.0, 1.0]),
            joint.plate_mm,
            joint.web_mm,
            joint.full_penetration,
            joint.root_slit,
            joint.slit_width_mm,
        )
    sign = -1.0 if mirrored else 1.0
    mm_per_px, origin_x, origin_y = _layout(rng, joint, sign, height, width)
    image, mask = _render(rng, joint, sign, mm_per_px, (origin_x, origin_y), (height, width))
    polygon = joint.polygon
    top = _crossings(polygon, 0.0)
    truth = WeldTruth(
        joint=kind,
        mm_per_px=mm_per_px,
        area_mm2=polygon_area(polygon),
        width_mm=float(top.max() - top.min()) if top.size else 0.0,
        depth_mm=float(polygon[:, 1].max()),
        polygon_mm=tuple((float(x), float(y)) for x, y in polygon),
        plate_thickness_mm=joint.plate_mm,
        origin_px=(origin_x, float(origin_y)),
        cap_height_mm=float(max(0.0, -polygon[:, 1].min())),
        full_penetration=joint.full_penetration,
        web_thickness_mm=joint.web_mm,
        mirrored=mirrored,
        image_size=(height, width),
    )
    log.debug("weld scene seed=%d index=%d: %s, %.1f mm2", seed, index, kind, truth.area_mm2)
    return WeldScene(image=image, mask=mask, truth=truth)
