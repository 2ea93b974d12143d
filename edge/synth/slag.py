"""Synthetic RH-degasser snorkel scenes with an exact slag-band ground truth.

A furnace camera looks at the immersion tube (snorkel) of an RH degasser: a refractory cylinder
that runs down into the bright molten steel of the ladle. A band of slag of known thickness
sticks to the tube above the bath. Classes: 0 background (furnace and molten steel), 1 tube
(refractory outer surface), 2 slag band.

Geometry
--------
The scene is drawn in a metric *tube plane* with coordinates ``(u, v)`` in millimetres: ``u``
runs across the tube (``|u| <= D / 2`` is the tube, ``D`` its outer diameter), ``v`` along the
tube axis, increasing downwards towards the bath. The slag band is ``band_top_mm <= v <=
band_bottom_mm`` (``-T/2 .. T/2``, so the band centre is the plane origin); its edges are
straight lines perpendicular to the axis, which makes the recorded thickness exact. The plane
is mapped to the image by a homography ``H = K @ S``: ``S`` is a similarity (scale, rotation by
the tube tilt, translation) and ``K`` a mild keystone (corner displacements of at most 3 % of
the image size). Image pixel coordinates follow OpenCV: ``x`` to the right, ``y`` down, pixel
centres at integer ``(x, y)``. A mask pixel has the class of the geometry at its centre.

Axis-angle convention
---------------------
``axis_angle_deg`` is the angle ``a`` of the tube axis in the image such that the unit vector
pointing down the tube (from its top towards the bath, plane ``+v``) is ``(sin a, cos a)`` in
image ``(x, y)``. ``a = 0`` is a vertical tube; ``a > 0`` means the lower end of the tube lies to
the right of its upper end (the tube is turned counter-clockwise as seen on the screen). It is
measured from the homography between the band edges on the axis, so it includes the keystone;
``tilt_deg`` is the rotation of the similarity alone (within +-10 degrees) and uses the same
sign convention.
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

__all__ = ["SLAG_CLASSES", "SlagScene", "SlagTruth", "render_slag"]

SLAG_CLASSES: tuple[str, ...] = ("background", "tube", "slag")
"""Class names by id of the slag scenes (0 background, 1 tube, 2 slag)."""

_MAX_TILT_DEG = 10.0
_MAX_KEYSTONE = 0.03
_MAX_ATTEMPTS = 200


@dataclass(frozen=True)
class SlagTruth:
    """Exact ground truth of one slag scene.

    Attributes
    ----------
    thickness_mm
        Thickness of the slag band along the tube axis, in mm.
    mm_per_px
        Millimetres per image pixel along the tube axis at the band centre: ``thickness_mm``
        divided by the image distance between the band's top and bottom edge on the axis.
    thickness_px
        ``thickness_mm / mm_per_px``: the band thickness in pixels along the axis.
    tilt_deg
        Rotation of the tube in the image (the similarity part of the homography), in
        ``[-10, 10]``; same sign convention as ``axis_angle_deg``.
    axis_angle_deg
        Angle ``a`` of the tube axis in the image: the direction down the tube is
        ``(sin a, cos a)`` in image ``(x, y)`` (0 = vertical, > 0 = lower end to the right).
    tube_diameter_mm
        Outer diameter of the tube.
    tube_width_px
        Image distance between the two tube edges through the band centre.
    band_center_px
        Image ``(x, y)`` of the band centre (plane origin).
    band_top_mm, band_bottom_mm
        The band's edges as plane ``v`` coordinates (``v`` grows downwards).
    homography_image_to_plane
        3x3 matrix (row tuples) mapping homogeneous image pixels ``(x, y, 1)`` to plane
        ``(u, v, 1)`` in mm (up to scale).
    homography_plane_to_image
        Its inverse.
    keystone
        ``(kx, ky)``: the relative keystone of the perspective part along x and y.
    bath_y_px
        Image row of the molten-steel surface at the band centre's column.
    background
        Style of the furnace background: ``"glowing"`` or ``"dark"``.
    slag_style
        Look of the slag: ``"dark"``, ``"glowing"`` or ``"low_contrast"``.
    image_size
        ``(height, width)`` of the image.
    """

    thickness_mm: float
    mm_per_px: float
    thickness_px: float
    tilt_deg: float
    axis_angle_deg: float
    tube_diameter_mm: float
    tube_width_px: float
    band_center_px: tuple[float, float]
    band_top_mm: float
    band_bottom_mm: float
    homography_image_to_plane: tuple[tuple[float, float, float], ...]
    homography_plane_to_image: tuple[tuple[float, float, float], ...]
    keystone: tuple[float, float]
    bath_y_px: float
    background: str
    slag_style: str
    image_size: tuple[int, int]

    def to_dict(self) -> dict[str, Any]:
        """The truth as a JSON-ready dict (tuples become lists), in field order."""
        return _jsonable(asdict(self))


@dataclass(frozen=True, eq=False)
class SlagScene:
    """One rendered slag scene.

    Attributes
    ----------
    image
        ``uint8`` RGB array ``(H, W, 3)``.
    mask
        ``uint8`` class ids ``(H, W)``: 0 background, 1 tube, 2 slag.
    truth
        The exact ground truth.
    """

    image: np.ndarray
    mask: np.ndarray
    truth: SlagTruth


@dataclass(frozen=True)
class _Layout:
    """The geometry drawn for one scene (internal)."""

    diameter_mm: float
    thickness_mm: float
    px_per_mm: float
    tilt_deg: float
    keystone: tuple[float, float]
    plane_to_image: np.ndarray
    bath_x0: float
    bath_y0: float
    bath_slope: float
    bath_waves: tuple[tuple[float, float, float], ...]


def _jsonable(value: Any) -> Any:
    """Turn tuples into lists (recursively) and numpy scalars into Python numbers."""
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 3x3 homography to ``(N, 2)`` points."""
    homogeneous = np.column_stack([points, np.ones(len(points))]) @ matrix.T
    return homogeneous[:, :2] / homogeneous[:, 2:3]


def _similarity(px_per_mm: float, angle_deg: float, centre: tuple[float, float]) -> np.ndarray:
    """Plane -> image similarity: plane ``+v`` maps to ``(sin a, cos a)``, ``+u`` to ``(cos a, -sin a)``."""
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    return np.array(
        [[px_per_mm * c, px_per_mm * s, centre[0]], [-px_per_mm * s, px_per_mm * c, centre[1]], [0, 0, 1]],
        np.float64,
    )


def _keystone(kx: float, ky: float, jitter: np.ndarray, height: int, width: int) -> np.ndarray:
    """Image -> image homography that shrinks one edge and widens the opposite (mild keystone)."""
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    hw, hh = width / 2.0, height / 2.0
    src = np.array([[cx - hw, cy - hh], [cx + hw, cy - hh], [cx + hw, cy + hh], [cx - hw, cy + hh]])
    # kx > 0: top edge narrower than the bottom; ky > 0: left edge shorter than the right.
    dst = np.array(
        [
            [cx - hw * (1 - kx), cy - hh * (1 - ky)],
            [cx + hw * (1 - kx), cy - hh * (1 + ky)],
            [cx + hw * (1 + kx), cy + hh * (1 + ky)],
            [cx - hw * (1 + kx), cy + hh * (1 - ky)],
        ]
    )
    dst = dst + jitter * np.array([width, height])
    return cv2.getPerspectiveTransform(src.astype(np.float32), dst.astype(np.float32)).astype(np.float64)


def _bath_y(layout: _Layout, xs: np.ndarray) -> np.ndarray:
    """Image row of the molten-steel surface at columns ``xs``."""
    ys = layout.bath_y0 + layout.bath_slope * (xs - layout.bath_x0)
    for amplitude, period, phase in layout.bath_waves:
        ys = ys + amplitude * np.sin(2 * math.pi * xs / period + phase)
    return ys


def _draw_layout(rng: np.random.Generator, height: int, width: int) -> _Layout:
    """Draw tube size, band, scale, pose and bath until the band lies inside the image."""
    margin = max(3.0, 0.02 * min(height, width))
    for _ in range(_MAX_ATTEMPTS):
        diameter = rng.uniform(900.0, 1600.0)
        thickness = rng.uniform(40.0, 300.0)
        px_per_mm = rng.uniform(0.35, 0.70) * width / diameter
        tilt = rng.uniform(-_MAX_TILT_DEG, _MAX_TILT_DEG)
        radius = diameter / 2.0
        a = math.radians(tilt)
        half_h = px_per_mm * (thickness / 2.0 * math.cos(a) + radius * abs(math.sin(a)))
        half_w = px_per_mm * (radius * math.cos(a) + thickness / 2.0 * abs(math.sin(a)))
        gap_px = rng.uniform(20.0, 260.0) * px_per_mm
        wave_amp = rng.uniform(0.0, 0.008) * height
        steel_px = rng.uniform(0.05, 0.2) * height
        lo_y = margin + half_h + rng.uniform(0.03, 0.25) * height
        hi_y = height - 1 - margin - half_h - gap_px - wave_amp - steel_px
        lo_x, hi_x = margin + half_w, width - 1 - margin - half_w
        if hi_y < lo_y or hi_x < lo_x:
            continue
        centre = (rng.uniform(lo_x, hi_x), lo_y + (hi_y - lo_y) * rng.uniform(0.35, 1.0))
        keystone = (rng.uniform(-_MAX_KEYSTONE, _MAX_KEYSTONE), rng.uniform(-_MAX_KEYSTONE, _MAX_KEYSTONE))
        jitter = rng.uniform(-0.004, 0.004, size=(4, 2))
        plane_to_image = _keystone(*keystone, jitter, height, width) @ _similarity(px_per_mm, tilt, centre)
        band_corners = np.array(
            [
                [-radius, -thickness / 2],
                [radius, -thickness / 2],
                [radius, thickness / 2],
                [-radius, thickness / 2],
            ]
        )
        corners = _apply(plane_to_image, band_corners)
        if (
            corners[:, 0].min() < margin
            or corners[:, 0].max() > width - 1 - margin
            or corners[:, 1].min() < margin
        ):
            continue
        slope = math.tan(math.radians(rng.uniform(-2.5, 2.5)))
        waves = tuple(
            (wave_amp * rng.uniform(0.3, 1.0), rng.uniform(0.15, 0.6) * width, rng.uniform(0, 2 * math.pi))
            for _ in range(2)
        )
        # The bath surface passes gap_px below the lowest band corner (relative to its slope).
        bath_y0 = float(np.max(corners[:, 1] - slope * (corners[:, 0] - centre[0]))) + gap_px + wave_amp
        if bath_y0 > height - 1 - steel_px:
            continue
        return _Layout(
            diameter_mm=float(diameter),
            thickness_mm=float(thickness),
            px_per_mm=float(px_per_mm),
            tilt_deg=float(tilt),
            keystone=(float(keystone[0]), float(keystone[1])),
            plane_to_image=plane_to_image,
            bath_x0=float(centre[0]),
            bath_y0=bath_y0,
            bath_slope=float(slope),
            bath_waves=waves,
        )
    raise RuntimeError(f"could not place a slag band in a {height}x{width} image after {_MAX_ATTEMPTS} tries")


def _plane_sampler(
    u: np.ndarray, v: np.ndarray, radius: float, mm_per_texel: float
) -> tuple[tuple[int, int], np.ndarray, np.ndarray]:
    """Texture grid shape and remap maps that sample a plane-space texture at every pixel."""
    near = np.abs(u) <= radius * 1.2
    v_near = v[near] if near.any() else v
    u0, v0 = -radius * 1.2, float(v_near.min()) - 4 * mm_per_texel
    v1 = float(v_near.max()) + 4 * mm_per_texel
    grid = (math.ceil((v1 - v0) / mm_per_texel) + 2, math.ceil(2.4 * radius / mm_per_texel) + 2)
    map_x = ((u - u0) / mm_per_texel).astype(np.float32)
    map_y = ((v - v0) / mm_per_texel).astype(np.float32)
    return grid, map_x, map_y


def _sample(texture: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """Look up a plane-space texture at every pixel (bilinear, mirrored outside the grid)."""
    return cv2.remap(
        texture.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )


def _colour(rgb: tuple[float, float, float], field: np.ndarray) -> np.ndarray:
    """An RGB image: ``field`` (H, W) times a colour."""
    return field[..., None] * np.asarray(rgb, np.float32)


def _furnace_background(rng: np.random.Generator, height: int, width: int, glowing: bool) -> np.ndarray:
    """The furnace interior behind the tube: glowing refractory walls or a dark vessel."""
    shape = (height, width)
    clouds = tx.fractal_noise(rng, shape, cell=max(height, width) / rng.uniform(2.0, 5.0), octaves=5)
    ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    ramp = np.broadcast_to(ys, shape)
    if glowing:
        level = rng.uniform(0.45, 0.8) * (0.7 + 0.3 * clouds) * (0.75 + 0.25 * ramp)
        hue = (1.0, rng.uniform(0.45, 0.7), rng.uniform(0.1, 0.3))
    else:
        level = rng.uniform(0.05, 0.2) * (0.5 + 0.8 * clouds) * (0.6 + 0.6 * ramp)
        hue = (1.0, rng.uniform(0.35, 0.6), rng.uniform(0.15, 0.35))
    image = _colour(hue, level.astype(np.float32))
    # A few blurred bright spots: burners, openings, splashes on the walls.
    for _ in range(int(rng.integers(0, 4))):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height * 0.8)
        sigma = rng.uniform(0.02, 0.1) * width
        yy, xx = np.ogrid[0:height, 0:width]
        spot = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2)).astype(np.float32)
        image += _colour((1.0, 0.8, 0.5), rng.uniform(0.1, 0.5) * spot)
    return image


def _molten_steel(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Bright, flowing molten steel with a few dark skins of floating slag (all background class)."""
    shape = (height, width)
    flow = tx.fractal_noise(rng, shape, cell=width / rng.uniform(3.0, 8.0), octaves=5, anisotropy=3.0)
    level = rng.uniform(0.9, 1.2) * (0.8 + 0.25 * flow)
    image = _colour((1.0, rng.uniform(0.75, 0.92), rng.uniform(0.45, 0.7)), level.astype(np.float32))
    skins = tx.fractal_noise(rng, shape, cell=width / rng.uniform(4.0, 10.0), octaves=3, anisotropy=2.5)
    skin = tx.smoothstep(rng.uniform(0.6, 0.8), 0.95, skins) * rng.uniform(0.2, 0.7)
    dark = _colour((0.35, 0.18, 0.08), np.ones(shape, np.float32))
    return tx.lerp(image, dark, skin)


def _render(
    rng: np.random.Generator, layout: _Layout, height: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str, bool, float]:
    """Render ``(image, mask, image_to_plane, slag_style, glowing_background, bath_row_at_band)``."""
    radius = layout.diameter_mm / 2.0
    band_top, band_bottom = -layout.thickness_mm / 2.0, layout.thickness_mm / 2.0
    mm_per_px = 1.0 / layout.px_per_mm
    image_to_plane = np.linalg.inv(layout.plane_to_image)
    image_to_plane /= image_to_plane[2, 2]

    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    w = image_to_plane[2, 0] * xs + image_to_plane[2, 1] * ys + image_to_plane[2, 2]
    u = (image_to_plane[0, 0] * xs + image_to_plane[0, 1] * ys + image_to_plane[0, 2]) / w
    v = (image_to_plane[1, 0] * xs + image_to_plane[1, 1] * ys + image_to_plane[1, 2]) / w
    centre = _apply(layout.plane_to_image, np.array([[0.0, 0.0]]))[0]
    bath = _bath_y(layout, np.arange(width, dtype=np.float64))[None, :]

    # Hard classes at pixel centres (the mask) and soft coverages (the image), from the same geometry.
    in_tube = (np.abs(u) <= radius) & (ys <= bath)
    in_band = in_tube & (v >= band_top) & (v <= band_bottom)
    mask = np.zeros((height, width), np.uint8)
    mask[in_tube] = 1
    mask[in_band] = 2
    cover_tube = np.clip(0.5 + (radius - np.abs(u)) / mm_per_px, 0, 1) * np.clip(0.5 + bath - ys, 0, 1)
    cover_band = np.clip(0.5 + np.minimum(v - band_top, band_bottom - v) / mm_per_px, 0, 1)
    cover_steel = np.clip(0.5 + ys - bath, 0, 1).astype(np.float32)

    glowing = bool(rng.random() < 0.55)
    image = _furnace_background(rng, height, width, glowing)
    image = tx.lerp(image, _molten_steel(rng, height, width), cover_steel)
    # Meniscus glow where the bath meets the air.
    meniscus = np.exp(-(((ys - bath) / rng.uniform(1.5, 5.0)) ** 2)).astype(np.float32)
    image += _colour((1.0, 0.9, 0.7), rng.uniform(0.0, 0.3) * meniscus)

    # Plane-space textures: one texel per pixel at the band's scale.
    grid, map_x, map_y = _plane_sampler(u, v, radius, mm_per_px)
    px_mm = layout.px_per_mm
    coarse = _sample(tx.fractal_noise(rng, grid, cell=rng.uniform(60, 200) * px_mm, octaves=4), map_x, map_y)
    fine = _sample(tx.fractal_noise(rng, grid, cell=max(2.0, 12 * px_mm), octaves=3), map_x, map_y)
    spall = _sample(tx.fractal_noise(rng, grid, cell=rng.uniform(40, 120) * px_mm, octaves=3), map_x, map_y)
    streak = _sample(
        tx.fractal_noise(rng, grid, cell=max(2.0, rng.uniform(8, 25) * px_mm), octaves=3, anisotropy=6.0),
        map_x,
        map_y,
    )
    bubbles = _sample(tx.value_noise(rng, grid, max(1.5, rng.uniform(4, 10) * px_mm)), map_x, map_y)

    # Cylinder shading: Lambert with a light from the side plus an emissive part, hot towards the bath.
    across = np.clip(u / radius, -1.0, 1.0).astype(np.float32)
    normal_z = np.sqrt(np.clip(1.0 - across**2, 0.0, 1.0))
    light = math.radians(rng.uniform(-50, 50))
    lambert = np.clip(across * math.sin(light) + normal_z * math.cos(light), 0.0, 1.0)
    heat = tx.smoothstep(band_top - rng.uniform(300, 1200), band_bottom + 200.0, v.astype(np.float32))
    temperature = rng.uniform(0.0, 1.0)
    cold = np.array([rng.uniform(0.4, 0.6), rng.uniform(0.35, 0.48), rng.uniform(0.3, 0.4)], np.float32)
    hot = np.array([1.0, rng.uniform(0.45, 0.65), rng.uniform(0.15, 0.3)], np.float32)
    glow = np.clip(temperature * (0.6 + 0.6 * heat), 0.0, 1.0)
    base = tx.lerp(np.broadcast_to(cold, (height, width, 3)), np.broadcast_to(hot, (height, width, 3)), glow)
    surface = (0.55 + 0.35 * coarse + 0.2 * (fine - 0.5)) * (1.0 - 0.45 * tx.smoothstep(0.7, 0.9, spall))
    shade = 0.35 + 0.65 * lambert
    rim = rng.uniform(0.0, 0.35) * np.abs(across) ** 8
    refractory = base * (surface * shade)[..., None] + _colour((1.0, 0.7, 0.4), rim)

    slag_style = str(rng.choice(["dark", "glowing", "low_contrast"], p=[0.5, 0.35, 0.15]))
    slag_texture = 0.6 + 0.35 * streak + 0.25 * (bubbles - 0.5) + 0.1 * (fine - 0.5)
    if slag_style == "dark":
        tone = np.array(
            [rng.uniform(0.15, 0.35), rng.uniform(0.12, 0.3), rng.uniform(0.08, 0.25)], np.float32
        )
        slag = tone * (slag_texture * (0.5 + 0.5 * shade))[..., None]
    elif slag_style == "glowing":
        tone = np.array([1.0, rng.uniform(0.6, 0.85), rng.uniform(0.2, 0.45)], np.float32)
        slag = tone * (rng.uniform(0.7, 1.0) * slag_texture * (0.75 + 0.25 * shade))[..., None]
    else:
        factor = rng.uniform(0.6, 0.78) if rng.random() < 0.5 else rng.uniform(1.25, 1.45)
        tint = np.array([1.0, rng.uniform(0.85, 1.0), rng.uniform(0.75, 0.95)], np.float32)
        slag = refractory * factor * tint * (0.8 + 0.4 * streak)[..., None]
    tube = tx.lerp(refractory, slag.astype(np.float32), cover_band.astype(np.float32))
    image = tx.lerp(image, tube, cover_tube.astype(np.float32))

    image = _camera(rng, image, glowing)
    bath_at_centre = float(_bath_y(layout, np.array([centre[0]]))[0])
    return tx.to_uint8(image), mask, image_to_plane, slag_style, glowing, bath_at_centre


def _camera(rng: np.random.Generator, image: np.ndarray, glowing: bool) -> np.ndarray:
    """Glare, smoke, exposure, colour cast, vignetting, blur and sensor noise."""
    if rng.random() < 0.6:
        image = tx.add_glare(image, rng, count=int(rng.integers(1, 3)), strength=rng.uniform(0.2, 0.8))
    if rng.random() < 0.6:
        warm = (rng.uniform(0.5, 0.8), rng.uniform(0.4, 0.6), rng.uniform(0.3, 0.5))
        grey = (rng.uniform(0.3, 0.5),) * 3
        image = tx.add_smoke(image, rng, density=rng.uniform(0.1, 0.55), colour=warm if glowing else grey)
    image = image * np.array([1.0, rng.uniform(0.8, 1.05), rng.uniform(0.65, 1.05)], np.float32)
    if rng.random() < 0.15:
        grey_level = image @ np.array([0.299, 0.587, 0.114], np.float32)
        image = np.repeat(grey_level[..., None], 3, axis=2)
    image = tx.adjust_exposure(
        image, gain=rng.uniform(0.6, 1.5), gamma=rng.uniform(0.8, 1.25), black=rng.uniform(-0.02, 0.04)
    )
    image = tx.vignette(image, rng.uniform(0.0, 0.4))
    motion = rng.uniform(2.0, 6.0) if rng.random() < 0.3 else 0.0
    image = tx.blur(image, rng.uniform(0.4, 1.6), motion, rng.uniform(0.0, 180.0))
    return tx.add_sensor_noise(image, rng, rng.uniform(0.004, 0.03), rng.uniform(0.0, 0.04))


def render_slag(seed: int, index: int, size: tuple[int, int] = (512, 512)) -> SlagScene:
    """Render slag scene ``index`` of the synthetic dataset ``seed``.

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
    SlagScene
        The ``uint8`` RGB image, the ``uint8`` class mask (0 background, 1 tube, 2 slag) and
        the exact :class:`SlagTruth`. The same arguments give byte-identical arrays.

    Raises
    ------
    ValueError
        If ``seed`` or ``index`` is not a non-negative integer or ``size`` is invalid.
    """
    height, width = tx.check_size(size)
    rng = tx.scene_rng(seed, index)
    layout = _draw_layout(rng, height, width)
    image, mask, image_to_plane, slag_style, glowing, bath_y = _render(rng, layout, height, width)

    half = layout.thickness_mm / 2.0
    top, centre, bottom = _apply(layout.plane_to_image, np.array([[0.0, -half], [0.0, 0.0], [0.0, half]]))
    axis = bottom - top
    thickness_px = float(np.hypot(*axis))
    radius = layout.diameter_mm / 2.0
    edges = _apply(layout.plane_to_image, np.array([[-radius, 0.0], [radius, 0.0]]))
    truth = SlagTruth(
        thickness_mm=layout.thickness_mm,
        mm_per_px=layout.thickness_mm / thickness_px,
        thickness_px=thickness_px,
        tilt_deg=layout.tilt_deg,
        axis_angle_deg=math.degrees(math.atan2(axis[0], axis[1])),
        tube_diameter_mm=layout.diameter_mm,
        tube_width_px=float(np.hypot(*(edges[1] - edges[0]))),
        band_center_px=(float(centre[0]), float(centre[1])),
        band_top_mm=-half,
        band_bottom_mm=half,
        homography_image_to_plane=_rows(image_to_plane),
        homography_plane_to_image=_rows(layout.plane_to_image / layout.plane_to_image[2, 2]),
        keystone=layout.keystone,
        bath_y_px=bath_y,
        background="glowing" if glowing else "dark",
        slag_style=slag_style,
        image_size=(height, width),
    )
    log.debug("slag scene seed=%d index=%d: %s", seed, index, truth)
    return SlagScene(image=image, mask=mask, truth=truth)


def _rows(matrix: np.ndarray) -> tuple[tuple[float, float, float], ...]:
    """A 3x3 matrix as a tuple of row tuples of Python floats."""
    return tuple((float(row[0]), float(row[1]), float(row[2])) for row in matrix)
