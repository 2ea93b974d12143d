"""The CPU preprocessing path (numpy and OpenCV), and the undistortion maps it shares with the GPU path.

:func:`preprocess_cpu` gives the numbers the trainer gives::

    resized = cv2.resize(frame[roi], (width, height), interpolation=cv2.INTER_LINEAR)  # uint8
    out[c] = (resized[..., src[c]] / 255 - mean[c]) / std[c]                          # float32

It resizes the ``uint8`` crop (a view of the frame, no copy), splits the small result into its
channel planes and maps each plane through a 256-entry table of the normalized values straight into
its slice of the output (``cv2.LUT``): the division by 255, the mean and the std are folded into the
table, evaluated in float32 in the trainer's order, so the result equals the plain formula bit for
bit (also for float16, which is rounded from the same float32 values).
"""

from __future__ import annotations

import logging
from typing import Any

import cv2
import numpy as np

from edge.preprocess.spec import PreprocessSpec, check_frame

__all__ = ["INTERPOLATION", "UndistortMaps", "preprocess_cpu"]

log = logging.getLogger(__name__)

INTERPOLATION = {
    "bilinear": cv2.INTER_LINEAR,
    "nearest": cv2.INTER_NEAREST_EXACT,
    "area": cv2.INTER_AREA,
}
"""OpenCV interpolation flag of each manifest resize mode (half-pixel centres throughout)."""

_DIST_LENGTHS = (4, 5, 8, 12, 14)
_MAX_CACHED_CROPS = 8


class UndistortMaps:
    """Per-pixel undistortion maps of one camera: for every undistorted pixel, where to sample the frame.

    The maps are ``float32`` ``[H, W]`` (OpenCV ``CV_32FC1``): ``map_x[y, x], map_y[y, x]`` is the
    frame position seen at undistorted pixel ``(x, y)``. Frames are resampled bilinearly
    (``cv2.remap`` with ``INTER_LINEAR``); positions outside the frame read black (``BORDER_CONSTANT``
    0, as ``cv2.undistort``). The CUDA path uploads the same maps and reproduces ``cv2.remap``.

    Parameters
    ----------
    map_x, map_y
        ``float32`` arrays of the same 2-D shape ``(height, width)`` (the frame size).
    """

    def __init__(self, map_x: np.ndarray, map_y: np.ndarray) -> None:
        for name, value in (("map_x", map_x), ("map_y", map_y)):
            if not isinstance(value, np.ndarray) or value.dtype != np.float32 or value.ndim != 2:
                raise ValueError(
                    f"UndistortMaps.{name} must be a float32 array of shape (height, width), got "
                    f"{getattr(value, 'dtype', type(value).__name__)} "
                    f"of shape {getattr(value, 'shape', None)}"
                )
        if map_x.shape != map_y.shape:
            raise ValueError(f"UndistortMaps: map_x {map_x.shape} and map_y {map_y.shape} differ in shape")
        self.map_x = np.ascontiguousarray(map_x)
        self.map_y = np.ascontiguousarray(map_y)
        self._crops: dict[tuple[int, int, int, int], tuple[np.ndarray, np.ndarray]] = {}

    @classmethod
    def from_calibration(
        cls,
        camera_matrix: Any,
        dist_coeffs: Any,
        image_size: tuple[int, int],
        new_camera_matrix: Any = None,
    ) -> UndistortMaps:
        """Build the maps from a camera calibration (``cv2.initUndistortRectifyMap``).

        Parameters
        ----------
        camera_matrix
            The 3x3 camera matrix ``K`` of the calibration.
        dist_coeffs
            OpenCV distortion coefficients ``(k1, k2, p1, p2[, k3[, k4, k5, k6[, s1..s4[, tx, ty]]]])``.
        image_size
            ``(height, width)`` of the frames, as the calibration file records it.
        new_camera_matrix
            The camera matrix of the undistorted image; ``None`` keeps ``K`` (as ``cv2.undistort``).

        Returns
        -------
        UndistortMaps
            The maps for frames of ``image_size``.

        Raises
        ------
        ValueError
            When ``K`` is not a finite 3x3 matrix, the coefficients are not 4, 5, 8, 12 or 14 finite
            numbers, or the size is not two positive integers.
        """
        k = _matrix(camera_matrix, "camera_matrix")
        new_k = k if new_camera_matrix is None else _matrix(new_camera_matrix, "new_camera_matrix")
        dist = np.asarray(dist_coeffs, dtype=np.float64).reshape(-1)
        if dist.size not in _DIST_LENGTHS or not np.all(np.isfinite(dist)):
            raise ValueError(
                f"dist_coeffs must be {', '.join(map(str, _DIST_LENGTHS))} finite numbers (OpenCV order), "
                f"got {np.asarray(dist_coeffs).tolist()!r}"
            )
        height, width = _size(image_size)
        map_x, map_y = cv2.initUndistortRectifyMap(k, dist, None, new_k, (width, height), cv2.CV_32FC1)
        return cls(map_x, map_y)

    @property
    def image_size(self) -> tuple[int, int]:
        """``(height, width)`` of the frames these maps are for."""
        return (int(self.map_x.shape[0]), int(self.map_x.shape[1]))

    def crop(self, roi: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The maps of the ROI ``(x, y, w, h)`` as contiguous arrays (cached per ROI; read-only)."""
        cached = self._crops.get(roi)
        if cached is None:
            x, y, w, h = roi
            cached = (
                np.ascontiguousarray(self.map_x[y : y + h, x : x + w]),
                np.ascontiguousarray(self.map_y[y : y + h, x : x + w]),
            )
            for array in cached:
                array.setflags(write=False)
            if len(self._crops) >= _MAX_CACHED_CROPS:  # ROIs change rarely; keep the newest few
                self._crops.clear()
            self._crops[roi] = cached
        return cached

    def remap(self, image: np.ndarray, roi: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """Undistort ``image`` (or only the ROI ``(x, y, w, h)`` of the undistorted image) with ``cv2.remap``.

        Raises
        ------
        ValueError
            When the image size differs from the maps' size.
        """
        height, width = image.shape[:2]
        if (height, width) != self.image_size:
            raise ValueError(
                f"the undistortion maps are for {self.image_size[1]}x{self.image_size[0]} frames but this "
                f"frame is {width}x{height} (width x height); recalibrate for this resolution"
            )
        map_x, map_y = (self.map_x, self.map_y) if roi is None else self.crop(roi)
        return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def preprocess_cpu(
    image: np.ndarray,
    spec: PreprocessSpec,
    undistort: UndistortMaps | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Turn one BGR ``uint8`` frame into the network input ``[3, height, width]`` on the CPU.

    Parameters
    ----------
    image
        ``HxWx3`` ``uint8`` frame in BGR order.
    spec
        The preprocessing (size, ROI, colour order, normalization, output dtype).
    undistort
        Undistortion maps for this frame size, or ``None`` to use the frame as it is.
    out
        A preallocated ``[3, height, width]`` array of ``spec.dtype`` to write into (a page-locked
        buffer or a slice of a batch), or ``None`` to allocate one.

    Returns
    -------
    numpy.ndarray
        ``out`` (or the new array), ``(x / 255 - mean) / std`` per channel in ``spec.color`` order.

    Raises
    ------
    ValueError
        When the frame is not ``HxWx3`` uint8, the ROI does not fit the frame, the maps are for
        another frame size, or ``out`` has the wrong shape or dtype.
    """
    if not isinstance(spec, PreprocessSpec):
        raise ValueError(f"spec must be a PreprocessSpec, got {type(spec).__name__}")
    height, width = check_frame(image)
    roi = spec.roi_in(height, width)
    x, y, w, h = roi
    if out is None:
        out = np.empty(spec.shape, dtype=spec.dtype)
    elif not isinstance(out, np.ndarray) or out.shape != spec.shape or out.dtype != np.dtype(spec.dtype):
        raise ValueError(
            f"out must be a {spec.dtype} array of shape {spec.shape}, got "
            f"{getattr(out, 'dtype', type(out).__name__)} of shape {getattr(out, 'shape', None)}"
        )
    region = image[y : y + h, x : x + w] if undistort is None else undistort.remap(image, roi)
    if (h, w) != (spec.height, spec.width):
        region = cv2.resize(region, (spec.width, spec.height), interpolation=INTERPOLATION[spec.resize])
    planes = cv2.split(region)
    lut = spec.lut
    for channel, source in enumerate(spec.source_channels):
        _lookup(planes[source], lut[channel], out[channel])
    return out


def _lookup(plane: np.ndarray, table: np.ndarray, dest: np.ndarray) -> None:
    """``dest[...] = table[plane]``: ``cv2.LUT`` writes in place where it can, numpy does the rest."""
    if dest.flags.c_contiguous:
        try:
            result = cv2.LUT(plane, table, dst=dest)
        except cv2.error:  # an OpenCV without float16 tables
            pass
        else:
            if not np.shares_memory(result, dest):
                np.copyto(dest, result)
            return
    dest[...] = table[plane]


def _matrix(value: Any, name: str) -> np.ndarray:
    try:
        matrix = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        matrix = None
    if matrix is None or matrix.shape != (3, 3) or not np.all(np.isfinite(matrix)):
        raise ValueError(f"{name} must be a finite 3x3 matrix, got {value!r}")
    return matrix


def _size(value: Any) -> tuple[int, int]:
    items = list(value) if isinstance(value, (tuple, list, np.ndarray)) else []
    if len(items) != 2 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in items
    ):
        raise ValueError(f"image_size must be (height, width), two positive integers, got {value!r}")
    return (int(items[0]), int(items[1]))
