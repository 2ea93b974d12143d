"""Slag-layer thickness from a segmentation mask, measured along the tube axis.

The mask holds class ids (0 background, 1 tube, 2 slag, 255 ignore). The tube axis direction
in the image is given by its angle ``a``: the unit vector pointing down the tube is
``(sin a, cos a)`` in image ``(x, y)`` (``a = 0`` is a vertical tube, ``a > 0`` puts the lower
end to the right; the convention of :class:`edge.synth.SlagTruth`). Image coordinates follow
OpenCV: pixel centres at integer ``(x, y)``.

Method: straight sampling lines parallel to the axis, one pixel apart across the tube, are laid
over every part of the mask that holds tube or slag. Each line is sampled at
``oversample`` points per pixel with nearest-neighbour lookup (class ids must not be
interpolated), so a line measures the exact length it runs through the pixel squares of the
slag, also when the tube is tilted. On each line the longest run of slag samples (gaps of up to
``max_gap_px`` bridged) is the local thickness; the median over the lines is the measurement.
Pure numpy, no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["SlagThickness", "slag_thickness"]

TUBE_CLASS = 1
SLAG_CLASS = 2
_CHUNK_SAMPLES = 1 << 20


@dataclass(frozen=True)
class SlagThickness:
    """A slag-thickness measurement from one mask.

    Attributes
    ----------
    median_mm
        Median over the used lines of the slag run length, in mm (NaN when not ``found``).
    p10_mm, p90_mm
        10th and 90th percentile of the same (NaN when not ``found``).
    lines
        Number of lines on which slag was found (the lines used).
    tube_lines
        Number of lines that cross tube or slag pixels (the tube width in lines).
    coverage
        ``lines / tube_lines``: the fraction of the tube width on which slag was found
        (0 when there is no tube).
    found
        ``True`` when at least ``min_lines`` lines carried slag.
    """

    median_mm: float
    p10_mm: float
    p90_mm: float
    lines: int
    tube_lines: int
    coverage: float
    found: bool


def _longest_runs(hits: np.ndarray, max_gap: int) -> np.ndarray:
    """Per row of a boolean ``(L, N)`` array: the length of the longest run of ``True``.

    Runs separated by at most ``max_gap`` ``False`` samples count as one run (the gap included).
    """
    rows = hits.shape[0]
    padded = np.zeros((rows, hits.shape[1] + 2), np.int8)
    padded[:, 1:-1] = hits
    steps = np.diff(padded, axis=1)
    start_rows, starts = np.nonzero(steps == 1)
    _, ends = np.nonzero(steps == -1)
    longest = np.zeros(rows, np.int64)
    if starts.size == 0:
        return longest
    # Runs come out in row-major order, so starts and ends pair up one to one.
    new_group = np.ones(starts.size, bool)
    new_group[1:] = (start_rows[1:] != start_rows[:-1]) | (starts[1:] - ends[:-1] > max_gap)
    group = np.cumsum(new_group) - 1
    group_start = starts[new_group]
    group_end = np.zeros(group_start.size, np.int64)
    np.maximum.at(group_end, group, ends)
    np.maximum.at(longest, start_rows[new_group], group_end - group_start)
    return longest


def slag_thickness(
    mask: np.ndarray,
    axis_angle_deg: float,
    mm_per_px: float,
    min_lines: int = 5,
    *,
    oversample: int = 8,
    max_gap_px: float = 2.0,
) -> SlagThickness:
    """Measure the slag-band thickness in a class mask along the tube axis.

    Parameters
    ----------
    mask
        ``uint8`` (or integer) class ids ``(H, W)``: 1 tube, 2 slag; everything else (0, 255)
        is neither.
    axis_angle_deg
        Angle ``a`` of the tube axis: the direction down the tube is ``(sin a, cos a)`` in image
        ``(x, y)``; the sign of the direction does not matter.
    mm_per_px
        Millimetres per pixel along the axis at the band.
    min_lines
        Fewest lines with slag for the measurement to count as ``found``.
    oversample
        Samples per pixel along each line (sub-pixel resolution of the run lengths).
    max_gap_px
        Gaps in the slag along a line up to this length (in pixels) are bridged.

    Returns
    -------
    SlagThickness
        The median, 10th and 90th percentile thickness in mm over the lines with slag, the
        number of lines used, the tube width in lines, the coverage and whether it was found.
        A mask without tube and slag, or with too few slag lines, gives ``found=False`` (and
        NaN thicknesses) rather than an exception.

    Raises
    ------
    ValueError
        If ``mask`` is not a 2-D integer array, ``mm_per_px`` is not a finite positive number,
        ``axis_angle_deg`` is not finite, or ``min_lines``, ``oversample`` or ``max_gap_px``
        is out of range.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2 or not np.issubdtype(mask.dtype, np.integer):
        raise ValueError(f"mask must be a 2-D integer array of class ids, got {mask.dtype} {mask.shape}")
    if not (math.isfinite(mm_per_px) and mm_per_px > 0):
        raise ValueError(f"mm_per_px must be a finite number > 0, got {mm_per_px!r}")
    if not math.isfinite(axis_angle_deg):
        raise ValueError(f"axis_angle_deg must be a finite angle in degrees, got {axis_angle_deg!r}")
    if int(min_lines) < 1:
        raise ValueError(f"min_lines must be >= 1, got {min_lines!r}")
    if int(oversample) < 1:
        raise ValueError(f"oversample must be >= 1, got {oversample!r}")
    if not max_gap_px >= 0:
        raise ValueError(f"max_gap_px must be >= 0, got {max_gap_px!r}")

    nan = float("nan")
    ys, xs = np.nonzero((mask == TUBE_CLASS) | (mask == SLAG_CLASS))
    if xs.size == 0:
        return SlagThickness(nan, nan, nan, lines=0, tube_lines=0, coverage=0.0, found=False)

    angle = math.radians(axis_angle_deg)
    along = np.array([math.sin(angle), math.cos(angle)])  # (dx, dy) down the tube
    across = np.array([math.cos(angle), -math.sin(angle)])
    s_values = xs * across[0] + ys * across[1]
    t_values = xs * along[0] + ys * along[1]
    offsets = np.arange(math.floor(s_values.min()), math.ceil(s_values.max()) + 1, dtype=np.float64)
    step = 1.0 / int(oversample)
    t_start, t_stop = math.floor(t_values.min()) - 1.0, math.ceil(t_values.max()) + 1.0
    positions = t_start + step * np.arange(round((t_stop - t_start) / step) + 1)

    height, width = mask.shape
    max_gap = math.floor(max_gap_px * oversample + 1e-9)
    runs = np.zeros(offsets.size, np.int64)
    crosses_tube = np.zeros(offsets.size, bool)
    chunk = max(1, _CHUNK_SAMPLES // positions.size)
    for first in range(0, offsets.size, chunk):
        s = offsets[first : first + chunk, None]
        col = np.rint(s * across[0] + positions[None, :] * along[0]).astype(np.int64)
        row = np.rint(s * across[1] + positions[None, :] * along[1]).astype(np.int64)
        inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
        values = np.zeros(col.shape, mask.dtype)
        values[inside] = mask[row[inside], col[inside]]
        slag = values == SLAG_CLASS
        crosses_tube[first : first + chunk] = (slag | (values == TUBE_CLASS)).any(axis=1)
        runs[first : first + chunk] = _longest_runs(slag, max_gap)

    used = runs > 0
    lines, tube_lines = int(used.sum()), int(crosses_tube.sum())
    coverage = lines / tube_lines if tube_lines else 0.0
    if lines < int(min_lines):
        return SlagThickness(
            nan, nan, nan, lines=lines, tube_lines=tube_lines, coverage=coverage, found=False
        )
    thickness_mm = runs[used] * step * mm_per_px
    p10, median, p90 = np.percentile(thickness_mm, [10.0, 50.0, 90.0])
    return SlagThickness(
        median_mm=float(median),
        p10_mm=float(p10),
        p90_mm=float(p90),
        lines=lines,
        tube_lines=tube_lines,
        coverage=float(coverage),
        found=True,
    )
