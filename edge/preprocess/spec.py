"""What preprocessing a network needs: :class:`PreprocessSpec`, validated, and its frame checks."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from edge.bundle.manifest import COLOR_ORDERS, RESIZE_MODES, InputSpec

__all__ = ["OUTPUT_DTYPES", "PreprocessSpec", "check_frame"]

OUTPUT_DTYPES = ("float32", "float16")
"""Element types the preprocessing can write (the engine's input tensor type)."""


@dataclass(frozen=True)
class PreprocessSpec:
    """How a BGR ``uint8`` frame becomes one ``[3, height, width]`` network input.

    The steps, in order: optional undistortion of the frame, crop to :attr:`roi`, resize to
    ``(height, width)`` with :attr:`resize`, channel order :attr:`color`, then per channel
    ``(x / 255 - mean) / std`` in float32 (the trainer's convention), stored as :attr:`dtype`.

    Attributes
    ----------
    height, width
        The network input size (pixels).
    mean, std
        Per-channel normalization of ``[0, 1]`` pixel values, in the network's channel order
        (:attr:`color`); ``std`` values are positive.
    color
        Channel order the network expects: ``"RGB"`` or ``"BGR"`` (frames arrive BGR).
    resize
        ``"bilinear"`` (OpenCV ``INTER_LINEAR``, half-pixel centres, what the trainer uses),
        ``"nearest"`` (``INTER_NEAREST_EXACT``, half-pixel centres) or ``"area"`` (``INTER_AREA``).
    roi
        ``(x, y, w, h)`` of the region of interest in frame pixels, or ``None`` for the whole frame.
        Checked against each frame's size when the frame arrives.
    dtype
        ``"float32"`` or ``"float16"``: the element type written (the engine's input type).
    """

    height: int
    width: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    color: str = "RGB"
    resize: str = "bilinear"
    roi: tuple[int, int, int, int] | None = None
    dtype: str = "float32"

    def __post_init__(self) -> None:
        for name in ("height", "width"):
            value = _plain_int(getattr(self, name))
            if not _is_int(value) or value <= 0:
                raise ValueError(f"PreprocessSpec.{name} must be a positive integer (pixels), got {value!r}")
            object.__setattr__(self, name, value)
        for name, positive in (("mean", False), ("std", True)):
            object.__setattr__(self, name, _triple(getattr(self, name), name, positive))
        if self.color not in COLOR_ORDERS:
            raise ValueError(
                f"PreprocessSpec.color must be one of {_choices(COLOR_ORDERS)}, got {self.color!r}"
            )
        if self.resize not in RESIZE_MODES:
            raise ValueError(
                f"PreprocessSpec.resize must be one of {_choices(RESIZE_MODES)}, got {self.resize!r}"
            )
        if self.dtype not in OUTPUT_DTYPES:
            raise ValueError(
                f"PreprocessSpec.dtype must be one of {_choices(OUTPUT_DTYPES)}, got {self.dtype!r}"
            )
        if self.roi is not None:
            object.__setattr__(self, "roi", _roi(self.roi))

    @classmethod
    def from_input_spec(
        cls,
        input_spec: InputSpec,
        roi: tuple[int, int, int, int] | None = None,
        dtype: str = "float32",
        height: int | None = None,
        width: int | None = None,
    ) -> PreprocessSpec:
        """Build the spec of a bundle's network input (``manifest.input``).

        Parameters
        ----------
        input_spec
            The manifest's :class:`~edge.bundle.manifest.InputSpec` (size, mean, std, colour, resize).
        roi
            ``(x, y, w, h)`` in frame pixels, or ``None`` for the whole frame.
        dtype
            Element type of the engine's input buffer (``"float32"`` or ``"float16"``).
        height, width
            Override the manifest's input size (an engine built for another size); ``None`` keeps it.

        Returns
        -------
        PreprocessSpec
            The validated spec.

        Raises
        ------
        ValueError
            When a value is invalid or the layout is not ``"NCHW"`` (the message names the field).
        """
        if not isinstance(input_spec, InputSpec):
            raise ValueError(
                f"input_spec must be an edge.bundle.manifest.InputSpec, got {type(input_spec).__name__}"
            )
        if input_spec.layout != "NCHW":
            raise ValueError(f"input.layout must be 'NCHW' for this preprocessing, got {input_spec.layout!r}")
        return cls(
            height=input_spec.height if height is None else height,
            width=input_spec.width if width is None else width,
            mean=input_spec.mean,
            std=input_spec.std,
            color=input_spec.color,
            resize=input_spec.resize,
            roi=roi,
            dtype=dtype,
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        """The output shape ``(3, height, width)``."""
        return (3, self.height, self.width)

    @property
    def source_channels(self) -> tuple[int, int, int]:
        """For each output channel, the BGR frame channel it comes from."""
        return (2, 1, 0) if self.color == "RGB" else (0, 1, 2)

    @cached_property
    def lut(self) -> np.ndarray:
        """``[3, 256]`` table of ``(v / 255 - mean[c]) / std[c]`` for every pixel value ``v`` (read-only).

        Evaluated in float32 in exactly the trainer's order, so a lookup equals the plain formula bit
        for bit; the rows are in output channel order and in :attr:`dtype`.
        """
        values = np.arange(256, dtype=np.float32) / np.float32(255.0)
        mean = np.asarray(self.mean, dtype=np.float32)[:, None]
        std = np.asarray(self.std, dtype=np.float32)[:, None]
        table = ((values[None, :] - mean) / std).astype(self.dtype)
        table.setflags(write=False)
        return table

    def roi_in(self, frame_height: int, frame_width: int) -> tuple[int, int, int, int]:
        """Return the ROI ``(x, y, w, h)`` for a frame of this size (the whole frame when ``roi`` is None).

        Raises
        ------
        ValueError
            When the ROI does not lie inside the frame (the message names the ROI and the frame size).
        """
        if self.roi is None:
            return (0, 0, int(frame_width), int(frame_height))
        x, y, w, h = self.roi
        if x + w > frame_width or y + h > frame_height:
            raise ValueError(
                f"PreprocessSpec.roi (x={x}, y={y}, w={w}, h={h}) reaches to x={x + w}, y={y + h}, outside "
                f"the {frame_width}x{frame_height} frame (width x height); fix the ROI in the camera config "
                "or the calibration for this camera's resolution"
            )
        return (x, y, w, h)


def check_frame(image: Any, name: str = "image") -> tuple[int, int]:
    """Check that ``image`` is an ``HxWx3`` uint8 array and return ``(height, width)``.

    Raises
    ------
    ValueError
        Naming what was expected and what came.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise ValueError(
            f"{name} must be a uint8 array of shape (H, W, 3) in BGR order, got {dtype} of shape {shape}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {image.shape})")
    return int(image.shape[0]), int(image.shape[1])


# ---------------------------------------------------------------------------- helpers


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _plain_int(value: Any) -> Any:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return value


def _choices(values: tuple[str, ...]) -> str:
    return ", ".join(repr(v) for v in values)


def _triple(value: Any, name: str, positive: bool) -> tuple[float, float, float]:
    what = "3 positive finite numbers" if positive else "3 finite numbers"
    problem = f"PreprocessSpec.{name} must be {what} (one per channel, in the network's colour order)"
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{problem}, got {value!r}")
    try:
        items = list(value)
    except TypeError:
        raise ValueError(f"{problem}, got {value!r}") from None
    ok = len(items) == 3 and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in items)
    floats = [float(v) for v in items] if ok else []
    if not ok or not all(math.isfinite(v) and (v > 0 or not positive) for v in floats):
        raise ValueError(f"{problem}, got {value!r}")
    return (floats[0], floats[1], floats[2])


def _roi(value: Any) -> tuple[int, int, int, int]:
    problem = "PreprocessSpec.roi must be (x, y, w, h): integers with x, y >= 0 and w, h > 0 (frame pixels)"
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{problem}, got {value!r}")
    try:
        items = [_plain_int(v) for v in value]
    except TypeError:
        raise ValueError(f"{problem}, got {value!r}") from None
    if len(items) != 4 or not all(_is_int(v) for v in items):
        raise ValueError(f"{problem}, got {value!r}")
    x, y, w, h = items
    if x < 0 or y < 0 or w <= 0 or h <= 0:
        raise ValueError(f"{problem}, got {tuple(items)!r}")
    return (x, y, w, h)
