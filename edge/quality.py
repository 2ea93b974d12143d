"""The per-frame image-quality gate: is this frame fit to measure on?

:func:`assess_quality` looks at a small copy of the frame (area-averaged down to about
:attr:`QualityConfig.analysis_width` pixels wide, so the figures barely depend on the camera's
resolution and the whole check takes well under 2 ms for a 1080p frame) and measures:

``mean``
    Mean grey level (0..255); too dark or too bright frames fail.
``saturated``
    Fraction of pixels with any channel at or above :attr:`QualityConfig.saturation_level`.
``sharpness``
    Variance of the Laplacian of the grey image: low for a blurred, fogged or featureless view.
``occluded``
    Fraction of the view in 16x16-pixel tiles that are featureless (grey-level std at most
    :attr:`QualityConfig.occlusion_max_std`) and either near black (at most
    :attr:`QualityConfig.occlusion_dark`: a lens cap, tape, soot, a blocked window) or bright but
    not clipped (from :attr:`QualityConfig.occlusion_bright` up to the saturation level: a fogged or
    dust-covered window lit by the furnace). Clipped glow is left to the saturation check.

A frame that fails any check gets ``ok=False`` with one reason per failed check; downstream its
measurements are marked UNCERTAIN or BAD. The defaults suit furnace and weld cameras, whose
scenes legitimately hold dark backgrounds and some clipped glow; tune them per camera.
"""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass, fields

import cv2
import numpy as np

from edge.frame import QualityVerdict

__all__ = ["QualityConfig", "analysis_image", "assess_quality"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds of the image-quality gate.

    Attributes
    ----------
    min_mean_brightness, max_mean_brightness
        Accepted range of the mean grey level (0..255).
    max_saturated_fraction
        Largest accepted fraction of pixels at or above :attr:`saturation_level` in any channel.
    saturation_level
        Pixel value counted as clipped (1..255).
    min_sharpness
        Smallest accepted variance of the Laplacian of the grey analysis image.
    max_occluded_fraction
        Largest accepted fraction of featureless dark or bright tiles.
    occlusion_tile
        Tile size in pixels of the analysis image.
    occlusion_max_std
        A tile whose grey-level standard deviation is at most this is featureless.
    occlusion_dark
        A featureless tile with mean grey level at most this is dark (covered).
    occlusion_bright
        A featureless tile with mean grey level from this up to :attr:`saturation_level` is
        bright but not clipped (fogged).
    analysis_width
        Width in pixels the frame is area-averaged down to before measuring (frames narrower than
        this are measured as they are).
    """

    min_mean_brightness: float = 15.0
    max_mean_brightness: float = 240.0
    max_saturated_fraction: float = 0.5
    saturation_level: int = 250
    min_sharpness: float = 10.0
    max_occluded_fraction: float = 0.7
    occlusion_tile: int = 16
    occlusion_max_std: float = 2.0
    occlusion_dark: float = 12.0
    occlusion_bright: float = 235.0
    analysis_width: int = 320

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if item.type == "int":
                if not isinstance(value, numbers.Integral) or isinstance(value, bool):
                    raise ValueError(f"QualityConfig.{item.name} must be an integer, got {value!r}")
                object.__setattr__(self, item.name, int(value))
            else:
                if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
                    raise ValueError(f"QualityConfig.{item.name} must be a finite number, got {value!r}")
                object.__setattr__(self, item.name, float(value))
        for name in ("min_mean_brightness", "max_mean_brightness", "occlusion_dark", "occlusion_bright"):
            _check_range(self, name, 0.0, 255.0, "a grey level")
        for name in ("max_saturated_fraction", "max_occluded_fraction"):
            _check_range(self, name, 0.0, 1.0, "a fraction")
        _check_range(self, "saturation_level", 1, 255, "a pixel value")
        _check_range(self, "min_sharpness", 0.0, math.inf, "a Laplacian variance")
        _check_range(self, "occlusion_max_std", 0.0, 255.0, "a grey-level standard deviation")
        _check_range(self, "analysis_width", 32, 4096, "pixels")
        _check_range(self, "occlusion_tile", 2, self.analysis_width, "pixels of the analysis image")
        if self.min_mean_brightness >= self.max_mean_brightness:
            raise ValueError(
                f"QualityConfig.min_mean_brightness ({self.min_mean_brightness}) must be below "
                f"max_mean_brightness ({self.max_mean_brightness})"
            )
        if self.occlusion_dark >= self.occlusion_bright:
            raise ValueError(
                f"QualityConfig.occlusion_dark ({self.occlusion_dark}) must be below occlusion_bright "
                f"({self.occlusion_bright})"
            )


def analysis_image(image: np.ndarray, width: int = 320) -> np.ndarray:
    """Area-average a frame down to about ``width`` pixels wide (aspect ratio kept).

    Halves with ``INTER_AREA`` (OpenCV's fast 2x2 path, on an even crop) while the frame is at least
    twice as wide as ``width``, then area-resizes to ``width``. Frames narrower than ``width`` come
    back unchanged.
    """
    small = image
    while small.shape[1] >= 2 * width and small.shape[0] >= 4:
        height2, width2 = small.shape[0] // 2, small.shape[1] // 2
        small = cv2.resize(
            small[: 2 * height2, : 2 * width2], (width2, height2), interpolation=cv2.INTER_AREA
        )
    if small.shape[1] > width:
        height = max(1, round(small.shape[0] * width / small.shape[1]))
        small = cv2.resize(small, (width, height), interpolation=cv2.INTER_AREA)
    return small


def assess_quality(image: np.ndarray, config: QualityConfig | None = None) -> QualityVerdict:
    """Measure a frame and judge it against ``config``.

    Parameters
    ----------
    image
        ``HxWx3`` uint8 frame (BGR; the checks do not depend on the channel order beyond the grey
        conversion weights).
    config
        Thresholds; ``None`` uses the defaults.

    Returns
    -------
    edge.frame.QualityVerdict
        ``ok``, one reason per failed check with the figure and its threshold, e.g.
        ``"too dark (mean 8.2 < 15.0)"``, and the figures ``mean``, ``saturated``, ``sharpness``,
        ``occluded``.

    Raises
    ------
    ValueError
        When ``image`` is not an ``HxWx3`` uint8 array.
    """
    config = config if config is not None else QualityConfig()
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            "image must be a uint8 array of shape (H, W, 3), got "
            f"{getattr(image, 'dtype', type(image).__name__)} of shape {getattr(image, 'shape', None)}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty (shape {image.shape})")

    small = analysis_image(image, config.analysis_width)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    mean = float(cv2.mean(grey)[0])
    level = config.saturation_level - 1
    unclipped = cv2.countNonZero(cv2.inRange(small, (0, 0, 0), (level, level, level)))
    saturated = 1.0 - unclipped / float(grey.size)
    _, deviation = cv2.meanStdDev(cv2.Laplacian(grey, cv2.CV_32F))
    sharpness = float(deviation[0, 0]) ** 2
    occluded = _occluded_fraction(grey, config)

    figures = {
        "mean": round(mean, 3),
        "saturated": round(saturated, 5),
        "sharpness": round(sharpness, 3),
        "occluded": round(occluded, 5),
    }
    reasons = []
    if mean < config.min_mean_brightness:
        reasons.append(f"too dark (mean {mean:.1f} < {config.min_mean_brightness:.1f})")
    if mean > config.max_mean_brightness:
        reasons.append(f"too bright (mean {mean:.1f} > {config.max_mean_brightness:.1f})")
    if saturated > config.max_saturated_fraction:
        reasons.append(
            f"saturated ({saturated:.1%} of pixels >= {config.saturation_level} > "
            f"{config.max_saturated_fraction:.1%})"
        )
    if sharpness < config.min_sharpness:
        reasons.append(f"blurred or featureless (sharpness {sharpness:.1f} < {config.min_sharpness:.1f})")
    if occluded > config.max_occluded_fraction:
        reasons.append(
            f"occluded ({occluded:.1%} of the view dark or fogged and featureless > "
            f"{config.max_occluded_fraction:.1%})"
        )
    return QualityVerdict(ok=not reasons, reasons=tuple(reasons), figures=figures)


def _occluded_fraction(grey: np.ndarray, config: QualityConfig) -> float:
    """Fraction of tiles that are featureless and dark, or featureless and bright but not clipped."""
    tile = config.occlusion_tile
    rows, cols = grey.shape[0] // tile, grey.shape[1] // tile
    if rows == 0 or cols == 0:  # smaller than a tile: the image is one tile
        rows, cols, tile_h, tile_w = 1, 1, grey.shape[0], grey.shape[1]
    else:
        tile_h = tile_w = tile
    values = grey[: rows * tile_h, : cols * tile_w].astype(np.float32)
    # tile means of v and v^2 by OpenCV's integer-factor area averaging
    mean = cv2.resize(values, (cols, rows), interpolation=cv2.INTER_AREA)
    mean_sq = cv2.resize(values * values, (cols, rows), interpolation=cv2.INTER_AREA)
    variance = np.maximum(mean_sq - mean * mean, 0.0)
    flat = variance <= config.occlusion_max_std**2
    dark = mean <= config.occlusion_dark
    fogged = (mean >= config.occlusion_bright) & (mean < config.saturation_level)
    return float(np.count_nonzero(flat & (dark | fogged))) / float(rows * cols)


def _check_range(config: QualityConfig, name: str, low: float, high: float, what: str) -> None:
    value = getattr(config, name)
    if not low <= value <= high:
        upper = "" if math.isinf(high) else f" and at most {high:g}"
        raise ValueError(f"QualityConfig.{name} must be {what}, at least {low:g}{upper}, got {value!r}")
