"""Pixel-to-millimetre geometry of a calibration: homographies and local scale.

Image coordinates follow OpenCV: ``x`` to the right, ``y`` down, pixel centres at integer
``(x, y)``; a frame of ``height x width`` pixels covers ``[-0.5, width - 0.5] x [-0.5, height -
0.5]``. A homography ``H`` (3 x 3) maps image pixels to the measurement plane in mm:
``(X, Y, W) = H @ (x, y, 1)`` and the plane point is ``(X / W, Y / W)``.

Pure numpy; used by :mod:`calibration.calibration_file` to validate and apply a scale.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "apply_homography",
    "denominators",
    "direction_vector",
    "image_corners",
    "normalized_condition",
]

_SQRT2 = math.sqrt(2.0)


def image_corners(height: int, width: int) -> np.ndarray:
    """The four outer corners of a ``height x width`` image, ``(4, 2)`` as ``(x, y)``, clockwise."""
    x0, y0, x1, y1 = -0.5, -0.5, width - 0.5, height - 0.5
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def denominators(h: np.ndarray, points_xy: np.ndarray) -> np.ndarray:
    """The projective denominator ``W = h[2] @ (x, y, 1)`` of each ``(N, 2)`` point."""
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    return pts @ h[2, :2] + h[2, 2]


def apply_homography(h: np.ndarray, points_xy: np.ndarray) -> np.ndarray:
    """Map ``(N, 2)`` image points through the 3 x 3 homography ``h``.

    Parameters
    ----------
    h
        The homography, image pixels to plane coordinates.
    points_xy
        Points ``(x, y)``, shape ``(N, 2)``.

    Returns
    -------
    np.ndarray
        The mapped points, ``(N, 2)`` float64 (infinite where a point lies on the vanishing line).
    """
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    h = np.asarray(h, dtype=np.float64)
    mapped = pts @ h[:2, :2].T + h[:2, 2]
    w = denominators(h, pts)
    with np.errstate(divide="ignore", invalid="ignore"):
        return mapped / w[:, None]


def _normalizer(points_xy: np.ndarray) -> np.ndarray:
    """The similarity that moves the points' centroid to 0 and their mean distance to sqrt(2)."""
    centre = points_xy.mean(axis=0)
    spread = float(np.mean(np.linalg.norm(points_xy - centre, axis=1)))
    s = _SQRT2 / spread
    return np.array([[s, 0.0, -s * centre[0]], [0.0, s, -s * centre[1]], [0.0, 0.0, 1.0]])


def normalized_condition(h: np.ndarray, height: int, width: int) -> float:
    """Condition number of ``h`` with both sides normalized (Hartley), over the image.

    The raw condition number of a pixel-to-mm homography depends on the units and on where the
    plane origin lies, so it says nothing about the mapping itself. Here the image corners and
    their images on the plane are each moved to a centroid of 0 and a mean distance of sqrt(2)
    before the ratio of the largest to the smallest singular value is taken: a similarity
    (scale, rotation, translation) gives 1, a strong perspective a few tens, a (nearly) singular
    mapping a huge number. The caller must have checked that ``h`` maps the whole image to
    finite points (see :func:`denominators`).

    Parameters
    ----------
    h
        The image-to-plane homography.
    height, width
        The image size in pixels.

    Returns
    -------
    float
        ``sigma_max / sigma_min`` of the normalized homography (``inf`` when singular).
    """
    corners = image_corners(height, width)
    plane = apply_homography(h, corners)
    if not np.all(np.isfinite(plane)):
        return math.inf
    spread = float(np.mean(np.linalg.norm(plane - plane.mean(axis=0), axis=1)))
    if spread <= 0.0:
        return math.inf
    hn = _normalizer(plane) @ np.asarray(h, dtype=np.float64) @ np.linalg.inv(_normalizer(corners))
    sv = np.linalg.svd(hn, compute_uv=False)
    return math.inf if sv[-1] <= 0.0 else float(sv[0] / sv[-1])


def direction_vector(angle_deg: float) -> np.ndarray:
    """The unit image vector ``(sin a, cos a)`` of the axis angle ``a`` (0 = straight down the image)."""
    a = math.radians(angle_deg)
    return np.array([math.sin(a), math.cos(a)], dtype=np.float64)
