"""Noise, texture and camera-effect helpers shared by the synthetic scene generators.

Every function here works on ``float32`` images with values nominally in ``[0, 1]`` (RGB images
have shape ``(H, W, 3)``, single-channel fields ``(H, W)``) and takes its randomness from a
``numpy.random.Generator`` passed in by the caller, so a scene is a pure function of its seed.
Only :func:`to_uint8` converts to the project's ``uint8`` RGB convention. :func:`scene_rng` and
:func:`check_size` are the seeding and argument checks every generator shares.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

MIN_SCENE_SIZE = 64
"""Smallest scene height and width the generators accept."""

__all__ = [
    "MIN_SCENE_SIZE",
    "add_glare",
    "add_sensor_noise",
    "add_smoke",
    "adjust_exposure",
    "blur",
    "check_size",
    "fractal_noise",
    "lerp",
    "line_integral_convolution",
    "scene_rng",
    "smoothstep",
    "to_uint8",
    "value_noise",
    "vignette",
]


def _is_int(value: object) -> bool:
    """True for Python and numpy integers (not bools)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_size(size: tuple[int, int]) -> tuple[int, int]:
    """Validate a scene ``(height, width)`` (integers >= :data:`MIN_SCENE_SIZE`) and return it as ints."""
    ok = isinstance(size, (tuple, list)) and len(size) == 2 and all(_is_int(n) for n in size)
    if not ok or min(size) < MIN_SCENE_SIZE:
        raise ValueError(f"size must be (height, width) with integers >= {MIN_SCENE_SIZE}, got {size!r}")
    return int(size[0]), int(size[1])


def scene_rng(seed: int, index: int) -> np.random.Generator:
    """The random generator of scene ``index`` of dataset ``seed`` (independent of scene count)."""
    for name, value in (("seed", seed), ("index", index)):
        if not _is_int(value) or value < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))


def _check_shape(shape: tuple[int, int]) -> tuple[int, int]:
    """Validate an ``(height, width)`` pair and return it as Python ints."""
    if len(shape) != 2 or min(int(shape[0]), int(shape[1])) < 1:
        raise ValueError(f"shape must be (height, width) with both >= 1, got {shape!r}")
    return int(shape[0]), int(shape[1])


def value_noise(
    rng: np.random.Generator, shape: tuple[int, int], cell: float | tuple[float, float]
) -> np.ndarray:
    """Smooth value noise: a random lattice interpolated bicubically to ``shape``.

    Parameters
    ----------
    rng
        Source of the lattice values.
    shape
        ``(height, width)`` of the result in pixels.
    cell
        Lattice spacing in pixels, one value or ``(cell_y, cell_x)`` for anisotropic noise
        (streaks along the axis with the larger cell).

    Returns
    -------
    numpy.ndarray
        ``float32`` array of ``shape``, roughly in ``[0, 1]`` (bicubic overshoot is clipped).
    """
    height, width = _check_shape(shape)
    cell_y, cell_x = (float(cell), float(cell)) if np.ndim(cell) == 0 else (float(cell[0]), float(cell[1]))
    if cell_y <= 0 or cell_x <= 0:
        raise ValueError(f"cell must be > 0 pixels, got {cell!r}")
    grid_h = max(2, math.ceil(height / cell_y) + 2)
    grid_w = max(2, math.ceil(width / cell_x) + 2)
    lattice = rng.random((grid_h, grid_w), dtype=np.float32)
    # Resize the lattice so that one lattice step spans ``cell`` pixels, then crop.
    full_h = max(height, round((grid_h - 1) * cell_y))
    full_w = max(width, round((grid_w - 1) * cell_x))
    field = cv2.resize(lattice, (full_w, full_h), interpolation=cv2.INTER_CUBIC)
    return np.clip(field[:height, :width], 0.0, 1.0)


def fractal_noise(
    rng: np.random.Generator,
    shape: tuple[int, int],
    cell: float,
    octaves: int = 4,
    persistence: float = 0.5,
    anisotropy: float = 1.0,
) -> np.ndarray:
    """Fractal (multi-octave) value noise normalised to ``[0, 1]``.

    Parameters
    ----------
    rng
        Source of the lattice values.
    shape
        ``(height, width)`` in pixels.
    cell
        Lattice spacing of the coarsest octave in pixels; each further octave halves it.
    octaves
        Number of octaves (>= 1).
    persistence
        Amplitude factor from one octave to the next (``0 < persistence <= 1``).
    anisotropy
        Ratio of the horizontal to the vertical cell size (> 1 gives horizontal streaks).

    Returns
    -------
    numpy.ndarray
        ``float32`` array of ``shape`` stretched to span ``[0, 1]`` exactly.
    """
    if octaves < 1:
        raise ValueError(f"octaves must be >= 1, got {octaves}")
    if not 0.0 < persistence <= 1.0:
        raise ValueError(f"persistence must be in (0, 1], got {persistence}")
    if anisotropy <= 0.0:
        raise ValueError(f"anisotropy must be > 0, got {anisotropy}")
    total = np.zeros(_check_shape(shape), np.float32)
    amplitude = 1.0
    for octave in range(octaves):
        size = max(1.0, cell / 2**octave)
        total += amplitude * value_noise(rng, shape, (size, size * anisotropy))
        amplitude *= persistence
    low, high = float(total.min()), float(total.max())
    if high - low < 1e-12:
        return np.full_like(total, 0.5)
    return (total - low) / (high - low)


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """Hermite step from 0 at ``edge0`` to 1 at ``edge1`` (``edge0 < edge1``), element-wise."""
    if not edge1 > edge0:
        raise ValueError(f"smoothstep needs edge0 < edge1, got {edge0} and {edge1}")
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Blend ``a`` to ``b`` by ``t`` (an ``(H, W)`` weight broadcasts over RGB channels)."""
    if t.ndim == 2 and a.ndim == 3:
        t = t[..., None]
    return (a + (b - a) * t).astype(np.float32)


def blur(
    image: np.ndarray, sigma: float, motion_px: float = 0.0, motion_angle_deg: float = 0.0
) -> np.ndarray:
    """Gaussian defocus blur optionally followed by a linear motion blur.

    Parameters
    ----------
    image
        ``float32`` image or field.
    sigma
        Gaussian standard deviation in pixels; ``<= 0`` skips it.
    motion_px
        Length of the motion-blur kernel in pixels; ``< 1`` skips it.
    motion_angle_deg
        Direction of the motion in degrees (0 = along +x).

    Returns
    -------
    numpy.ndarray
        The blurred ``float32`` image.
    """
    out = image.astype(np.float32, copy=True)
    if sigma > 0.0:
        out = cv2.GaussianBlur(out, (0, 0), sigmaX=float(sigma), borderType=cv2.BORDER_REFLECT)
    if motion_px >= 1.0:
        size = math.ceil(motion_px) | 1
        kernel = np.zeros((size, size), np.float32)
        centre = size // 2
        dx = math.cos(math.radians(motion_angle_deg)) * motion_px / 2.0
        dy = math.sin(math.radians(motion_angle_deg)) * motion_px / 2.0
        cv2.line(
            kernel,
            (round(centre - dx), round(centre - dy)),
            (round(centre + dx), round(centre + dy)),
            1.0,
            1,
            cv2.LINE_AA,
        )
        kernel /= max(float(kernel.sum()), 1e-6)
        out = cv2.filter2D(out, -1, kernel, borderType=cv2.BORDER_REFLECT)
    return out


def adjust_exposure(image: np.ndarray, gain: float, gamma: float = 1.0, black: float = 0.0) -> np.ndarray:
    """Exposure change: ``((image * gain - black) clipped to [0, 1]) ** gamma``.

    A gain above 1 over-exposes (bright regions saturate), below 1 under-exposes; ``gamma``
    bends the tone curve and ``black`` lifts or crushes the black level.
    """
    if gain <= 0.0 or gamma <= 0.0:
        raise ValueError(f"gain and gamma must be > 0, got gain={gain}, gamma={gamma}")
    out = np.clip(image * np.float32(gain) - np.float32(black), 0.0, 1.0)
    return np.power(out, np.float32(gamma)).astype(np.float32)


def vignette(image: np.ndarray, strength: float, centre: tuple[float, float] | None = None) -> np.ndarray:
    """Darken towards the corners: gain ``1 - strength * r^2`` with ``r = 1`` at the farthest corner.

    Parameters
    ----------
    image
        ``float32`` image ``(H, W)`` or ``(H, W, C)``.
    strength
        Fraction of brightness lost at the farthest corner, in ``[0, 1]``.
    centre
        Optical centre ``(x, y)`` in pixels; the image centre when ``None``.
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"vignette strength must be in [0, 1], got {strength}")
    height, width = image.shape[:2]
    cx, cy = centre if centre is not None else ((width - 1) / 2.0, (height - 1) / 2.0)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    r2 = (xs - cx) ** 2 + (ys - cy) ** 2
    corners = [(0, 0), (width - 1, 0), (0, height - 1), (width - 1, height - 1)]
    r2_max = max((x - cx) ** 2 + (y - cy) ** 2 for x, y in corners)
    gain = 1.0 - strength * r2 / max(r2_max, 1e-6)
    if image.ndim == 3:
        gain = gain[..., None]
    return (image * gain).astype(np.float32)


def add_glare(
    image: np.ndarray,
    rng: np.random.Generator,
    count: int = 1,
    strength: float = 0.6,
    radius_frac: tuple[float, float] = (0.05, 0.25),
    colour: tuple[float, float, float] = (1.0, 0.95, 0.85),
) -> np.ndarray:
    """Add bright lens-glare blobs (a Gaussian core with a wider halo and a faint streak).

    Parameters
    ----------
    image
        ``float32`` RGB image.
    rng
        Source of positions and sizes.
    count
        Number of glare sources.
    strength
        Peak added intensity of the brightest source.
    radius_frac
        Range of the core radius as a fraction of the image diagonal.
    colour
        RGB tint of the glare.
    """
    height, width = image.shape[:2]
    diagonal = math.hypot(height, width)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    light = np.zeros((height, width), np.float32)
    for _ in range(count):
        cx, cy = rng.uniform(-0.1, 1.1) * width, rng.uniform(-0.1, 1.1) * height
        radius = rng.uniform(*radius_frac) * diagonal
        peak = strength * rng.uniform(0.4, 1.0)
        r2 = ((xs - cx) ** 2 + (ys - cy) ** 2) / np.float32(radius**2)
        light += peak * (np.exp(-r2) + 0.25 * np.exp(-r2 / 9.0))
        # A faint anamorphic streak through the source.
        angle = rng.uniform(0.0, math.pi)
        dist = np.abs((xs - cx) * math.sin(angle) - (ys - cy) * math.cos(angle))
        light += 0.15 * peak * np.exp(-((dist / (0.08 * radius + 1.0)) ** 2)) * np.exp(-r2 / 25.0)
    return (image + light[..., None] * np.asarray(colour, np.float32)).astype(np.float32)


def add_smoke(
    image: np.ndarray,
    rng: np.random.Generator,
    density: float,
    colour: tuple[float, float, float] = (0.55, 0.5, 0.45),
) -> np.ndarray:
    """Veil the image with drifting smoke or fume: a fractal-noise mask blending towards ``colour``.

    Parameters
    ----------
    image
        ``float32`` RGB image.
    rng
        Source of the smoke pattern.
    density
        Peak opacity of the smoke in ``[0, 1]``.
    colour
        RGB colour of the smoke (lit smoke in a furnace is warm and bright, cold fume grey).
    """
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"smoke density must be in [0, 1], got {density}")
    height, width = image.shape[:2]
    pattern = fractal_noise(rng, (height, width), cell=max(height, width) / 3.0, octaves=5, anisotropy=1.6)
    opacity = density * smoothstep(0.3, 1.0, pattern)
    veil = np.broadcast_to(np.asarray(colour, np.float32), image.shape)
    return lerp(image, veil, opacity)


def add_sensor_noise(
    image: np.ndarray, rng: np.random.Generator, read_sigma: float, shot_scale: float = 0.0
) -> np.ndarray:
    """Add sensor noise: Gaussian read noise plus signal-dependent (Poisson-like) shot noise.

    Parameters
    ----------
    image
        ``float32`` image in ``[0, 1]``.
    rng
        Source of the noise.
    read_sigma
        Standard deviation of the signal-independent noise.
    shot_scale
        Shot-noise standard deviation at full scale; the noise is ``shot_scale * sqrt(signal)``.
    """
    if read_sigma < 0.0 or shot_scale < 0.0:
        raise ValueError(f"noise levels must be >= 0, got read_sigma={read_sigma}, shot_scale={shot_scale}")
    signal = np.clip(image, 0.0, 1.0)
    sigma = np.float32(read_sigma) + np.float32(shot_scale) * np.sqrt(signal)
    return (image + sigma * rng.standard_normal(image.shape, dtype=np.float32)).astype(np.float32)


def line_integral_convolution(
    noise: np.ndarray, direction: np.ndarray, steps: int = 12, step_px: float = 1.0
) -> np.ndarray:
    """Smear ``noise`` along a direction field (line integral convolution).

    Streaks form along the field lines, which is how columnar grains, brushed metal or flow
    patterns are drawn.

    Parameters
    ----------
    noise
        ``float32`` ``(H, W)`` field to smear (usually white or fine value noise).
    direction
        ``float32`` ``(H, W, 2)`` unit vectors ``(dx, dy)``; zero vectors leave the pixel as is.
    steps
        Number of integration steps in each direction along the field line.
    step_px
        Step length in pixels.

    Returns
    -------
    numpy.ndarray
        ``float32`` ``(H, W)`` average of ``noise`` along each pixel's field line.
    """
    height, width = noise.shape
    if direction.shape != (height, width, 2):
        raise ValueError(f"direction must have shape {(height, width, 2)}, got {direction.shape}")
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    total = noise.astype(np.float32, copy=True)
    dir_x = np.ascontiguousarray(direction[..., 0], dtype=np.float32)
    dir_y = np.ascontiguousarray(direction[..., 1], dtype=np.float32)
    for sign in (1.0, -1.0):
        px, py = xs.copy(), ys.copy()
        for _ in range(steps):
            vx = cv2.remap(dir_x, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            vy = cv2.remap(dir_y, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            px += np.float32(sign * step_px) * vx
            py += np.float32(sign * step_px) * vy
            total += cv2.remap(noise, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return total / np.float32(2 * steps + 1)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Convert a ``float32`` image in ``[0, 1]`` to ``uint8`` (clipped, rounded half up)."""
    return np.clip(image * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8)
