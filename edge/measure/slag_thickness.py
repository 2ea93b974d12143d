"""Slag-layer thickness from a segmentation mask, measured along the tube axis.

The mask holds class ids (0 background, 1 tube, 2 slag, 255 ignore). The tube axis direction
in the image is given by its angle ``a``: the unit vector pointing down the tube is
``(sin a, cos a)`` in image ``(x, y)`` (``a = 0`` is a vertical tube, ``a > 0`` puts the lower
end to the right; the convention of :class:`edge.synth.SlagTruth`). Image coordinates follow
OpenCV: pixel centres at integer ``(x, y)``.

Method: straight sampling lines parallel to the axis, one pixel apart across the tube, are laid
over the part of the mask that holds the slag (across the full width of tube and slag). Each line
is sampled once per pixel with nearest-neighbour lookup (class ids must not be interpolated), and
the two ends of its slag run are then refined at ``oversample`` points per pixel, so a line
measures the length it runs through the pixel squares of the slag to ``1 / oversample`` pixel,
also when the tube is tilted. On each line the longest run of slag samples (gaps of up to
``max_gap_px`` bridged) is the local thickness; the median over the lines is the measurement.
:func:`sample_slag_runs` gives the per-line runs (lengths and end points), which
:mod:`edge.measure.slag` converts to millimetres with a scale or a homography. numpy and OpenCV,
no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["OUTSIDE", "SlagRuns", "SlagThickness", "sample_slag_runs", "slag_thickness"]

TUBE_CLASS = 1
SLAG_CLASS = 2
IGNORE_CLASS = 255
OUTSIDE = 254
"""Class value read at points outside the image (:attr:`SlagRuns.before` / :attr:`SlagRuns.after`)."""
_CHUNK_SAMPLES = 1 << 20
_REMAP_LIMIT = 32000  # cv2.remap needs maps below SHRT_MAX in both dimensions
_MARGIN_PX = 2  # coarse samples beyond the slag's extent along the axis


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


@dataclass(frozen=True, eq=False)
class SlagRuns:
    """Per-line slag runs along sampling lines parallel to the tube axis (see :func:`sample_slag_runs`).

    ``L`` lines, one pixel apart across the axis. Image points are OpenCV ``(x, y)``.

    Attributes
    ----------
    axis_angle_deg
        The axis angle the lines follow.
    step_px
        Resolution of the run lengths along a line (``1 / oversample`` pixels).
    offsets
        ``(L,)`` across-axis offset of each line: the line is ``offset * across + t * along``
        with ``across = (cos a, -sin a)`` and ``along = (sin a, cos a)``.
    crosses_tube
        ``(L,)`` whether the line meets tube or slag within the sampled stretch (around the band).
    length_px
        ``(L,)`` length of the longest slag run on the line in pixels; 0 on lines without slag.
    start_xy, end_xy
        ``(L, 2)`` image points where the longest run begins and ends (its outer edges, so their
        distance is ``length_px``); NaN on lines without slag.
    runs
        ``(L,)`` number of separate slag runs on the line after bridging small gaps.
    before, after
        ``(L,)`` class id just before the run's start and just after its end (:data:`OUTSIDE`
        when that point lies outside the image, 255 for a not-measured pixel); 0 without slag.
    """

    axis_angle_deg: float
    step_px: float
    offsets: np.ndarray
    crosses_tube: np.ndarray
    length_px: np.ndarray
    start_xy: np.ndarray
    end_xy: np.ndarray
    runs: np.ndarray
    before: np.ndarray
    after: np.ndarray

    @property
    def has_slag(self) -> np.ndarray:
        """``(L,)`` whether the line carries slag."""
        return self.length_px > 0


def _class_codes(mask: np.ndarray) -> np.ndarray:
    """The mask as ``uint8`` (1 tube, 2 slag, 255 ignore, everything else 0)."""
    if mask.dtype == np.uint8:
        return np.ascontiguousarray(mask)
    codes = np.zeros(mask.shape, np.uint8)
    for value in (TUBE_CLASS, SLAG_CLASS, IGNORE_CLASS):
        codes[mask == value] = value
    return codes


def _projection_range(binary: np.ndarray, direction: np.ndarray) -> tuple[float, float] | None:
    """Smallest and largest ``direction . (x, y)`` over the set pixels, ``None`` when there are none.

    The extremes of a linear function over a pixel set lie on its outer contours, so only the
    contour vertices are projected.
    """
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    points = np.concatenate(contours).reshape(-1, 2).astype(np.float64)
    values = points @ direction
    return float(values.min()), float(values.max())


def _lookup(codes: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Nearest-neighbour class lookup at image points (round half to even, like ``np.rint``).

    Points outside the image read :data:`OUTSIDE`.
    """
    if xs.ndim == 2 and 0 < xs.shape[0] < _REMAP_LIMIT and 0 < xs.shape[1] < _REMAP_LIMIT:
        return cv2.remap(
            codes,
            xs.astype(np.float32),
            ys.astype(np.float32),
            cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=OUTSIDE,
        )
    col, row = np.rint(xs).astype(np.int64), np.rint(ys).astype(np.int64)
    height, width = codes.shape
    inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
    values = np.full(col.shape, OUTSIDE, np.uint8)
    values[inside] = codes[row[inside], col[inside]]
    return values


def _bridged_runs(hits: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of a boolean ``(L, N)`` array: first and last index of the longest run, and the run count.

    Runs separated by at most ``max_gap`` ``False`` samples count as one run. Rows without a
    run get first = last = -1 and count 0. Of equally long runs the first is taken.
    """
    rows = hits.shape[0]
    padded = np.zeros((rows, hits.shape[1] + 2), np.int8)
    padded[:, 1:-1] = hits
    steps = np.diff(padded, axis=1)
    start_rows, starts = np.nonzero(steps == 1)
    _, ends = np.nonzero(steps == -1)  # exclusive ends; runs come out in row-major order
    first = np.full(rows, -1, np.int64)
    last = np.full(rows, -1, np.int64)
    count = np.zeros(rows, np.int64)
    if starts.size == 0:
        return first, last, count
    new_group = np.ones(starts.size, bool)
    new_group[1:] = (start_rows[1:] != start_rows[:-1]) | (starts[1:] - ends[:-1] > max_gap)
    heads = np.flatnonzero(new_group)
    tails = np.append(heads[1:] - 1, starts.size - 1)
    group_row, group_start, group_end = start_rows[heads], starts[heads], ends[tails]
    length = group_end - group_start
    count = np.bincount(group_row, minlength=rows)
    # Sort groups by row, then longest first, then by position: the first of each row wins.
    order = np.lexsort((group_start, -length, group_row))
    keep = order[np.append(True, group_row[order][1:] != group_row[order][:-1])]
    first[group_row[keep]] = group_start[keep]
    last[group_row[keep]] = group_end[keep] - 1
    return first, last, count


def _refine(
    codes: np.ndarray,
    points: np.ndarray,
    along: np.ndarray,
    oversample: int,
    sign: int,
    bridge: bool,
) -> np.ndarray:
    """Sub-pixel run ends: how far (in px, towards ``sign * along``) a run reaches beyond a coarse sample.

    ``points`` ``(M, 2)`` are coarse samples on slag whose coarse neighbour one pixel further in
    direction ``sign * along`` is not slag. The pixel between them is sampled at ``oversample``
    points per pixel; the result is how far the run reaches into it, a multiple of ``1 / oversample``
    in ``[0, 1)``. With ``bridge`` the farthest slag sample counts (small gaps bridged), otherwise
    the contiguous stretch next to the known slag sample.
    """
    if points.shape[0] == 0 or oversample == 1:
        return np.zeros(points.shape[0])
    fractions = np.arange(1, oversample) / oversample
    offsets = sign * fractions[None, :, None] * along[None, None, :]
    fine = points[:, None, :] + offsets
    slag = _lookup(codes, fine[..., 0], fine[..., 1]) == SLAG_CLASS
    if bridge:
        reach = np.where(slag, np.arange(1, oversample)[None, :], 0).max(axis=1)
    else:
        blocked = ~slag
        reach = np.where(blocked.any(axis=1), blocked.argmax(axis=1), oversample - 1)
    return reach / oversample


def sample_slag_runs(
    mask: np.ndarray,
    axis_angle_deg: float,
    *,
    oversample: int = 8,
    max_gap_px: float = 2.0,
) -> SlagRuns:
    """Lay lines parallel to the tube axis over the mask and find the slag run on each.

    Lines run one pixel apart across the whole width of the tube and slag pixels; along the axis
    they cover the slag pixels (or the whole tube when there is no slag) plus a two-pixel margin.
    Each line is first sampled once per pixel (nearest neighbour, through ``cv2.remap``): the
    longest run of slag samples, gaps of up to ``max_gap_px`` bridged, is the line's run. Its
    two ends are then refined to ``1 / oversample`` pixel by sampling the pixel beyond each end
    at ``oversample`` points, so a run's length is what a line sampled at ``oversample`` points
    per pixel measures through the pixel squares of the slag, also for a tilted tube.

    Parameters
    ----------
    mask
        2-D integer class ids: 1 tube, 2 slag, 255 not measured; anything else is background.
    axis_angle_deg
        Axis angle ``a``: the direction down the tube is ``(sin a, cos a)`` in image ``(x, y)``.
    oversample
        Sub-pixel resolution of the run ends (samples per pixel).
    max_gap_px
        Gaps in the slag along a line of up to this many pixels are bridged.

    Returns
    -------
    SlagRuns
        The per-line runs; no lines at all when the mask holds neither tube nor slag.

    Raises
    ------
    ValueError
        If the mask is not a 2-D integer array or a parameter is out of range.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2 or not np.issubdtype(mask.dtype, np.integer):
        raise ValueError(f"mask must be a 2-D integer array of class ids, got {mask.dtype} {mask.shape}")
    if not math.isfinite(axis_angle_deg):
        raise ValueError(f"axis_angle_deg must be a finite angle in degrees, got {axis_angle_deg!r}")
    if int(oversample) < 1:
        raise ValueError(f"oversample must be >= 1, got {oversample!r}")
    if not max_gap_px >= 0:
        raise ValueError(f"max_gap_px must be >= 0, got {max_gap_px!r}")
    oversample = int(oversample)
    codes = _class_codes(mask)
    angle = math.radians(axis_angle_deg)
    along = np.array([math.sin(angle), math.cos(angle)])  # (dx, dy) down the tube
    across = np.array([math.cos(angle), -math.sin(angle)])

    foreground = ((codes == TUBE_CLASS) | (codes == SLAG_CLASS)).view(np.uint8)
    slag_mask = (codes == SLAG_CLASS).view(np.uint8)
    s_range = _projection_range(foreground, across)
    if s_range is None:
        empty = np.zeros(0)
        return SlagRuns(
            axis_angle_deg=float(axis_angle_deg),
            step_px=1.0 / oversample,
            offsets=empty,
            crosses_tube=np.zeros(0, bool),
            length_px=empty,
            start_xy=np.zeros((0, 2)),
            end_xy=np.zeros((0, 2)),
            runs=np.zeros(0, np.int64),
            before=np.zeros(0, np.uint8),
            after=np.zeros(0, np.uint8),
        )
    t_range = _projection_range(slag_mask, along) or _projection_range(foreground, along)
    assert t_range is not None
    offsets = np.arange(math.floor(s_range[0]), math.ceil(s_range[1]) + 1, dtype=np.float64)
    t0 = math.floor(t_range[0]) - _MARGIN_PX
    positions = np.arange(t0, math.ceil(t_range[1]) + _MARGIN_PX + 1, dtype=np.float64)

    lines = offsets.size
    first = np.full(lines, -1, np.int64)
    last = np.full(lines, -1, np.int64)
    runs = np.zeros(lines, np.int64)
    before = np.zeros(lines, np.uint8)
    after = np.zeros(lines, np.uint8)
    crosses = np.zeros(lines, bool)
    max_gap = math.floor(max_gap_px + 1e-9)
    chunk = max(1, min(_REMAP_LIMIT - 1, _CHUNK_SAMPLES // positions.size))
    for lo in range(0, lines, chunk):
        s = offsets[lo : lo + chunk, None]
        values = _lookup(
            codes,
            s * across[0] + positions[None, :] * along[0],
            s * across[1] + positions[None, :] * along[1],
        )
        crosses[lo : lo + chunk] = ((values == TUBE_CLASS) | (values == SLAG_CLASS)).any(axis=1)
        head, tail, count = _bridged_runs(values == SLAG_CLASS, max_gap)
        first[lo : lo + chunk], last[lo : lo + chunk], runs[lo : lo + chunk] = head, tail, count
        rows = np.flatnonzero(count)
        before[lo + rows] = values[rows, head[rows] - 1]
        after[lo + rows] = values[rows, tail[rows] + 1]

    used = np.flatnonzero(runs)
    base = offsets[used, None] * across[None, :]
    start_coarse = base + positions[first[used], None] * along[None, :]
    end_coarse = base + positions[last[used], None] * along[None, :]
    bridge = max_gap_px >= 1.0
    step = 1.0 / oversample
    start_t = positions[first[used]] - _refine(codes, start_coarse, along, oversample, -1, bridge) - step / 2
    end_t = positions[last[used]] + _refine(codes, end_coarse, along, oversample, 1, bridge) + step / 2
    length = np.zeros(lines)
    length[used] = end_t - start_t
    start_xy = np.full((lines, 2), np.nan)
    end_xy = np.full((lines, 2), np.nan)
    start_xy[used] = base + start_t[:, None] * along[None, :]
    end_xy[used] = base + end_t[:, None] * along[None, :]
    return SlagRuns(
        axis_angle_deg=float(axis_angle_deg),
        step_px=step,
        offsets=offsets,
        crosses_tube=crosses,
        length_px=length,
        start_xy=start_xy,
        end_xy=end_xy,
        runs=runs,
        before=before,
        after=after,
    )


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
    sampled = sample_slag_runs(mask, axis_angle_deg, oversample=oversample, max_gap_px=max_gap_px)
    used = sampled.has_slag
    lines, tube_lines = int(used.sum()), int(sampled.crosses_tube.sum())
    coverage = lines / tube_lines if tube_lines else 0.0
    if lines < int(min_lines):
        return SlagThickness(
            nan, nan, nan, lines=lines, tube_lines=tube_lines, coverage=coverage, found=False
        )
    thickness_mm = sampled.length_px[used] * mm_per_px
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
