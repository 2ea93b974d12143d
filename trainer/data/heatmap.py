"""SHDM-Net detail-guidance targets: Gaussian heatmaps around class boundaries (DESIGN.md, SHDM-Net 2).

The detail branch sits on the stride-4 low-level features and is trained with MSE against

    B = |Laplacian(mask)| > 0.1,  D = distance to B,  H = exp(-D^2 / (2 sigma^2)) where D < 3 sigma, else 0.

Definitions used here:

- **Resolution.** Targets are made at the detail head's resolution: the mask is first resized with
  nearest neighbour (half-pixel centres, :func:`trainer.data.augment.resize_label_map`) to ``out_size``,
  usually :func:`stride4_size` of the network input; ``sigma`` is then in output pixels.
- **Boundary.** The Laplacian is the 4-neighbour kernel ``[[0, 1, 0], [1, -4, 1], [0, 1, 0]]`` with the
  image border replicated (the frame edge is never a boundary). It is applied to the indicator map of each
  class, and B is the union of ``|Laplacian(class == k)| > 0.1`` over the classes. For a binary mask this
  is exactly the Laplacian of the mask itself; for several classes it is exactly "some 4-neighbour has a
  different class id", which the Laplacian of the raw class-id map is not (a pixel of class 1 between
  classes 0 and 2 sums to 0 and would be missed). So any class change is a boundary, and B is two pixels
  thick: the pixels on both sides of a class change are at distance 0.
- **Distance.** Exact Euclidean distance in pixels from each pixel centre to the nearest boundary pixel
  centre (``cv2.distanceTransform`` with ``DIST_MASK_PRECISE``). For a straight edge between columns
  ``e - 1`` and ``e``, column ``e + k`` and column ``e - 1 - k`` have ``D = k``; the geometric distance to
  the edge line is ``D + 0.5``.
- **Ignore.** Before the Laplacian every ``ignore_index`` pixel takes the label of its nearest labelled
  pixel (Euclidean; ties broken by scipy), so an ignore region never forms a boundary with its
  neighbours by itself: inside one class it disappears, and where it separates two classes the boundary
  falls on the line of equal distance between them (where the real, unlabelled edge most likely is), whose
  heat reaches labelled pixels nearby. The heatmap is 0 on ignore pixels. A mask with no labelled pixel,
  or only one class, gives all zeros.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy import ndimage

from trainer.data.augment import resize_label_map

__all__ = ["BOUNDARY_THRESHOLD", "boundary_heatmap", "boundary_mask", "stride4_size"]

#: |Laplacian| above this marks a boundary pixel (DESIGN.md); indicator Laplacians are integers.
BOUNDARY_THRESHOLD = 0.1

# Heat is set to 0 at distances of at least this many sigma (DESIGN.md).
_CUTOFF_SIGMAS = 3.0


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _ceil_half(n: int) -> int:
    """``ceil(n / 2)``: the output size of a stride-2 step that rounds up."""
    return (n + 1) // 2


def stride4_size(height: int, width: int) -> tuple[int, int]:
    """Return the detail head's ``(height, width)`` for an input of ``height x width``.

    Both backbones (MobileNetV2, ResNet-50) reach stride 4 with two stride-2 steps (3x3 convolutions with
    padding 1, or a padded max pool), each giving ``ceil(n / 2)``; so ``ceil(ceil(n / 2) / 2)`` per side,
    e.g. 513 -> 257 -> 129.
    """
    height = _check_positive_int("height", height)
    width = _check_positive_int("width", width)
    return _ceil_half(_ceil_half(height)), _ceil_half(_ceil_half(width))


def _check_mask(mask: np.ndarray) -> None:
    if (
        not isinstance(mask, np.ndarray)
        or mask.ndim != 2
        or not np.issubdtype(mask.dtype, np.integer)
        or mask.size == 0
    ):
        shape = getattr(mask, "shape", None)
        dtype = getattr(mask, "dtype", type(mask).__name__)
        raise ValueError(f"mask must be a non-empty 2-D integer class-id array, got {dtype} of shape {shape}")


def _fill_ignore(mask: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Give every invalid pixel the label of its nearest valid pixel (``valid`` must have a True)."""
    if valid.all():
        return mask
    # The EDT measures from non-zero pixels to the nearest zero pixel: zeros are the valid pixels.
    rows, cols = ndimage.distance_transform_edt(~valid, return_distances=False, return_indices=True)
    return mask[rows, cols]


def boundary_mask(mask: np.ndarray, ignore_index: int = 255) -> np.ndarray:
    """Return B, the boolean map of boundary pixels of a class-id mask (see the module docstring).

    Parameters
    ----------
    mask
        2-D integer class ids.
    ignore_index
        Unlabelled value; such pixels are first filled from the nearest labelled pixel.

    Returns
    -------
    numpy.ndarray
        ``bool`` array of the mask's shape; all False without labelled pixels or with a single class.
    """
    _check_mask(mask)
    valid = mask != ignore_index
    boundary = np.zeros(mask.shape, dtype=bool)
    if not valid.any():
        return boundary
    labels = _fill_ignore(mask, valid)
    classes = np.unique(labels)
    # Every class change touches two classes, so the indicators of all classes but one find all of them.
    for class_id in classes[:-1]:
        indicator = (labels == class_id).astype(np.float32)
        laplacian = cv2.Laplacian(indicator, cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REPLICATE)
        boundary |= np.abs(laplacian) > BOUNDARY_THRESHOLD
    return boundary


def boundary_heatmap(
    mask: np.ndarray,
    sigma: float,
    out_size: tuple[int, int] | None = None,
    ignore_index: int = 255,
) -> np.ndarray:
    """Return the SHDM detail-guidance target ``H = exp(-D^2 / (2 sigma^2))`` for ``D < 3 sigma``, else 0.

    Parameters
    ----------
    mask
        2-D integer class ids (``uint8`` by the project's convention), at any resolution.
    sigma
        Gaussian width in pixels of the output (after resizing to ``out_size``); must be positive.
    out_size
        ``(height, width)`` of the target, usually ``stride4_size(*input_size)``; the mask is resized to
        it by nearest neighbour first. ``None`` keeps the mask's size.
    ignore_index
        Unlabelled value: it creates no boundary by itself and gets heat 0.

    Returns
    -------
    numpy.ndarray
        ``float32`` in [0, 1] of shape ``out_size`` (or the mask's shape): 1 on boundary pixels, 0 at
        distances of at least ``3 sigma``, on ignore pixels and everywhere for a mask without a boundary.
    """
    _check_mask(mask)
    if (
        isinstance(sigma, (bool, np.bool_))
        or not isinstance(sigma, (int, float, np.integer, np.floating))
        or not math.isfinite(sigma)
        or sigma <= 0
    ):
        raise ValueError(f"sigma must be a finite number > 0 (output pixels), got {sigma!r}")
    if out_size is not None:
        try:
            height, width = out_size
        except (TypeError, ValueError):
            raise ValueError(f"out_size must be (height, width) or None, got {out_size!r}") from None
        out_size = (
            _check_positive_int("out_size height", height),
            _check_positive_int("out_size width", width),
        )
        mask = resize_label_map(mask, out_size)
    boundary = boundary_mask(mask, ignore_index)
    heat = np.zeros(mask.shape, dtype=np.float32)
    if not boundary.any():
        return heat
    distance = cv2.distanceTransform((~boundary).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    near = (distance < _CUTOFF_SIGMAS * sigma) & (mask != ignore_index)
    d = distance[near].astype(np.float64)
    heat[near] = np.exp(-(d * d) / (2.0 * float(sigma) ** 2))
    return heat
