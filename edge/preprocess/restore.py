"""Mapping network outputs back to frame coordinates (the inverse of the ROI crop and resize).

The network sees the ROI resized to ``(height, width)``; these functions resize its class map or
probabilities back to the ROI's size and paste them where the ROI lies in the frame. Pixels outside
the ROI were not measured: 255 in a class map, ``fill`` (NaN by default) in probabilities. When the
frame was undistorted the result is in undistorted frame coordinates, the ones the calibration's
scale refers to.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.preprocess.spec import PreprocessSpec

__all__ = ["NOT_MEASURED", "restore_mask", "restore_probabilities"]

NOT_MEASURED = 255
"""Class value of frame pixels outside the ROI."""


def restore_mask(classes: np.ndarray, spec: PreprocessSpec, frame_size: tuple[int, int]) -> np.ndarray:
    """Put a class map from network resolution back into frame coordinates.

    Parameters
    ----------
    classes
        ``uint8 [spec.height, spec.width]`` class ids.
    spec
        The preprocessing that made the network input (its size and ROI).
    frame_size
        ``(height, width)`` of the frame.

    Returns
    -------
    numpy.ndarray
        ``uint8 [height, width]``: the classes resized to the ROI by nearest neighbour
        (``INTER_NEAREST_EXACT``, the pixel under each frame pixel's centre) and pasted at the ROI;
        :data:`NOT_MEASURED` (255) elsewhere.

    Raises
    ------
    ValueError
        When ``classes`` has the wrong shape or dtype or the ROI does not fit the frame.
    """
    if not isinstance(classes, np.ndarray) or classes.dtype != np.uint8 or classes.shape != spec.shape[1:]:
        raise ValueError(
            f"classes must be a uint8 array of shape {spec.shape[1:]} (the network output size), got "
            f"{getattr(classes, 'dtype', type(classes).__name__)} of shape {getattr(classes, 'shape', None)}"
        )
    height, width = _frame_size(frame_size)
    x, y, w, h = spec.roi_in(height, width)
    resized = _resize(classes, w, h, cv2.INTER_NEAREST_EXACT)
    if (x, y, w, h) == (0, 0, width, height):
        return resized.copy() if resized is classes else resized
    result = np.full((height, width), NOT_MEASURED, dtype=np.uint8)
    result[y : y + h, x : x + w] = resized
    return result


def restore_probabilities(
    probabilities: np.ndarray,
    spec: PreprocessSpec,
    frame_size: tuple[int, int],
    fill: float = float("nan"),
) -> np.ndarray:
    """Put probability maps from network resolution back into frame coordinates (bilinear).

    Parameters
    ----------
    probabilities
        Floating-point ``[spec.height, spec.width]`` or ``[C, spec.height, spec.width]``.
    spec
        The preprocessing that made the network input (its size and ROI).
    frame_size
        ``(height, width)`` of the frame.
    fill
        The value outside the ROI (NaN: not measured).

    Returns
    -------
    numpy.ndarray
        ``float32`` ``[height, width]`` or ``[C, height, width]``, each map resized to the ROI with
        ``INTER_LINEAR`` and pasted at the ROI.

    Raises
    ------
    ValueError
        When the array has the wrong shape or is not floating point, or the ROI does not fit the frame.
    """
    size = spec.shape[1:]
    if (
        not isinstance(probabilities, np.ndarray)
        or not np.issubdtype(probabilities.dtype, np.floating)
        or probabilities.ndim not in (2, 3)
        or probabilities.shape[-2:] != size
    ):
        raise ValueError(
            f"probabilities must be a float array of shape {size} or (C, {size[0]}, {size[1]}), got "
            f"{getattr(probabilities, 'dtype', type(probabilities).__name__)} of shape "
            f"{getattr(probabilities, 'shape', None)}"
        )
    height, width = _frame_size(frame_size)
    x, y, w, h = spec.roi_in(height, width)
    maps = probabilities.astype(np.float32, copy=False)
    planes = maps[None] if maps.ndim == 2 else maps
    result = np.full((planes.shape[0], height, width), fill, dtype=np.float32)
    for index, plane in enumerate(planes):
        result[index, y : y + h, x : x + w] = _resize(plane, w, h, cv2.INTER_LINEAR)
    return result[0] if maps.ndim == 2 else result


def _resize(array: np.ndarray, width: int, height: int, interpolation: int) -> np.ndarray:
    if array.shape == (height, width):
        return array
    return cv2.resize(array, (width, height), interpolation=interpolation)


def _frame_size(frame_size: tuple[int, int]) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in frame_size)
    except (TypeError, ValueError):
        raise ValueError(f"frame_size must be (height, width), got {frame_size!r}") from None
    if height <= 0 or width <= 0:
        raise ValueError(f"frame_size must be (height, width) with positive values, got {frame_size!r}")
    return height, width
