"""Joint image + mask augmentation for the segmentation trainers (OpenCV only).

Conventions (the project's): images are ``uint8`` RGB arrays of shape ``(H, W, 3)``; masks are ``uint8``
class-id arrays of shape ``(H, W)`` in which ``ignore_index`` (255) marks pixels that carry no label.
Sizes are always ``(height, width)``.

Geometry follows OpenCV's pixel-centre convention: pixel ``(x, y)`` covers ``[x - 0.5, x + 0.5]`` and
resizing maps centres with the half-pixel rule ``src = (dst + 0.5) * in / out - 0.5``, the rule of
``cv2.resize(..., interpolation=cv2.INTER_LINEAR)`` and of the edge runtime's resize. Images are sampled
bilinearly and masks by nearest neighbour through the *same* transform, so labels stay aligned with the
pixels they describe.

Training pipeline of :class:`Augmenter` (every random draw comes from the caller's generator, so one
generator state gives one output):

1. geometry, composed into a single affine map so that the image is interpolated only once:
   optional resize to ``resize_to`` (anisotropic, as the edge runtime resizes a frame to the model
   input), horizontal / vertical flip, random rescale by a factor from ``scale_range``, rotation about
   the centre of the rescaled image (which keeps its size: corners leave the frame and the uncovered
   area is filled), then a crop of ``crop_size``. When the rescaled image is smaller than the crop it is
   placed at a random position inside the crop and the rest is padding.
2. the crop position is intensity biased: candidate positions are drawn uniformly (at most
   ``crop_attempts`` times) and the first whose fraction of foreground pixels (neither
   ``background_class`` nor ``ignore_index``, counted over the whole crop area) reaches
   ``min_foreground`` is taken. If no candidate does, every position is scored exactly (one integral
   image) and one is drawn uniformly among those that reach ``min_foreground``, or, when none can, one
   of those with the largest fraction. So the threshold is met whenever any crop can meet it, the crop
   is uniform over the acceptable positions either way, and nothing loops. With ``min_foreground=0`` the
   first uniform draw is taken, so there is no preference for foreground.
3. photometric jitter on the image only (brightness, contrast, HSV, blur, noise); the output stays
   ``uint8``.

Fill: pixels of the output that do not come from the source image (rotated-away corners, padding) are
``ignore_index`` in the mask and the constant ``fill`` colour in the image (default: the ImageNet mean,
which :func:`normalize` maps to about 0). Bilinear taps that fall just outside the source at its border
replicate the border pixel, so valid pixels along the edge are not darkened by the fill.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "AugmentConfig",
    "Augmenter",
    "nearest_indices",
    "normalize",
    "resize_label_map",
    "resize_pair",
]

#: ImageNet channel mean of RGB values scaled to 0..1 (the backbones' pre-training statistics).
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
#: ImageNet channel standard deviation of RGB values scaled to 0..1.
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

# Marks "outside the source" in the uint16 working copy of the mask (class ids are at most 255).
_OUTSIDE = 256
# Rec. 601 luma weights of R, G, B (the contrast jitter scales around the mean luminance).
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_number(value: object) -> bool:
    numeric = isinstance(value, (int, float, np.integer, np.floating))
    return numeric and not isinstance(value, (bool, np.bool_))


def _pair(name: str, value: object) -> tuple[Any, Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f"{name} must be a pair of numbers, got {value!r}")
    return value[0], value[1]


def _check_size(name: str, value: object) -> tuple[int, int]:
    height, width = _pair(name, value)
    if not (_is_int(height) and _is_int(width)) or height < 1 or width < 1:
        raise ValueError(f"{name} must be (height, width) with positive integers, got {value!r}")
    return int(height), int(width)


def _check_probability(name: str, value: object) -> None:
    if not _is_number(value) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")


def _check_range(name: str, value: object, *, low: float, low_inclusive: bool) -> tuple[float, float]:
    first, second = _pair(name, value)
    if not (_is_number(first) and _is_number(second)):
        raise ValueError(f"{name} must be a pair of numbers (min, max), got {value!r}")
    first, second = float(first), float(second)
    above = first >= low if low_inclusive else first > low
    if not (math.isfinite(first) and math.isfinite(second) and above and first <= second):
        bound = f">= {low:g}" if low_inclusive else f"> {low:g}"
        raise ValueError(f"{name} must be finite (min, max) with min {bound} and min <= max, got {value!r}")
    return first, second


def _check_interval(name: str, value: object, low: float, high: float) -> None:
    if not _is_number(value) or not low <= float(value) <= high:
        raise ValueError(f"{name} must be a number in [{low:g}, {high:g}], got {value!r}")


@dataclass(frozen=True)
class AugmentConfig:
    """Parameters of :class:`Augmenter`; validated on construction.

    Sequences given as lists (e.g. from TOML or JSON) are stored as tuples.

    Attributes
    ----------
    crop_size
        Output ``(height, width)``.
    resize_to
        ``(height, width)`` the source is resized to (aspect ratio not kept, like the edge runtime)
        before the random rescale; ``None`` rescales the source at its own resolution.
    hflip_p, vflip_p
        Probabilities of a horizontal and a vertical flip.
    scale_range
        ``(min, max)`` of the random rescale factor, drawn uniformly, applied before cropping.
    rotate_deg
        Largest absolute rotation in degrees (uniform in ``[-rotate_deg, rotate_deg]``, positive is
        counter-clockwise as displayed); at most 180.
    rotate_p
        Probability of a rotation.
    min_foreground
        Fraction of the crop that must be foreground (neither ``background_class`` nor ``ignore_index``)
        for the intensity-biased crop; 0 disables the bias.
    crop_attempts
        Uniform crop positions tried before the exact search over all positions (at least 1).
    brightness
        Additive brightness offset, uniform in ``[-brightness, brightness]`` times 255; in [0, 1].
    contrast
        Contrast factor, uniform in ``[1 - contrast, 1 + contrast]``, scaling around the image's mean
        luminance; in [0, 1].
    hue_deg
        Hue rotation, uniform in ``[-hue_deg, hue_deg]`` degrees; in [0, 180].
    saturation, value
        HSV saturation and value factors, uniform in ``[1 - x, 1 + x]``; each in [0, 1].
    blur_p, blur_sigma
        Probability of a Gaussian blur and the ``(min, max)`` of its sigma in pixels (min > 0).
    noise_p, noise_std
        Probability of additive Gaussian noise and the ``(min, max)`` of its standard deviation in 0..255
        units (min >= 0).
    background_class
        Class id that does not count as foreground.
    ignore_index
        Mask value for unlabelled pixels; also written where the output has no source pixel.
    fill
        RGB colour of output pixels without a source pixel (default: the ImageNet mean as uint8).
    """

    crop_size: tuple[int, int] = (512, 512)
    resize_to: tuple[int, int] | None = None
    hflip_p: float = 0.5
    vflip_p: float = 0.0
    scale_range: tuple[float, float] = (0.75, 1.5)
    rotate_deg: float = 10.0
    rotate_p: float = 0.3
    min_foreground: float = 0.05
    crop_attempts: int = 10
    brightness: float = 0.2
    contrast: float = 0.2
    hue_deg: float = 5.0
    saturation: float = 0.2
    value: float = 0.2
    blur_p: float = 0.2
    blur_sigma: tuple[float, float] = (0.3, 1.5)
    noise_p: float = 0.2
    noise_std: tuple[float, float] = (2.0, 8.0)
    background_class: int = 0
    ignore_index: int = 255
    fill: tuple[int, int, int] = (124, 116, 104)

    def __post_init__(self) -> None:
        """Validate every field; raise ``ValueError`` naming the first bad one."""
        object.__setattr__(self, "crop_size", _check_size("crop_size", self.crop_size))
        if self.resize_to is not None:
            object.__setattr__(self, "resize_to", _check_size("resize_to", self.resize_to))
        for name in ("hflip_p", "vflip_p", "rotate_p", "blur_p", "noise_p"):
            _check_probability(name, getattr(self, name))
        object.__setattr__(
            self, "scale_range", _check_range("scale_range", self.scale_range, low=0.0, low_inclusive=False)
        )
        _check_interval("rotate_deg", self.rotate_deg, 0.0, 180.0)
        _check_interval("min_foreground", self.min_foreground, 0.0, 1.0)
        if not _is_int(self.crop_attempts) or self.crop_attempts < 1:
            raise ValueError(f"crop_attempts must be an integer >= 1, got {self.crop_attempts!r}")
        for name in ("brightness", "contrast", "saturation", "value"):
            _check_interval(name, getattr(self, name), 0.0, 1.0)
        _check_interval("hue_deg", self.hue_deg, 0.0, 180.0)
        object.__setattr__(
            self, "blur_sigma", _check_range("blur_sigma", self.blur_sigma, low=0.0, low_inclusive=False)
        )
        object.__setattr__(
            self, "noise_std", _check_range("noise_std", self.noise_std, low=0.0, low_inclusive=True)
        )
        if not _is_int(self.ignore_index) or not 0 <= self.ignore_index <= 255:
            raise ValueError(f"ignore_index must be an integer in [0, 255], got {self.ignore_index!r}")
        if not _is_int(self.background_class) or not 0 <= self.background_class <= 255:
            raise ValueError(
                f"background_class must be an integer in [0, 255], got {self.background_class!r}"
            )
        if self.background_class == self.ignore_index:
            raise ValueError(
                f"background_class must differ from ignore_index ({self.ignore_index}), "
                f"got {self.background_class!r}"
            )
        fill = self.fill
        if (
            isinstance(fill, (str, bytes))
            or not isinstance(fill, Sequence)
            or len(fill) != 3
            or not all(_is_int(c) and 0 <= c <= 255 for c in fill)
        ):
            raise ValueError(f"fill must be an RGB triple of integers in [0, 255], got {fill!r}")
        object.__setattr__(self, "fill", tuple(int(c) for c in fill))

    @classmethod
    def evaluation(cls, crop_size: tuple[int, int] = (512, 512)) -> AugmentConfig:
        """Return the validation config: no augmentation, the pair is only resized to ``crop_size``.

        The output equals :func:`resize_pair` ``(image, mask, crop_size)``, which is what the edge runtime
        does to a frame; the generator passed to :class:`Augmenter` is not used.
        """
        return cls(
            crop_size=crop_size,
            resize_to=crop_size,
            hflip_p=0.0,
            vflip_p=0.0,
            scale_range=(1.0, 1.0),
            rotate_deg=0.0,
            rotate_p=0.0,
            min_foreground=0.0,
            brightness=0.0,
            contrast=0.0,
            hue_deg=0.0,
            saturation=0.0,
            value=0.0,
            blur_p=0.0,
            noise_p=0.0,
        )

    def geometric_only(self) -> AugmentConfig:
        """Return a copy with every photometric op switched off (geometry and crop unchanged)."""
        return dataclasses.replace(
            self,
            brightness=0.0,
            contrast=0.0,
            hue_deg=0.0,
            saturation=0.0,
            value=0.0,
            blur_p=0.0,
            noise_p=0.0,
        )


def _check_image(image: object) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise ValueError(f"image must be a uint8 RGB array of shape (H, W, 3), got {dtype} of shape {shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image must not be empty, got shape {image.shape}")


def _check_pair(image: np.ndarray, mask: np.ndarray) -> None:
    _check_image(image)
    if not isinstance(mask, np.ndarray) or mask.dtype != np.uint8 or mask.ndim != 2:
        shape = getattr(mask, "shape", None)
        dtype = getattr(mask, "dtype", type(mask).__name__)
        raise ValueError(f"mask must be a uint8 class-id array of shape (H, W), got {dtype} of shape {shape}")
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} must equal the image's (H, W) {image.shape[:2]}")


def _check_rng(rng: object) -> None:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")


def nearest_indices(size_in: int, size_out: int) -> np.ndarray:
    """Source indices of a nearest-neighbour resize along one axis, as OpenCV's ``INTER_NEAREST_EXACT``.

    That is ``src = floor((dst + 0.5) * size_in / size_out)`` (the source pixel under the output pixel's
    centre, consistent with the half-pixel bilinear image resize), evaluated in OpenCV's 16-bit fixed
    point, which only matters for exact ties. Plain ``INTER_NEAREST`` (``floor(dst * scale)``) is shifted by
    up to half a source pixel and is not used.
    """
    row = np.arange(size_in, dtype=np.int32)[None, :]
    return cv2.resize(row, (size_out, 1), interpolation=cv2.INTER_NEAREST_EXACT)[0].astype(np.intp)


def resize_label_map(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a 2-D label map of any dtype to ``size`` = (height, width) with :func:`nearest_indices`.

    Equals ``cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)`` where OpenCV
    supports the dtype.
    """
    height, width = _check_size("size", size)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {mask.shape}")
    if mask.shape == (height, width):
        return mask.copy()
    rows = nearest_indices(mask.shape[0], height)
    cols = nearest_indices(mask.shape[1], width)
    return mask[rows[:, None], cols[None, :]]


def resize_pair(image: np.ndarray, mask: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Resize an image and its mask to ``size`` = (height, width) for evaluation.

    Parameters
    ----------
    image
        ``uint8`` RGB, shape ``(H, W, 3)``.
    mask
        ``uint8`` class ids, shape ``(H, W)``.
    size
        Output ``(height, width)``; the aspect ratio is not kept (as the edge runtime resizes frames).

    Returns
    -------
    tuple of numpy.ndarray
        The image resized bilinearly (``cv2.INTER_LINEAR``, half-pixel centres, no antialiasing: the
        manifest's ``resize "bilinear"``) and the mask by nearest neighbour under each output pixel's
        centre (:func:`nearest_indices`).
    """
    _check_pair(image, mask)
    height, width = _check_size("size", size)
    if image.shape[:2] == (height, width):
        return image.copy(), mask.copy()
    resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    return resized, resize_label_map(mask, (height, width))


def normalize(
    image: np.ndarray,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> np.ndarray:
    """Turn a ``uint8`` RGB image into the network input: ``float32``, channels first.

    The convention (the edge runtime's preprocessing must give the same numbers)::

        out[c, y, x] = (image[y, x, c] / 255 - mean[c]) / std[c]

    computed in float32 in that order, with ``c`` in RGB order (no BGR swap here: the image is already
    RGB), ``mean`` and ``std`` on the 0..1 scale (ImageNet defaults: mean (0.485, 0.456, 0.406),
    std (0.229, 0.224, 0.225)). A fused kernel computing ``image * (1 / (255 std)) - mean / std`` agrees to
    float32 rounding (about 1e-6 relative).

    Parameters
    ----------
    image
        ``uint8`` array of shape ``(H, W, C)`` (RGB, ``C`` = 3 by convention).
    mean, std
        Per-channel statistics on the 0..1 scale, one value per channel; ``std`` must be positive.

    Returns
    -------
    numpy.ndarray
        C-contiguous ``float32`` array of shape ``(C, H, W)``.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise ValueError(f"image must be a uint8 array of shape (H, W, C), got {dtype} of shape {shape}")
    channels = image.shape[2]
    mean_arr = np.asarray(mean, dtype=np.float32).reshape(-1)
    std_arr = np.asarray(std, dtype=np.float32).reshape(-1)
    if mean_arr.size != channels:
        raise ValueError(f"mean must have one value per channel ({channels}), got {tuple(mean)!r}")
    if std_arr.size != channels or not np.all(std_arr > 0):
        raise ValueError(f"std must have {channels} positive values, got {tuple(std)!r}")
    chw = np.ascontiguousarray(image.transpose(2, 0, 1)).astype(np.float32)
    chw /= np.float32(255.0)
    chw -= mean_arr[:, None, None]
    chw /= std_arr[:, None, None]
    return chw


def _matrix(*rows: Sequence[float]) -> np.ndarray:
    return np.array([*rows, (0.0, 0.0, 1.0)], dtype=np.float64)


@dataclass(frozen=True)
class _Geometry:
    """One sampled geometric transform: source -> canvas (the rescaled, rotated frame) and its size."""

    to_canvas: np.ndarray  # 3x3, source pixel centres -> canvas pixel centres
    canvas_size: tuple[int, int]  # (height, width)
    identity_resize: bool  # no flip, no rotation: a plain resize to canvas_size


class Augmenter:
    """Random joint augmentation of an image and its mask; see the module docstring for the pipeline.

    Parameters
    ----------
    config
        The parameters; defaults to ``AugmentConfig()``.

    Examples
    --------
    >>> augment = Augmenter(AugmentConfig(crop_size=(256, 256)))
    >>> image_out, mask_out = augment(image, mask, np.random.default_rng(0))  # doctest: +SKIP
    """

    def __init__(self, config: AugmentConfig | None = None) -> None:
        self.config = AugmentConfig() if config is None else config
        if not isinstance(self.config, AugmentConfig):
            raise ValueError(f"config must be an AugmentConfig, got {type(self.config).__name__}")

    def __call__(
        self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Augment one pair.

        Parameters
        ----------
        image
            ``uint8`` RGB, shape ``(H, W, 3)``; not modified.
        mask
            ``uint8`` class ids, shape ``(H, W)``; not modified.
        rng
            Source of every random draw: the same generator state gives the same output.

        Returns
        -------
        tuple of numpy.ndarray
            ``uint8`` image of shape ``crop_size + (3,)`` and ``uint8`` mask of shape ``crop_size``.
        """
        out_image, out_mask = self.geometric(image, mask, rng)
        return self.photometric(out_image, rng), out_mask

    # ------------------------------------------------------------------ geometry

    def _sample_geometry(self, height: int, width: int, rng: np.random.Generator) -> _Geometry:
        cfg = self.config
        hflip = rng.random() < cfg.hflip_p
        vflip = rng.random() < cfg.vflip_p
        low, high = cfg.scale_range
        scale = float(rng.uniform(low, high)) if high > low else low
        angle = float(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg)) if rng.random() < cfg.rotate_p else 0.0

        base_h, base_w = cfg.resize_to if cfg.resize_to is not None else (height, width)
        canvas_h = max(1, round(base_h * scale))
        canvas_w = max(1, round(base_w * scale))
        sx, sy = canvas_w / width, canvas_h / height

        flip = _matrix(
            (-1.0 if hflip else 1.0, 0.0, width - 1.0 if hflip else 0.0),
            (0.0, -1.0 if vflip else 1.0, height - 1.0 if vflip else 0.0),
        )
        # Half-pixel rescale: the source's outer pixel edges land on the canvas's outer pixel edges.
        resize = _matrix((sx, 0.0, 0.5 * sx - 0.5), (0.0, sy, 0.5 * sy - 0.5))
        to_canvas = resize @ flip
        if angle != 0.0:
            # Counter-clockwise as displayed (y points down), about the canvas centre; same as
            # cv2.getRotationMatrix2D(centre, angle, 1).
            cx, cy = (canvas_w - 1) / 2.0, (canvas_h - 1) / 2.0
            cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
            rotate = _matrix(
                (cos, sin, (1.0 - cos) * cx - sin * cy),
                (-sin, cos, sin * cx + (1.0 - cos) * cy),
            )
            to_canvas = rotate @ to_canvas
        return _Geometry(
            to_canvas, (canvas_h, canvas_w), identity_resize=not (hflip or vflip or angle != 0.0)
        )

    def geometric(
        self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Apply only the geometric part (resize, flips, rescale, rotation, intensity-biased crop).

        Same arguments and return value as :meth:`__call__`.
        """
        _check_pair(image, mask)
        _check_rng(rng)
        cfg = self.config
        crop_h, crop_w = cfg.crop_size
        geometry = self._sample_geometry(image.shape[0], image.shape[1], rng)
        canvas_h, canvas_w = geometry.canvas_size

        if geometry.identity_resize and geometry.canvas_size == cfg.crop_size:
            # Nothing but a resize to the output size (e.g. the evaluation config): exactly resize_pair.
            return resize_pair(image, mask, cfg.crop_size)

        # The mask on the canvas, as uint16 so that "outside the source" (_OUTSIDE) is told apart from any
        # class id including ignore. It decides both the crop and where the image gets the fill colour.
        canvas = cv2.warpAffine(
            mask.astype(np.uint16),
            geometry.to_canvas[:2],
            (canvas_w, canvas_h),
            flags=cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=_OUTSIDE,
        )
        # Pad a canvas smaller than the crop by the missing amount on both sides, so that every crop
        # position in the padded canvas contains the whole canvas and its place in the crop is random.
        pad_y, pad_x = max(0, crop_h - canvas_h), max(0, crop_w - canvas_w)
        if pad_y or pad_x:
            canvas = cv2.copyMakeBorder(
                canvas, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_CONSTANT, value=_OUTSIDE
            )
        top, left = self._choose_crop(canvas, rng)
        window = canvas[top : top + crop_h, left : left + crop_w]
        outside = window == _OUTSIDE
        out_mask = np.where(outside, cfg.ignore_index, window).astype(np.uint8)

        shift = _matrix((1.0, 0.0, pad_x - left), (0.0, 1.0, pad_y - top))
        out_image = cv2.warpAffine(
            image,
            (shift @ geometry.to_canvas)[:2],
            (crop_w, crop_h),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        out_image[outside] = cfg.fill
        return out_image, out_mask

    def _choose_crop(self, canvas: np.ndarray, rng: np.random.Generator) -> tuple[int, int]:
        """Pick the crop's top-left corner in ``canvas`` (at least crop-sized), intensity biased."""
        cfg = self.config
        crop_h, crop_w = cfg.crop_size
        span_y, span_x = canvas.shape[0] - crop_h + 1, canvas.shape[1] - crop_w + 1
        first = (int(rng.integers(span_y)), int(rng.integers(span_x)))
        if cfg.min_foreground <= 0.0 or (span_y == 1 and span_x == 1):
            return first
        foreground = (canvas != cfg.background_class) & (canvas != cfg.ignore_index) & (canvas != _OUTSIDE)
        if not foreground.any():
            return first
        # Foreground pixel count of a crop in O(1) from the integral image; compared as counts to avoid
        # float rounding at the threshold.
        integral = cv2.integral(foreground.view(np.uint8), sdepth=cv2.CV_32S)
        needed = math.ceil(cfg.min_foreground * crop_h * crop_w - 1e-9)

        def count(top: int, left: int) -> int:
            return int(
                integral[top + crop_h, left + crop_w]
                - integral[top, left + crop_w]
                - integral[top + crop_h, left]
                + integral[top, left]
            )

        candidate = first
        for attempt in range(cfg.crop_attempts):
            if attempt:
                candidate = (int(rng.integers(span_y)), int(rng.integers(span_x)))
            if count(*candidate) >= needed:
                return candidate
        # No uniform draw was good enough: score every position at once.
        counts = (
            integral[crop_h:, crop_w:]
            - integral[:span_y, crop_w:]
            - integral[crop_h:, :span_x]
            + integral[:span_y, :span_x]
        )
        best = int(counts.max())
        accepted = np.flatnonzero(counts >= min(needed, best))
        index = int(accepted[rng.integers(accepted.size)])
        return divmod(index, span_x)

    # ------------------------------------------------------------------ photometry

    def photometric(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Apply only the photometric jitter to a ``uint8`` RGB image; returns a new ``uint8`` image.

        In this order, in float32 on the 0..255 scale, rounded and clipped once at the end: brightness
        (additive), contrast (around the mean luminance), HSV (hue rotation, saturation and value
        factors), Gaussian blur, Gaussian noise. Ops whose range is zero are skipped, so the all-zero
        config returns the image unchanged.
        """
        _check_image(image)
        _check_rng(rng)
        cfg = self.config
        if not (
            cfg.brightness > 0.0
            or cfg.contrast > 0.0
            or cfg.hue_deg > 0.0
            or cfg.saturation > 0.0
            or cfg.value > 0.0
            or cfg.blur_p > 0.0
            or cfg.noise_p > 0.0
        ):
            return image.copy()
        work = image.astype(np.float32)
        if cfg.brightness > 0.0:
            work += np.float32(rng.uniform(-cfg.brightness, cfg.brightness) * 255.0)
        if cfg.contrast > 0.0:
            factor = np.float32(rng.uniform(1.0 - cfg.contrast, 1.0 + cfg.contrast))
            luminance = np.float32((work.reshape(-1, 3) @ _LUMA).mean())
            work = (work - luminance) * factor + luminance
        if cfg.hue_deg > 0.0 or cfg.saturation > 0.0 or cfg.value > 0.0:
            hue = rng.uniform(-cfg.hue_deg, cfg.hue_deg) if cfg.hue_deg > 0.0 else 0.0
            sat = rng.uniform(1.0 - cfg.saturation, 1.0 + cfg.saturation) if cfg.saturation > 0.0 else 1.0
            val = rng.uniform(1.0 - cfg.value, 1.0 + cfg.value) if cfg.value > 0.0 else 1.0
            # Float HSV: H in [0, 360), S and V in [0, 1] (no 2-degree quantisation as with uint8 HSV).
            hsv = cv2.cvtColor(np.clip(work, 0.0, 255.0) / np.float32(255.0), cv2.COLOR_RGB2HSV)
            hsv[..., 0] = np.mod(hsv[..., 0] + np.float32(hue), np.float32(360.0))
            hsv[..., 1] = np.clip(hsv[..., 1] * np.float32(sat), 0.0, 1.0)
            hsv[..., 2] = np.clip(hsv[..., 2] * np.float32(val), 0.0, 1.0)
            work = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * np.float32(255.0)
        if cfg.blur_p > 0.0 and rng.random() < cfg.blur_p:
            sigma = float(rng.uniform(*cfg.blur_sigma))
            work = cv2.GaussianBlur(
                work, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101
            )
        if cfg.noise_p > 0.0 and rng.random() < cfg.noise_p:
            std = np.float32(rng.uniform(*cfg.noise_std))
            work += rng.standard_normal(work.shape, dtype=np.float32) * std
        return np.clip(np.rint(work), 0, 255).astype(np.uint8)
