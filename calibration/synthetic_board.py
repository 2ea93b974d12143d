"""Synthetic calibration images with an exactly known camera: checkerboards, ChArUco boards, rulers, tubes.

Used by the tests (recovering a known camera matrix and distortion) and by ``steelsight-calibrate
demo`` (a folder of images to practise the steps on).

How a view is rendered: a plane in front of the camera carries a pattern defined in its own
coordinates ``(X, Y)`` in mm (a checkerboard, a texture, ...). For every pixel of the image,
sampled 3 x 3 times per pixel (super-sampling), the pixel is undistorted through the camera's
distortion (``cv2.undistortPoints`` iterated to convergence and checked against
``cv2.projectPoints``), its ray is intersected with the plane through the inverse of the
plane-to-image homography ``K^-1``-normalized ``[r1 r2 t]``, and the pattern is evaluated at that
plane point. The 3 x 3 samples are averaged (a box filter, i.e. the pixel's area), the optics'
blur and sensor noise are added, and the result is quantized to 8 bits. The projection of the
pattern's points through ``cv2.projectPoints`` therefore lands where the image shows them, to
a small fraction of a pixel.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

__all__ = [
    "DEMO_PLANE_POSE",
    "Camera",
    "PlanePose",
    "board_corners_mm",
    "board_pose_at",
    "demo_camera",
    "demo_views",
    "project_plane_points",
    "render_charuco",
    "render_checkerboard",
    "render_plane",
    "render_ruler",
    "render_tube",
    "write_demo",
]

log = logging.getLogger(__name__)

SUPERSAMPLE = 3
"""Samples per pixel along each axis."""
_UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-12)
_MAX_INVERSE_ERROR_PX = 1e-3

ShadeFn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""``shade(X, Y, wx, wy) -> intensity`` on the plane (mm -> 0..255 float), NaN where the plane shows nothing.

``wx, wy`` are the extents (mm) along plane X and Y of the image area one sample stands for; a
shade function averages its pattern over that footprint (analytic anti-aliasing), so edges land
where they are to a small fraction of a pixel instead of on the sample grid."""


def _coverage(distance: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Fraction of a footprint of ``width`` centred ``distance`` inside an edge (> 0 inside)."""
    return np.clip(0.5 + distance / np.maximum(width, 1e-12), 0.0, 1.0)


def _smooth_sign(t: np.ndarray, width: np.ndarray) -> np.ndarray:
    """The box average over ``width`` of ``(-1) ** floor(t)`` (lines at integers, ``width`` in units of t)."""
    sign = np.where(np.floor(t) % 2 == 0, 1.0, -1.0)
    edge = np.abs(t - np.round(t))
    return sign * np.minimum(1.0, 2.0 * edge / np.maximum(width, 1e-12))


@dataclass(frozen=True)
class Camera:
    """A pinhole camera with OpenCV distortion.

    Attributes
    ----------
    matrix
        ``K``, 3 x 3.
    dist
        Distortion coefficients ``(k1, k2, p1, p2, k3)``.
    size
        ``(height, width)`` in pixels.
    """

    matrix: np.ndarray
    dist: np.ndarray
    size: tuple[int, int]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready ``{camera_matrix, dist_coeffs, image_size}``."""
        return {
            "camera_matrix": np.asarray(self.matrix, np.float64).tolist(),
            "dist_coeffs": np.asarray(self.dist, np.float64).ravel().tolist(),
            "image_size": list(self.size),
        }


@dataclass(frozen=True)
class PlanePose:
    """Where a plane lies in the camera frame: ``X_cam = R(rvec) @ (X, Y, 0) + tvec`` (mm)."""

    rvec: np.ndarray
    tvec: np.ndarray

    @classmethod
    def from_angles(
        cls, rx_deg: float, ry_deg: float, rz_deg: float, tx: float, ty: float, tz: float
    ) -> PlanePose:
        """The pose with rotation ``Rz @ Ry @ Rx`` (degrees) and translation ``(tx, ty, tz)`` mm."""
        ax, ay, az = (math.radians(v) for v in (rx_deg, ry_deg, rz_deg))
        rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
        ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
        rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
        rvec, _ = cv2.Rodrigues(rz @ ry @ rx)
        return cls(rvec.reshape(3), np.array([tx, ty, tz], dtype=np.float64))

    def in_plane(self, angle_deg: float, dx: float, dy: float) -> PlanePose:
        """The pose of a pattern lying on this plane, turned by ``angle_deg`` and moved by ``(dx, dy)`` mm."""
        a = math.radians(angle_deg)
        rot, _ = cv2.Rodrigues(np.asarray(self.rvec, np.float64))
        local = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
        rvec, _ = cv2.Rodrigues(rot @ local)
        tvec = rot @ np.array([dx, dy, 0.0]) + np.asarray(self.tvec, np.float64)
        return PlanePose(rvec.reshape(3), tvec)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready ``{rvec, tvec}``."""
        return {"rvec": np.asarray(self.rvec).tolist(), "tvec": np.asarray(self.tvec).tolist()}


def demo_camera() -> Camera:
    """The camera of the tests and the demo: 640 x 480, fx 620, fy 619, barrel distortion."""
    k = np.array([[620.0, 0.0, 322.0], [0.0, 619.0, 236.0], [0.0, 0.0, 1.0]])
    dist = np.array([-0.21, 0.07, 0.0012, -0.0009, -0.01])
    return Camera(k, dist, (480, 640))


DEMO_PLANE_POSE = PlanePose.from_angles(12.0, -8.0, 3.0, -20.0, -15.0, 620.0)
"""The measurement plane of the demo: 620 mm in front of the camera, tilted a little."""


@dataclass
class _Rays:
    """Undistorted normalized rays of every super-sample of a camera (cached per camera)."""

    x: np.ndarray
    y: np.ndarray


_RAY_CACHE: dict[bytes, _Rays] = {}


def _rays(camera: Camera) -> _Rays:
    key = (
        np.asarray(camera.matrix, np.float64).tobytes()
        + np.asarray(camera.dist, np.float64).tobytes()
        + np.asarray(camera.size, np.int64).tobytes()
    )
    cached = _RAY_CACHE.get(key)
    if cached is not None:
        return cached
    height, width = camera.size
    s = SUPERSAMPLE
    us = (np.arange(width * s, dtype=np.float64) + 0.5) / s - 0.5
    vs = (np.arange(height * s, dtype=np.float64) + 0.5) / s - 0.5
    grid_u, grid_v = np.meshgrid(us, vs)
    pixels = np.stack([grid_u.ravel(), grid_v.ravel()], axis=1)
    k = np.asarray(camera.matrix, np.float64)
    dist = np.asarray(camera.dist, np.float64)
    normalized = cv2.undistortPoints(pixels.reshape(-1, 1, 2), k, dist, criteria=_UNDISTORT_CRITERIA).reshape(
        -1, 2
    )
    # Check the inverse: projecting the rays again must give back the pixels.
    check = np.linspace(0, len(pixels) - 1, 4096).astype(np.int64)
    rays = np.concatenate([normalized[check], np.ones((len(check), 1))], axis=1)
    back, _ = cv2.projectPoints(rays, np.zeros(3), np.zeros(3), k, dist)
    error = float(np.max(np.abs(back.reshape(-1, 2) - pixels[check])))
    if error > _MAX_INVERSE_ERROR_PX:
        raise ValueError(
            f"the distortion {dist.tolist()} cannot be inverted over the {height}x{width} image (error "
            f"{error:.3g} px); use weaker distortion"
        )
    result = _Rays(normalized[:, 0].reshape(grid_u.shape), normalized[:, 1].reshape(grid_u.shape))
    _RAY_CACHE.clear()  # one camera at a time: the arrays are large
    _RAY_CACHE[key] = result
    return result


def render_plane(
    camera: Camera,
    pose: PlanePose,
    shade: ShadeFn,
    background: float = 95.0,
    blur_sigma: float = 0.0,
    noise_sigma: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """Render a plane pattern as the camera sees it.

    Parameters
    ----------
    camera
        The camera (its distortion included).
    pose
        The plane in the camera frame.
    shade
        The pattern: intensities ``0..255`` at plane points ``(X, Y)`` mm, NaN outside it.
    background
        Intensity where the plane shows nothing (outside the pattern or behind the camera).
    blur_sigma
        Gaussian blur of the optics, in pixels (0 = none).
    noise_sigma
        Gaussian sensor noise, in grey levels (0 = none).
    seed
        Seed of the noise.

    Returns
    -------
    np.ndarray
        ``uint8`` grey image ``(height, width)``.
    """
    rays = _rays(camera)
    rot, _ = cv2.Rodrigues(np.asarray(pose.rvec, np.float64))
    plane_to_norm = np.column_stack([rot[:, 0], rot[:, 1], np.asarray(pose.tvec, np.float64)])
    norm_to_plane = np.linalg.inv(plane_to_norm)
    xs, ys = rays.x, rays.y
    w = norm_to_plane[2, 0] * xs + norm_to_plane[2, 1] * ys + norm_to_plane[2, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        big_x = (norm_to_plane[0, 0] * xs + norm_to_plane[0, 1] * ys + norm_to_plane[0, 2]) / w
        big_y = (norm_to_plane[1, 0] * xs + norm_to_plane[1, 1] * ys + norm_to_plane[1, 2]) / w
    # A ray meets the plane in front of the camera when the depth of the hit point is positive;
    # depth = 1 / w for the normalized ray (x, y, 1) scaled to the plane.
    visible = w > 0
    # The footprint of one sample on the plane (its extent along plane X and Y, in mm).
    dxdv, dxdu = np.gradient(big_x)
    dydv, dydu = np.gradient(big_y)
    wx = np.abs(dxdu) + np.abs(dxdv)
    wy = np.abs(dydu) + np.abs(dydv)
    values = np.full(xs.shape, float(background), dtype=np.float64)
    if np.any(visible):
        shaded = shade(big_x[visible], big_y[visible], wx[visible], wy[visible])
        values[visible] = np.where(np.isnan(shaded), background, shaded)
    height, width = camera.size
    image = cv2.resize(values.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
    if blur_sigma > 0:
        image = cv2.GaussianBlur(image, (0, 0), blur_sigma)
    if noise_sigma > 0:
        rng = np.random.default_rng(seed)
        image = image + rng.normal(0.0, noise_sigma, image.shape).astype(np.float32)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def checker_shade(
    cols: int,
    rows: int,
    square_mm: float,
    dark: float = 30.0,
    light: float = 215.0,
    margin_squares: float = 0.8,
) -> ShadeFn:
    """A checkerboard of ``cols x rows`` inner corners, the first inner corner at plane ``(0, 0)``.

    The board has ``(cols + 1) x (rows + 1)`` squares (the corner squares dark) and a light
    margin of ``margin_squares`` squares around them; NaN beyond.
    """

    def shade(x: np.ndarray, y: np.ndarray, wx: np.ndarray, wy: np.ndarray) -> np.ndarray:
        tx, ty = x / square_mm, y / square_mm
        inside = (tx >= -1) & (tx <= cols) & (ty >= -1) & (ty <= rows)
        product = _smooth_sign(tx, wx / square_mm) * _smooth_sign(ty, wy / square_mm)
        values = light + (dark - light) * (1.0 + product) / 2.0
        values = np.where(inside, values, light)
        lo_x, hi_x = -square_mm * (1 + margin_squares), square_mm * (cols + margin_squares)
        lo_y, hi_y = -square_mm * (1 + margin_squares), square_mm * (rows + margin_squares)
        on_board = (x >= lo_x) & (x <= hi_x) & (y >= lo_y) & (y <= hi_y)
        return np.where(on_board, values, np.nan)

    return shade


def texture_shade(
    texture: np.ndarray, mm_per_texel: float, origin_mm: tuple[float, float] = (0.0, 0.0)
) -> ShadeFn:
    """A grey texture on the plane: texel (i, j) centred at origin + mm_per_texel * (j + 0.5, i + 0.5)."""
    tex = np.asarray(texture, dtype=np.float32)
    height, width = tex.shape[:2]

    def shade(x: np.ndarray, y: np.ndarray, wx: np.ndarray, wy: np.ndarray) -> np.ndarray:
        del wx, wy  # bilinear sampling of a finer texture is smooth enough
        u = ((x - origin_mm[0]) / mm_per_texel - 0.5).astype(np.float32)
        v = ((y - origin_mm[1]) / mm_per_texel - 0.5).astype(np.float32)
        inside = (u >= -0.5) & (u <= width - 0.5) & (v >= -0.5) & (v <= height - 0.5)
        # cv2.remap wants maps below 32767 x 32767: lay the samples out in rows of 4096.
        n = u.size
        rows = -(-n // 4096)
        map_u = np.full(rows * 4096, -10.0, np.float32)
        map_v = np.full(rows * 4096, -10.0, np.float32)
        map_u[:n], map_v[:n] = u.ravel(), v.ravel()
        sampled = (
            cv2.remap(
                tex,
                map_u.reshape(rows, 4096),
                map_v.reshape(rows, 4096),
                cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REPLICATE,
            )
            .ravel()[:n]
            .reshape(u.shape)
        )
        return np.where(inside, sampled.astype(np.float64), np.nan)

    return shade


def project_plane_points(camera: Camera, pose: PlanePose, points_mm: np.ndarray) -> np.ndarray:
    """Image ``(x, y)`` of plane points ``(X, Y)`` mm (``cv2.projectPoints`` with the distortion)."""
    pts = np.asarray(points_mm, dtype=np.float64).reshape(-1, 2)
    obj = np.concatenate([pts, np.zeros((len(pts), 1))], axis=1)
    image, _ = cv2.projectPoints(
        obj, np.asarray(pose.rvec, np.float64), np.asarray(pose.tvec, np.float64), camera.matrix, camera.dist
    )
    return image.reshape(-1, 2)


def board_corners_mm(cols: int, rows: int, square_mm: float) -> np.ndarray:
    """Inner corners ``(X, Y)`` mm, row by row (as OpenCV orders them)."""
    grid = np.mgrid[0:cols, 0:rows].T.reshape(-1, 2).astype(np.float64)
    return grid * square_mm


def render_checkerboard(
    camera: Camera,
    pose: PlanePose,
    cols: int = 9,
    rows: int = 6,
    square_mm: float = 25.0,
    blur_sigma: float = 0.6,
    noise_sigma: float = 2.0,
    seed: int = 0,
) -> np.ndarray:
    """A checkerboard view (grey ``uint8``); see :func:`render_plane` and :func:`checker_shade`."""
    return render_plane(
        camera,
        pose,
        checker_shade(cols, rows, square_mm),
        blur_sigma=blur_sigma,
        noise_sigma=noise_sigma,
        seed=seed,
    )


def charuco_texture(
    squares_x: int, squares_y: int, dictionary_name: str, marker_ratio: float = 0.7, px_per_square: int = 60
) -> np.ndarray:
    """The printable image of a ChArUco board (``cv2.aruco``), one square = ``px_per_square`` texels."""
    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, dictionary_name))
    board = cv2.aruco.CharucoBoard((squares_x, squares_y), 1.0, marker_ratio, dictionary)
    return board.generateImage((squares_x * px_per_square, squares_y * px_per_square), marginSize=0)


def render_charuco(
    camera: Camera,
    pose: PlanePose,
    squares_x: int,
    squares_y: int,
    square_mm: float,
    dictionary_name: str = "DICT_5X5_100",
    marker_ratio: float = 0.7,
    blur_sigma: float = 0.6,
    noise_sigma: float = 2.0,
    seed: int = 0,
) -> np.ndarray:
    """A ChArUco board view; the board's top-left outer corner at plane ``(0, 0)`` (as ``cv2.aruco``)."""
    px = 60
    texture = charuco_texture(squares_x, squares_y, dictionary_name, marker_ratio, px).astype(np.float32)
    texture = 30.0 + texture * (185.0 / 255.0)
    margin = px // 2
    texture = cv2.copyMakeBorder(texture, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=215.0)
    mm_per_texel = square_mm / px
    shade = texture_shade(texture, mm_per_texel, (-margin * mm_per_texel, -margin * mm_per_texel))
    return render_plane(camera, pose, shade, blur_sigma=blur_sigma, noise_sigma=noise_sigma, seed=seed)


def render_ruler(
    camera: Camera,
    pose: PlanePose,
    p0_mm: tuple[float, float],
    p1_mm: tuple[float, float],
    mark_radius_mm: float = 3.0,
    blur_sigma: float = 0.6,
    noise_sigma: float = 2.0,
    seed: int = 0,
) -> np.ndarray:
    """A light plate on the plane with two dark round marks (a known length between their centres)."""
    a = np.asarray(p0_mm, np.float64)
    b = np.asarray(p1_mm, np.float64)
    lo = np.minimum(a, b) - 40.0
    hi = np.maximum(a, b) + 40.0

    def shade(x: np.ndarray, y: np.ndarray, wx: np.ndarray, wy: np.ndarray) -> np.ndarray:
        plate = (x >= lo[0]) & (x <= hi[0]) & (y >= lo[1]) & (y <= hi[1])
        width = 0.5 * (wx + wy)
        mark = np.maximum(
            _coverage(mark_radius_mm - np.hypot(x - a[0], y - a[1]), width),
            _coverage(mark_radius_mm - np.hypot(x - b[0], y - b[1]), width),
        )
        values = 205.0 + (25.0 - 205.0) * mark
        return np.where(plate, values, np.nan)

    return render_plane(camera, pose, shade, blur_sigma=blur_sigma, noise_sigma=noise_sigma, seed=seed)


def render_tube(
    camera: Camera,
    pose: PlanePose,
    diameter_mm: float,
    centre_x_mm: float = 0.0,
    angle_deg: float = 0.0,
    blur_sigma: float = 0.8,
    noise_sigma: float = 2.0,
    seed: int = 0,
) -> np.ndarray:
    """A bright straight tube (a band ``diameter_mm`` wide) on a dark background, on the plane.

    The band's centre line passes through plane ``(centre_x_mm, 0)`` and runs along plane
    ``(sin a, cos a)`` for ``a = angle_deg``.
    """
    a = math.radians(angle_deg)
    normal = (math.cos(a), -math.sin(a))

    def shade(x: np.ndarray, y: np.ndarray, wx: np.ndarray, wy: np.ndarray) -> np.ndarray:
        distance = (x - centre_x_mm) * normal[0] + y * normal[1]
        width = abs(normal[0]) * wx + abs(normal[1]) * wy
        tube = _coverage(diameter_mm / 2.0 - np.abs(distance), width)
        return 55.0 + (200.0 - 55.0) * tube

    return render_plane(camera, pose, shade, blur_sigma=blur_sigma, noise_sigma=noise_sigma, seed=seed)


def board_pose_at(
    camera: Camera,
    angles_deg: tuple[float, float, float],
    pixel: tuple[float, float],
    depth_mm: float,
    centre_mm: tuple[float, float],
) -> PlanePose:
    """The pose that puts plane point ``centre_mm`` on the ray of image ``pixel`` at ``depth_mm``.

    ``angles_deg`` are the rotations ``(rx, ry, rz)`` of :meth:`PlanePose.from_angles`.
    """
    ray = cv2.undistortPoints(
        np.array([[pixel]], np.float64), camera.matrix, camera.dist, criteria=_UNDISTORT_CRITERIA
    ).reshape(2)
    rotated = PlanePose.from_angles(*angles_deg, 0.0, 0.0, 0.0)
    rot, _ = cv2.Rodrigues(rotated.rvec)
    target = depth_mm * np.array([ray[0], ray[1], 1.0])
    return PlanePose(rotated.rvec, target - rot @ np.array([centre_mm[0], centre_mm[1], 0.0]))


_DEMO_VIEW_TABLE = (
    # rx, ry, rz (deg), board centre at image (u, v), depth mm
    (0.0, 0.0, 0.0, 320.0, 240.0, 520.0),
    (20.0, -20.0, 5.0, 215.0, 160.0, 560.0),
    (-20.0, 20.0, -5.0, 425.0, 160.0, 560.0),
    (20.0, 20.0, 10.0, 215.0, 320.0, 560.0),
    (-20.0, -20.0, -10.0, 425.0, 320.0, 560.0),
    (30.0, 0.0, 0.0, 320.0, 250.0, 500.0),
    (0.0, 32.0, 0.0, 320.0, 240.0, 520.0),
    (5.0, -30.0, 25.0, 300.0, 230.0, 540.0),
    (-30.0, 5.0, -20.0, 330.0, 230.0, 520.0),
    (-15.0, -15.0, 90.0, 320.0, 240.0, 620.0),
    (25.0, 15.0, -30.0, 330.0, 245.0, 560.0),
    (-10.0, 25.0, 40.0, 310.0, 235.0, 600.0),
)


def demo_views(count: int = 10, centre_mm: tuple[float, float] = (100.0, 62.5)) -> list[PlanePose]:
    """``count`` (up to 12) board poses spread over the demo camera's image, the board fully inside.

    ``centre_mm`` is the board point put at the chosen pixels: the default is the centre of the
    demo's 9 x 6 checkerboard with 25 mm squares; a 7 x 5 ChArUco board of 30 mm squares has
    ``(105, 75)``.
    """
    if not 1 <= count <= len(_DEMO_VIEW_TABLE):
        raise ValueError(f"demo_views: count must be 1..{len(_DEMO_VIEW_TABLE)}, got {count}")
    camera = demo_camera()
    return [
        board_pose_at(camera, (rx, ry, rz), (u, v), z, centre_mm)
        for rx, ry, rz, u, v, z in _DEMO_VIEW_TABLE[:count]
    ]


def write_demo(out_dir: str | Path, views: int = 10, seed: int = 0) -> dict[str, Any]:
    """Write a folder of demo images for every calibration step, and ``truth.json`` beside them.

    Layout: ``views/view_NN.png`` (checkerboard 9 x 6 inner corners, 25 mm squares),
    ``plane_board.png`` (the board lying on the measurement plane), ``verify_board.png`` (the
    board moved on that plane), ``ruler.png`` (two marks 200 mm apart on the plane) and
    ``tube.png`` (a tube of 120 mm diameter on the plane).

    Returns
    -------
    dict
        The truth: the camera, the plane pose, the ruler's image points and length, and where
        each file is.
    """
    out = Path(out_dir)
    (out / "views").mkdir(parents=True, exist_ok=True)
    camera = demo_camera()
    for i, pose in enumerate(demo_views(views)):
        image = render_checkerboard(camera, pose, seed=seed + i)
        cv2.imwrite(str(out / "views" / f"view_{i:02d}.png"), image)
    plane = DEMO_PLANE_POSE
    board_pose = plane.in_plane(0.0, -100.0, -60.0)
    cv2.imwrite(str(out / "plane_board.png"), render_checkerboard(camera, board_pose, seed=seed + 100))
    verify_pose = plane.in_plane(8.0, -85.0, -75.0)
    cv2.imwrite(str(out / "verify_board.png"), render_checkerboard(camera, verify_pose, seed=seed + 101))
    ruler_a, ruler_b = (-60.0, 45.0), (100.0, -75.0)
    ruler_pose = board_pose  # the ruler lies on the plane, in the scale board's coordinates
    length = math.dist(ruler_a, ruler_b)
    cv2.imwrite(str(out / "ruler.png"), render_ruler(camera, ruler_pose, ruler_a, ruler_b, seed=seed + 102))
    ruler_px = project_plane_points(camera, ruler_pose, np.array([ruler_a, ruler_b]))
    tube_pose = PlanePose.from_angles(0.0, 0.0, 0.0, 0.0, 0.0, 900.0)
    cv2.imwrite(str(out / "tube.png"), render_tube(camera, tube_pose, 120.0, 10.0, 4.0, seed=seed + 103))
    tube_a, tube_b = (-30.0, -50.0), (50.0, 10.0)
    cv2.imwrite(str(out / "tube_ruler.png"), render_ruler(camera, tube_pose, tube_a, tube_b, seed=seed + 104))
    tube_ruler_px = project_plane_points(camera, tube_pose, np.array([tube_a, tube_b]))
    truth = {
        "camera": camera.to_json(),
        "pattern": "9x6",
        "square_mm": 25.0,
        "plane_pose": plane.to_json(),
        "board_pose": board_pose.to_json(),
        "ruler": {"points_px": np.round(ruler_px, 2).tolist(), "length_mm": round(length, 3)},
        "tube": {
            "diameter_mm": 120.0,
            "axis_deg": 4.0,
            "plane_pose": tube_pose.to_json(),
            "mm_per_px_x": float(tube_pose.tvec[2] / camera.matrix[0, 0]),
            "ruler": {
                "points_px": np.round(tube_ruler_px, 2).tolist(),
                "length_mm": math.dist(tube_a, tube_b),
            },
        },
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    log.info("wrote demo calibration images to %s", out)
    return truth
