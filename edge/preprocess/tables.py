"""Resize tap tables that reproduce OpenCV's ``uint8`` resize exactly (the host side of the CUDA kernel).

OpenCV resizes ``uint8`` images with ``INTER_LINEAR`` in fixed point: along each axis every output
pixel reads two source pixels with 11-bit weights (they sum to 2048), the horizontal pass keeps an
integer sum and the vertical pass rounds it back to ``uint8`` as::

    row = src[y, x0] * a0 + src[y, x1] * a1                      # per row y0, y1
    out = (((b0 * (row0 >> 4)) >> 16) + ((b1 * (row1 >> 4)) >> 16) + 2) >> 2

The tables here hold, per output column and per output row, the two source indices (absolute frame
coordinates, the ROI offset included) and the two weights, computed the way OpenCV computes them
(float32 source positions from a double scale, ``cvRound`` of the weights, clamping at the edges:
columns by moving the weight onto the edge pixel, rows only by clamping the index). With them the
CUDA kernel yields the same ``uint8`` pixels as ``cv2.resize`` and so the same network input as the
CPU path. ``nearest`` uses the same formula with weights ``(2048, 0)``, which returns the pixel.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["WEIGHT_ONE", "linear_taps", "nearest_taps", "resize_tables"]

WEIGHT_ONE = 2048
"""OpenCV's ``INTER_RESIZE_COEF_SCALE``: the fixed-point 1.0 of the resize weights."""


def _positions(src_size: int, dst_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer source index and float32 fraction of each output pixel's centre (OpenCV's arithmetic)."""
    scale = 1.0 / (float(dst_size) / float(src_size))
    centre = ((np.arange(dst_size, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    index = np.floor(centre)
    fraction = (centre - index).astype(np.float32)
    return index.astype(np.int64), fraction


def _weights(fraction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    one = np.float32(WEIGHT_ONE)
    w0 = np.rint((np.float32(1.0) - fraction) * one).astype(np.int32)
    w1 = np.rint(fraction * one).astype(np.int32)
    return w0, w1


def linear_taps(src_size: int, dst_size: int, axis: str) -> np.ndarray:
    """OpenCV ``INTER_LINEAR`` taps along one axis of a ``uint8`` image.

    Parameters
    ----------
    src_size, dst_size
        Source and output length (pixels), both positive.
    axis
        ``"x"`` (columns: out-of-range taps put their weight on the edge pixel) or ``"y"`` (rows:
        the weights stay, the indices are clamped), as OpenCV treats the two passes.

    Returns
    -------
    numpy.ndarray
        ``int32 [dst_size, 4]``: ``(index0, index1, weight0, weight1)`` per output pixel, indices
        relative to the source start.
    """
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    index, fraction = _positions(src_size, dst_size)
    if axis == "x":
        low = index < 0
        high = index >= src_size - 1
        fraction[low | high] = 0.0
        index[low] = 0
        index[high] = src_size - 1
        w0, w1 = _weights(fraction)
        i0 = index
        i1 = np.minimum(index + 1, src_size - 1)
    else:
        w0, w1 = _weights(fraction)
        i0 = np.clip(index, 0, src_size - 1)
        i1 = np.clip(index + 1, 0, src_size - 1)
    return np.stack([i0, i1, w0, w1], axis=1).astype(np.int32)


def nearest_taps(src_size: int, dst_size: int) -> np.ndarray:
    """``INTER_NEAREST_EXACT`` taps (the source pixel under each output pixel's centre), weights 2048, 0.

    The indices come from OpenCV itself (resizing a row of indices), so they match its fixed point.
    """
    row = np.arange(src_size, dtype=np.int32)[None, :]
    index = cv2.resize(row, (dst_size, 1), interpolation=cv2.INTER_NEAREST_EXACT)[0].astype(np.int32)
    ones = np.full(dst_size, WEIGHT_ONE, dtype=np.int32)
    return np.stack([index, index, ones, np.zeros_like(ones)], axis=1).astype(np.int32)


def resize_tables(
    roi: tuple[int, int, int, int], out_height: int, out_width: int, mode: str = "bilinear"
) -> tuple[np.ndarray, np.ndarray]:
    """Column and row tap tables for cropping ``roi`` out of a frame and resizing it.

    Parameters
    ----------
    roi
        ``(x, y, w, h)`` in frame pixels (already checked against the frame).
    out_height, out_width
        The output size.
    mode
        ``"bilinear"`` or ``"nearest"`` (``"area"`` has no two-tap form).

    Returns
    -------
    tuple of numpy.ndarray
        ``xtab`` ``int32 [out_width, 4]`` and ``ytab`` ``int32 [out_height, 4]``, C-contiguous, each row
        ``(index0, index1, weight0, weight1)`` with absolute frame coordinates.
    """
    x, y, w, h = roi
    if mode == "bilinear":
        xtab = linear_taps(w, out_width, "x")
        ytab = linear_taps(h, out_height, "y")
    elif mode == "nearest":
        xtab = nearest_taps(w, out_width)
        ytab = nearest_taps(h, out_height)
    else:
        raise ValueError(f"resize mode {mode!r} has no tap table; use 'bilinear' or 'nearest'")
    xtab[:, :2] += x
    ytab[:, :2] += y
    return np.ascontiguousarray(xtab), np.ascontiguousarray(ytab)
