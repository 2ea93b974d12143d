"""Pixels as every source delivers them: BGR, uint8, ``HxWx3``, optionally resized.

16-bit and floating-point images are refused rather than scaled: the right scaling depends on
how many of the 16 bits the camera uses (a 12-bit sensor in a 16-bit file would turn almost black
under a plain divide by 257), and a silent guess would skew every intensity-based check
downstream. Convert such images to 8 bits with the scaling you intend before feeding them in.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["OutputSize", "UnusableImageError", "to_bgr8"]


class UnusableImageError(ValueError):
    """An image decoded but cannot be used as a frame (16-bit, floating point, odd channel count)."""


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """``image`` as a contiguous ``HxWx3`` uint8 BGR array.

    Grey images (``HxW`` or ``HxWx1``) are repeated into three channels; BGRA loses its alpha.

    Parameters
    ----------
    image
        As decoded by OpenCV (BGR channel order).

    Returns
    -------
    numpy.ndarray
        ``HxWx3`` uint8; ``image`` itself when it already is one and contiguous.

    Raises
    ------
    UnusableImageError
        If the image is not 8-bit or has 2 or more than 4 channels; the message says what to do.
    """
    if image.dtype != np.uint8:
        bits = image.dtype.itemsize * 8
        raise UnusableImageError(
            f"{bits}-bit {image.dtype} image refused: frames must be 8-bit; convert the images to 8 bits "
            "with the scaling your camera needs (e.g. divide 12-bit data by 16) and try again"
        )
    channels = 1 if image.ndim == 2 else image.shape[2] if image.ndim == 3 else -1
    if channels == 1:
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    if channels == 3:
        return np.ascontiguousarray(image)
    if channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    raise UnusableImageError(f"image of shape {image.shape} refused: expected grey, BGR or BGRA pixels")


@dataclass(frozen=True)
class OutputSize:
    """The frame size a source should deliver.

    Attributes
    ----------
    width, height
        Target size in pixels. With both set, frames are resized to exactly that size; with one
        set, the other follows from the image's aspect ratio; with neither, frames keep their size.
    """

    width: int | None = None
    height: int | None = None

    def target(self, height: int, width: int) -> tuple[int, int]:
        """``(height, width)`` that an image of ``height x width`` is resized to."""
        if self.width is not None and self.height is not None:
            return self.height, self.width
        if self.width is not None:
            return max(1, round(height * self.width / width)), self.width
        if self.height is not None:
            return self.height, max(1, round(width * self.height / height))
        return height, width

    def apply(self, image: np.ndarray) -> np.ndarray:
        """``image`` resized to :meth:`target` (area interpolation when shrinking, bilinear otherwise)."""
        height, width = image.shape[:2]
        new_height, new_width = self.target(height, width)
        if (new_height, new_width) == (height, width):
            return image
        shrink = new_height <= height and new_width <= width
        interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        return cv2.resize(image, (new_width, new_height), interpolation=interpolation)
