"""Plain references for the preprocessing tests: what the trainer does, written out step by step."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from edge.preprocess import PreprocessSpec, UndistortMaps, preprocess_cpu
from edge.preprocess.tables import resize_tables

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def random_frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A BGR uint8 frame of noise on a gradient (hard for any resampling shortcut)."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    return ((noise.astype(np.float32) * 0.6 + ramp * 0.4).round()).astype(np.uint8)


def camera(height: int, width: int, k1: float = -0.28) -> UndistortMaps:
    """Undistortion maps of a plausible camera (barrel for k1 < 0, pincushion for k1 > 0)."""
    focal = 0.9 * width
    matrix = np.array([[focal, 0.0, width / 2 + 3.3], [0.0, focal * 1.01, height / 2 - 2.7], [0.0, 0.0, 1.0]])
    return UndistortMaps.from_calibration(matrix, (k1, 0.09, 0.001, -0.0005, -0.01), (height, width))


def reference(image: np.ndarray, spec: PreprocessSpec, maps: UndistortMaps | None = None) -> np.ndarray:
    """The trainer's preprocessing done plainly: remap, crop, cv2.resize, RGB, (x/255 - mean)/std, CHW."""
    if maps is not None:
        image = cv2.remap(
            image, maps.map_x, maps.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )
    x, y, w, h = spec.roi if spec.roi is not None else (0, 0, image.shape[1], image.shape[0])
    crop = image[y : y + h, x : x + w]
    flag = {"bilinear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST_EXACT, "area": cv2.INTER_AREA}
    resized = cv2.resize(crop, (spec.width, spec.height), interpolation=flag[spec.resize])
    if spec.color == "RGB":
        resized = resized[:, :, ::-1]
    pixels = resized.astype(np.float32) / np.float32(255.0)
    normalized = (pixels - np.asarray(spec.mean, dtype=np.float32)) / np.asarray(spec.std, dtype=np.float32)
    return np.ascontiguousarray(normalized.transpose(2, 0, 1)).astype(spec.dtype)


def emulate_remap(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """The kernel's undistortion in numpy: bilinear as three float32 fused multiply-adds, black outside.

    This is OpenCV 5's ``cv2.remap`` (``INTER_LINEAR``, ``BORDER_CONSTANT`` 0) on ``CV_32FC1`` maps;
    older OpenCV versions use 5-bit fixed-point weights and differ by a few grey levels.
    """
    height, width = image.shape[:2]
    fx = np.floor(map_x)
    fy = np.floor(map_y)
    ax = (map_x - fx).astype(np.float32)[..., None]
    ay = (map_y - fy).astype(np.float32)[..., None]
    sx = fx.astype(np.int64)
    sy = fy.astype(np.int64)
    pixels = image.astype(np.float32)

    def tap(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        inside = (xx >= 0) & (xx < width) & (yy >= 0) & (yy < height)
        value = pixels[np.clip(yy, 0, height - 1), np.clip(xx, 0, width - 1)]
        return np.where(inside[..., None], value, np.float32(0.0))

    def fma(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
        return (a.astype(np.float64) * b.astype(np.float64) + c.astype(np.float64)).astype(np.float32)

    p00, p01 = tap(sy, sx), tap(sy, sx + 1)
    p10, p11 = tap(sy + 1, sx), tap(sy + 1, sx + 1)
    row0 = fma(ax, p01 - p00, p00)
    row1 = fma(ax, p11 - p10, p10)
    value = fma(ay, row1 - row0, row0)
    return np.clip(np.rint(value), 0, 255).astype(np.uint8)


@functools.cache
def opencv_remap_is_float() -> bool:
    """Whether this OpenCV's ``cv2.remap`` computes what :func:`emulate_remap` (and the kernel) computes."""
    frame = random_frame(48, 64, seed=11)
    rng = np.random.default_rng(12)
    map_x = rng.uniform(-2.0, 66.0, (48, 64)).astype(np.float32)
    map_y = rng.uniform(-2.0, 50.0, (48, 64)).astype(np.float32)
    ours = emulate_remap(frame, map_x, map_y)
    theirs = cv2.remap(frame, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return bool(np.array_equal(ours, theirs))


def emulate_kernel(
    image: np.ndarray, xtab: np.ndarray, ytab: np.ndarray, maps: UndistortMaps | None = None
) -> np.ndarray:
    """The kernel's uint8 resize from its tap tables (OpenCV's fixed point), as an ``HxWx3`` image."""
    source = image if maps is None else emulate_remap(image, maps.map_x, maps.map_y)
    pixels = source.astype(np.int64)
    x0, x1, a0, a1 = (xtab[:, i].astype(np.int64) for i in range(4))
    y0, y1, b0, b1 = (ytab[:, i].astype(np.int64) for i in range(4))
    rows = pixels[:, x0] * a0[None, :, None] + pixels[:, x1] * a1[None, :, None]
    top, bottom = rows[y0], rows[y1]
    value = (((b0[:, None, None] * (top >> 4)) >> 16) + ((b1[:, None, None] * (bottom >> 4)) >> 16) + 2) >> 2
    return np.clip(value, 0, 255).astype(np.uint8)


def kernel_reference(frame: np.ndarray, spec: PreprocessSpec, maps: UndistortMaps | None) -> np.ndarray:
    """What the kernel must produce: the CPU path.

    Where this OpenCV's ``cv2.remap`` rounds differently from OpenCV 5's (which the kernel follows),
    undistorted frames are compared with the same recipe over the numpy emulation of the kernel's remap.
    """
    if maps is None or opencv_remap_is_float():
        return preprocess_cpu(frame, spec, undistort=maps)
    roi = spec.roi_in(*frame.shape[:2])
    xtab, ytab = resize_tables(roi, spec.height, spec.width, spec.resize)
    pixels = emulate_kernel(frame, xtab, ytab, maps)
    return np.stack([spec.lut[c][pixels[:, :, s]] for c, s in enumerate(spec.source_channels)])
