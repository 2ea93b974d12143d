"""The slag-layer thickness of one camera frame, with its quality, from the segmentation class map.

:func:`measure_slag` takes the class map (0 background, 1 tube, 2 slag, 255 not measured), the
calibrated scale (millimetres per pixel along the axis, or an image-to-plane homography in mm),
optionally the calibrated axis angle, the tube's outer diameter, the class probabilities and the
image-quality gate's verdict, and returns a :class:`SlagMeasurement` whose :meth:`~SlagMeasurement.as_payload`
gives the value fields of the ``slag.thickness/1`` MQTT payload (contract 3).

Method
------
1. The tube axis is estimated from the tube and slag pixels
   (:func:`~edge.measure.tube_axis.estimate_tube_axis`).
   With a calibrated angle the measurement follows the calibration while the estimate agrees
   within :attr:`SlagMeasureConfig.axis_tolerance_deg`; when it disagrees the band is measured
   along the *estimated* axis (the band edges are perpendicular to the tube actually seen: the
   tube or the camera has moved) and the result is UNCERTAIN, naming both angles. Without a
   calibrated angle the estimate is used (BAD when it cannot be made).
2. Lines parallel to the axis, one pixel apart across the tube, each give the length of their
   longest slag run (:func:`~edge.measure.slag_thickness.sample_slag_runs`, sub-pixel ends).
   Other tube/slag regions than the largest are ignored.
3. Each run becomes millimetres: its length times ``mm_per_px``, or, with a homography, the
   distance between its two end points mapped onto the plane (so perspective is handled).
   ``thickness_mm`` is the median over the lines, with ``p10_mm`` / ``p90_mm``, the number of
   ``lines`` and the ``coverage`` (lines with slag / lines crossing the tube at the band).
4. ``confidence`` is the mean probability of the slag class over the slag pixels of the tube
   region (for a class map that is the argmax of the probabilities: the mean max-probability
   there); NaN without probabilities.

Quality (the worst of all checks wins; reasons of the same level are joined with ``"; "``).

BAD, the frame gives no usable thickness:

* class ids other than 0, 1, 2, 255 (a model/bundle mismatch; reported, not raised, so the
  pipeline keeps running and SCADA sees it);
* probabilities contain NaN;
* no tube in view (tube and slag cover less than ``min_tube_fraction`` of the image);
* the tube axis could not be estimated and no calibrated angle was given;
* no slag band found (slag on fewer than ``min_lines`` lines);
* the slag band is cut off: the runs of at least ``bad_border_fraction`` of the lines end at
  the image border or at not-measured pixels (the thickness is only a lower bound);
* the image-quality gate failed, when ``image_gate_quality = "BAD"``.

UNCERTAIN, a thickness is given but should not be trusted on its own:

* the image-quality gate failed (the default level, with the gate's reason);
* the estimated axis disagrees with the calibrated one (measured along the estimate), or the
  tube's sides were not found so the calibrated axis could not be checked;
* the tube is cut by the image edge at the band, or one of its sides is not seen (width, and so
  the scale check, not available); a tube whose side leaves the frame away from the band is fine;
* runs of more than ``max_border_fraction`` of the lines end at the image border or the
  not-measured area;
* the band is fragmented (more than ``max_multi_run_fraction`` of the lines cross several
  separate slag runs) or uneven (``p90 - p10`` above ``max_relative_spread`` of the median and
  above ``min_spread_px`` pixels);
* the coverage is below ``min_coverage``;
* scale check: the tube's width at the band differs from ``tube_diameter_mm`` by more than
  ``scale_check_tolerance``;
* the confidence is below ``min_confidence``.

Programming errors raise :class:`ValueError`: a class map that is not a non-empty 2-D integer
array, both or neither scale, a non-finite or non-positive scale, a homography that is not a
finite invertible 3x3 matrix, probabilities of the wrong shape or dtype or outside ``[0, 1]``.
"""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from edge.measure.quality import MeasureQuality
from edge.measure.slag_thickness import OUTSIDE, SlagRuns, sample_slag_runs
from edge.measure.tube_axis import AxisEstimate, estimate_tube_axis

__all__ = ["SlagMeasureConfig", "SlagMeasurement", "measure_slag"]

log = logging.getLogger(__name__)

VALID_CLASSES = (0, 1, 2, 255)
_IGNORE = 255
_NAN = float("nan")
_INVALID_LUT = np.ones(256, np.uint8)
_INVALID_LUT[list(VALID_CLASSES)] = 0


@dataclass(frozen=True)
class SlagMeasureConfig:
    """Parameters of :func:`measure_slag` (the runtime config's ``[measure.slag]`` table).

    Attributes
    ----------
    min_lines
        Fewest lines with slag for a band to count as found.
    oversample
        Sub-pixel resolution of the run ends (samples per pixel).
    max_gap_px
        Gaps in the slag along a line of up to this many pixels are bridged.
    min_coverage
        Smallest fraction of the tube width (at the band) that must carry slag for GOOD.
    axis_tolerance_deg
        Largest difference between the calibrated and the estimated axis angle for GOOD.
    max_axis_deviation_deg
        Beyond this difference the estimate is not a tube's axis (a broken mask, not a tilted
        tube): the band is measured along the calibrated axis and the result is UNCERTAIN.
    scale_check_tolerance
        Largest relative difference between the measured tube width and the known diameter.
    min_tube_fraction
        Smallest tube/slag region, as a fraction of the image area, that counts as a tube in view.
    max_multi_run_fraction
        Largest fraction of lines with several separate slag runs for GOOD.
    max_relative_spread
        Largest ``(p90 - p10) / median`` for GOOD (spreads up to ``min_spread_px`` always pass).
    min_spread_px
        Spreads up to this many pixels (in mm at the band's scale) are pixel quantisation, not unevenness.
    max_border_fraction
        Largest fraction of lines whose run ends at the image border or the not-measured area
        for GOOD; above it the result is UNCERTAIN.
    bad_border_fraction
        From this fraction of such lines on the result is BAD (the band is cut off).
    min_confidence
        Smallest confidence (mean slag probability) for GOOD when probabilities are given.
    image_gate_quality
        ``"UNCERTAIN"`` or ``"BAD"``: the quality of a frame that failed the image-quality gate.
    """

    min_lines: int = 5
    oversample: int = 8
    max_gap_px: float = 2.0
    min_coverage: float = 0.6
    axis_tolerance_deg: float = 2.0
    max_axis_deviation_deg: float = 20.0
    scale_check_tolerance: float = 0.1
    min_tube_fraction: float = 0.002
    max_multi_run_fraction: float = 0.2
    max_relative_spread: float = 0.3
    min_spread_px: float = 2.0
    max_border_fraction: float = 0.05
    bad_border_fraction: float = 0.5
    min_confidence: float = 0.5
    image_gate_quality: str = "UNCERTAIN"

    def __post_init__(self) -> None:
        for name in ("min_lines", "oversample"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        for name in (
            "max_gap_px",
            "axis_tolerance_deg",
            "max_axis_deviation_deg",
            "scale_check_tolerance",
            "min_spread_px",
            "max_relative_spread",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < math.inf:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        for name in (
            "min_coverage",
            "min_tube_fraction",
            "max_multi_run_fraction",
            "max_border_fraction",
            "bad_border_fraction",
            "min_confidence",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a fraction in [0, 1], got {value!r}")
        if self.bad_border_fraction < self.max_border_fraction:
            raise ValueError(
                f"bad_border_fraction ({self.bad_border_fraction}) must be >= max_border_fraction "
                f"({self.max_border_fraction})"
            )
        if self.image_gate_quality not in ("UNCERTAIN", "BAD"):
            raise ValueError(
                f"image_gate_quality must be 'UNCERTAIN' or 'BAD', got {self.image_gate_quality!r}"
            )


@dataclass(frozen=True)
class SlagMeasurement:
    """The slag measurement of one frame.

    Attributes
    ----------
    thickness_mm
        Median slag-band thickness along the tube axis over the lines, in mm (NaN when not measured).
    p10_mm, p90_mm
        10th and 90th percentile over the lines (NaN when not measured).
    lines
        Number of lines with slag that were used.
    coverage
        Fraction of the tube's width at the band that carries slag (``lines / tube_lines``).
    confidence
        Mean slag-class probability over the slag pixels (NaN without probabilities).
    axis_angle_deg
        The axis angle the band was measured along (NaN when there was none).
    axis_source
        ``"calibration"``, ``"estimated"`` or ``"none"``.
    quality
        GOOD / UNCERTAIN / BAD with the reason.
    tube_in_view
        ``True`` when a tube region was found (for :class:`~edge.measure.dip_cycle.DipCycleAggregator`).
    tube_lines
        Number of lines crossing the tube at the band.
    mm_per_px
        Scale along the axis at the band (the given one, or the median over the lines of the
        homography's), NaN when not measured.
    tube_width_mm
        The tube's width at the band in mm when both sides were seen, else NaN (the scale check).
    estimated_axis_deg
        The axis angle estimated from the mask (NaN when it could not be estimated).
    band_center_px
        Image ``(x, y)`` of the band centre (median of the run midpoints), NaN when not measured.
    """

    thickness_mm: float
    p10_mm: float
    p90_mm: float
    lines: int
    coverage: float
    confidence: float
    axis_angle_deg: float
    axis_source: str
    quality: MeasureQuality
    tube_in_view: bool = False
    tube_lines: int = 0
    mm_per_px: float = _NAN
    tube_width_mm: float = _NAN
    estimated_axis_deg: float = _NAN
    band_center_px: tuple[float, float] = (_NAN, _NAN)

    def as_payload(self) -> dict[str, Any]:
        """The value fields of the ``slag.thickness/1`` payload; NaN becomes ``None``."""

        def number(value: float) -> float | None:
            return float(value) if math.isfinite(value) else None

        return {
            "thickness_mm": number(self.thickness_mm),
            "p10_mm": number(self.p10_mm),
            "p90_mm": number(self.p90_mm),
            "coverage": number(self.coverage),
            "lines": int(self.lines),
            "confidence": number(self.confidence),
            "unit": "mm",
            **self.quality.as_payload(),
        }


def _check_classes(classes: np.ndarray) -> np.ndarray:
    """The class map as a 2-D array, or a ValueError saying what was expected."""
    array = np.asarray(classes)
    if array.ndim != 2 or array.size == 0 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            "classes must be a non-empty 2-D integer array (H, W) of class ids "
            f"(0 background, 1 tube, 2 slag, 255 not measured), got dtype {array.dtype} shape {array.shape}"
        )
    return array


def _invalid_ids(classes: np.ndarray) -> list[int]:
    """The class ids that are not 0, 1, 2 or 255 (empty when all are valid)."""
    if classes.dtype == np.uint8:
        if not cv2.countNonZero(cv2.LUT(np.ascontiguousarray(classes), _INVALID_LUT)):
            return []
    elif bool(np.isin(classes, VALID_CLASSES).all()):
        return []
    values = np.unique(classes)
    return [int(value) for value in values if int(value) not in VALID_CLASSES]


def _check_homography(homography: np.ndarray | Any) -> np.ndarray:
    """A finite, invertible 3x3 homography as float64, or a ValueError."""
    matrix = np.asarray(homography, dtype=np.float64)
    if matrix.shape != (3, 3) or not np.all(np.isfinite(matrix)):
        raise ValueError(
            f"homography must be a finite 3x3 matrix (image -> plane in mm), got shape {matrix.shape}"
        )
    scale = np.abs(matrix).max()
    if scale == 0 or abs(np.linalg.det(matrix / scale)) < 1e-12:
        raise ValueError("homography is not invertible (singular 3x3 matrix)")
    return matrix


def _check_probabilities(probabilities: np.ndarray | Any, shape: tuple[int, ...]) -> np.ndarray:
    """The slag-probability plane ``(H, W)`` of ``(C, H, W)`` (C >= 3) or ``(H, W)`` probabilities."""
    array = np.asarray(probabilities)
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"probabilities must be a float array, got dtype {array.dtype}")
    if array.ndim == 3 and array.shape[0] >= 3 and array.shape[1:] == shape:
        return array
    if array.ndim == 2 and array.shape == shape:
        return array
    raise ValueError(
        f"probabilities must have shape (C, {shape[0]}, {shape[1]}) with C >= 3 (class axis first) "
        f"or ({shape[0]}, {shape[1]}), got {array.shape}"
    )


def _to_plane(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map image points ``(N, 2)`` through the homography (NaN where they map to infinity)."""
    mapped = np.column_stack([points, np.ones(len(points))]) @ matrix.T
    with np.errstate(divide="ignore", invalid="ignore"):
        plane = mapped[:, :2] / mapped[:, 2:3]
    plane[np.abs(mapped[:, 2]) < 1e-12] = np.nan
    return plane


def not_measured(
    quality: MeasureQuality,
    *,
    tube_in_view: bool = False,
    axis_angle_deg: float = _NAN,
    axis_source: str = "none",
    estimated: float = _NAN,
    lines: int = 0,
    coverage: float = 0.0,
    tube_lines: int = 0,
    confidence: float = _NAN,
) -> SlagMeasurement:
    """A measurement without a thickness."""
    return SlagMeasurement(
        thickness_mm=_NAN,
        p10_mm=_NAN,
        p90_mm=_NAN,
        lines=lines,
        coverage=coverage,
        confidence=confidence,
        axis_angle_deg=axis_angle_deg,
        axis_source=axis_source,
        quality=quality,
        tube_in_view=tube_in_view,
        tube_lines=tube_lines,
        estimated_axis_deg=estimated,
    )


def _angle_difference(a: float, b: float) -> float:
    """Smallest difference between two axis angles (modulo 180 degrees)."""
    return abs((a - b + 90.0) % 180.0 - 90.0)


def _region_only(codes: np.ndarray, estimate: AxisEstimate) -> np.ndarray:
    """The class map with tube and slag outside the estimate's region set to background."""
    inside = np.zeros(codes.shape, np.uint8)
    cv2.drawContours(inside, [estimate.contour], -1, 1, thickness=cv2.FILLED)
    keep = inside.view(bool) | (codes == _IGNORE)
    return np.where(keep, codes, np.uint8(0))


def _inside(points: np.ndarray, shape: tuple[int, ...]) -> bool:
    """Whether all image points ``(N, 2)`` lie within the image (pixel centres, half a pixel of slack)."""
    height, width = shape[:2]
    return bool(np.all((points >= -0.5) & (points <= np.array([width - 0.5, height - 0.5]))))


def _border_checks(runs: SlagRuns, used: np.ndarray, config: SlagMeasureConfig) -> MeasureQuality:
    """Runs whose ends touch the image border or the not-measured area (the band may be cut off)."""
    quality = MeasureQuality.good()
    before, after = runs.before[used], runs.after[used]
    for value, where in ((OUTSIDE, "the image border"), (_IGNORE, "the not-measured area")):
        fraction = float(np.mean((before == value) | (after == value)))
        reason = f"slag band reaches {where} on {100 * fraction:.0f}% of the lines"
        if fraction >= config.bad_border_fraction and fraction > 0:
            quality = MeasureQuality.worst(quality, MeasureQuality.bad(reason + " (cut off)"))
        elif fraction > config.max_border_fraction:
            quality = MeasureQuality.worst(quality, MeasureQuality.uncertain(reason))
    return quality


def measure_slag(
    classes: np.ndarray,
    *,
    mm_per_px: float | None = None,
    homography: np.ndarray | None = None,
    axis_angle_deg: float | None = None,
    tube_diameter_mm: float | None = None,
    probabilities: np.ndarray | None = None,
    image_quality_ok: bool = True,
    image_quality_reason: str = "",
    config: SlagMeasureConfig = SlagMeasureConfig(),
) -> SlagMeasurement:
    """Measure the slag-band thickness of one frame from its class map.

    Parameters
    ----------
    classes
        ``(H, W)`` integer class ids: 0 background, 1 tube, 2 slag, 255 not measured.
    mm_per_px
        Millimetres per pixel along the measurement axis (give this or ``homography``).
    homography
        3x3 image -> measurement-plane homography in mm (give this or ``mm_per_px``).
    axis_angle_deg
        Calibrated axis angle (direction down the tube ``(sin a, cos a)``), or ``None`` to use
        the angle estimated from the tube mask.
    tube_diameter_mm
        The tube's known outer diameter, checked against its width in the image.
    probabilities
        Class probabilities ``(C, H, W)`` (class axis first, C >= 3) or the probability of the
        predicted class ``(H, W)``; gives the confidence.
    image_quality_ok, image_quality_reason
        The image-quality gate's verdict on the frame and its reason.
    config
        Thresholds and sampling parameters.

    Returns
    -------
    SlagMeasurement
        The thickness with its spread, coverage, confidence, the axis used and the quality.

    Raises
    ------
    ValueError
        For a class map that is not a non-empty 2-D integer array, both or neither scale, a
        non-finite or non-positive ``mm_per_px``, ``axis_angle_deg`` or ``tube_diameter_mm``,
        a homography that is not a finite invertible 3x3 matrix, or probabilities of the wrong
        shape or dtype or outside ``[0, 1]``.
    """
    classes = _check_classes(classes)
    if (mm_per_px is None) == (homography is None):
        raise ValueError("give exactly one scale: mm_per_px or homography")
    if mm_per_px is not None and not (math.isfinite(mm_per_px) and mm_per_px > 0):
        raise ValueError(f"mm_per_px must be a finite number > 0, got {mm_per_px!r}")
    matrix = _check_homography(homography) if homography is not None else None
    if axis_angle_deg is not None and not math.isfinite(axis_angle_deg):
        raise ValueError(f"axis_angle_deg must be a finite angle in degrees or None, got {axis_angle_deg!r}")
    if tube_diameter_mm is not None and not (math.isfinite(tube_diameter_mm) and tube_diameter_mm > 0):
        raise ValueError(f"tube_diameter_mm must be a finite number > 0 or None, got {tube_diameter_mm!r}")
    probs = _check_probabilities(probabilities, classes.shape) if probabilities is not None else None

    min_area = max(1.0, config.min_tube_fraction * classes.size)
    in_view = int(np.count_nonzero((classes == 1) | (classes == 2))) >= min_area
    invalid = _invalid_ids(classes)
    if invalid:
        shown = ", ".join(str(value) for value in invalid[:5]) + (", ..." if len(invalid) > 5 else "")
        return not_measured(
            MeasureQuality.bad(f"class ids out of range: {shown} (expected 0, 1, 2, 255)"),
            tube_in_view=in_view,
        )
    if probs is not None and bool(np.isnan(probs).any()):
        return not_measured(MeasureQuality.bad("probabilities contain NaN"), tube_in_view=in_view)
    codes = classes if classes.dtype == np.uint8 else classes.astype(np.uint8)

    quality = MeasureQuality.good()
    if not image_quality_ok:
        reason = f"image quality: {image_quality_reason or 'gate failed'}"
        gate = (
            MeasureQuality.bad(reason)
            if config.image_gate_quality == "BAD"
            else MeasureQuality.uncertain(reason)
        )
        quality = MeasureQuality.worst(quality, gate)

    estimate = estimate_tube_axis(codes, min_area_px=math.ceil(min_area), prior_angle_deg=axis_angle_deg)
    if estimate is None and not in_view:
        return not_measured(MeasureQuality.worst(quality, MeasureQuality.bad("no tube in view")))
    estimated = estimate.angle_deg if estimate is not None else _NAN

    if axis_angle_deg is not None:
        angle, source = float(axis_angle_deg), "calibration"
        if estimate is None:
            quality = MeasureQuality.worst(
                quality, MeasureQuality.uncertain("tube sides not found: axis not checked")
            )
        elif _angle_difference(estimate.angle_deg, axis_angle_deg) > config.max_axis_deviation_deg:
            # No plausible tube (tilts are a few degrees): the estimate is the mask's fault.
            quality = MeasureQuality.worst(
                quality,
                MeasureQuality.uncertain(
                    f"tube shape implausible: its axis would be at {estimate.angle_deg:.1f} deg, "
                    f"calibration {axis_angle_deg:.1f} deg; measured along the calibration"
                ),
            )
        elif _angle_difference(estimate.angle_deg, axis_angle_deg) > config.axis_tolerance_deg:
            angle, source = estimate.angle_deg, "estimated"
            quality = MeasureQuality.worst(
                quality,
                MeasureQuality.uncertain(
                    f"axis check: tube axis at {estimate.angle_deg:.1f} deg, "
                    f"calibration {axis_angle_deg:.1f} deg; measured along the tube"
                ),
            )
    elif estimate is None:
        return not_measured(
            MeasureQuality.worst(quality, MeasureQuality.bad("tube axis could not be estimated")),
            tube_in_view=True,
        )
    else:
        angle, source = estimate.angle_deg, "estimated"

    work = _region_only(codes, estimate) if estimate is not None and estimate.components > 1 else codes
    runs = sample_slag_runs(work, angle, oversample=config.oversample, max_gap_px=config.max_gap_px)
    used = runs.has_slag
    lines, tube_lines = int(used.sum()), int(runs.crosses_tube.sum())
    coverage = lines / tube_lines if tube_lines else 0.0

    confidence = _NAN
    if probs is not None:
        plane = probs[2] if probs.ndim == 3 else probs
        if plane.dtype not in (np.float32, np.float64):
            plane = plane.astype(np.float32)
        slag_pixels = (work == 2).view(np.uint8)
        if cv2.countNonZero(slag_pixels):
            confidence = float(cv2.mean(np.ascontiguousarray(plane), mask=slag_pixels)[0])
            if not -1e-3 <= confidence <= 1.0 + 1e-3:
                raise ValueError(
                    "probabilities must lie in [0, 1] (softmax output, not logits); "
                    f"mean slag value {confidence:.3g}"
                )

    if lines < config.min_lines:
        reason = "no slag band found" + (
            f" (slag on {lines} lines, need {config.min_lines})" if lines else ""
        )
        return not_measured(
            MeasureQuality.worst(quality, MeasureQuality.bad(reason)),
            tube_in_view=True,
            axis_angle_deg=angle,
            axis_source=source,
            estimated=estimated,
            lines=lines,
            coverage=coverage,
            tube_lines=tube_lines,
            confidence=confidence,
        )

    starts, ends, length_px = runs.start_xy[used], runs.end_xy[used], runs.length_px[used]
    if matrix is None:
        assert mm_per_px is not None
        thickness = length_px * mm_per_px
        scale = float(mm_per_px)
    else:
        thickness = np.hypot(*(_to_plane(matrix, ends) - _to_plane(matrix, starts)).T)
        finite = np.isfinite(thickness)
        if not finite.all():
            thickness, length_px = thickness[finite], length_px[finite]
            starts, ends = starts[finite], ends[finite]
        if thickness.size < config.min_lines:
            return not_measured(
                MeasureQuality.worst(
                    quality, MeasureQuality.bad("homography maps the slag band to infinity")
                ),
                tube_in_view=True,
                axis_angle_deg=angle,
                axis_source=source,
                estimated=estimated,
            )
        scale = float(np.median(thickness / length_px))
    p10, median, p90 = (float(value) for value in np.percentile(thickness, [10.0, 50.0, 90.0]))
    middles = (starts + ends) / 2.0
    centre = (float(np.median(middles[:, 0])), float(np.median(middles[:, 1])))

    quality = MeasureQuality.worst(quality, _border_checks(runs, used, config))
    multi = float(np.mean(runs.runs[used] > 1))
    if multi > config.max_multi_run_fraction:
        quality = MeasureQuality.worst(
            quality,
            MeasureQuality.uncertain(
                f"slag band fragmented: {100 * multi:.0f}% of the lines cross several slag runs"
            ),
        )
    spread = p90 - p10
    if spread > max(config.max_relative_spread * median, config.min_spread_px * scale):
        quality = MeasureQuality.worst(
            quality,
            MeasureQuality.uncertain(
                f"slag band uneven: p10..p90 {p10:.1f}..{p90:.1f} mm around a median of {median:.1f} mm"
            ),
        )
    if coverage < config.min_coverage:
        quality = MeasureQuality.worst(
            quality,
            MeasureQuality.uncertain(
                f"slag covers {100 * coverage:.0f}% of the tube width "
                f"(minimum {100 * config.min_coverage:.0f}%)"
            ),
        )

    tube_width_mm = _NAN
    sides = estimate.side_points_at(*centre) if estimate is not None else None
    if estimate is not None and sides is None:
        missing = " and ".join(estimate.cut_sides) or "one"
        quality = MeasureQuality.worst(
            quality,
            MeasureQuality.uncertain(
                f"tube cut by the image edge or its {missing} side not found: width not checked"
            ),
        )
    elif sides is not None and not _inside(sides, codes.shape):
        quality = MeasureQuality.worst(
            quality, MeasureQuality.uncertain("tube cut by the image edge at the slag band")
        )
        sides = None
    if sides is not None:
        if matrix is None:
            tube_width_mm = float(np.hypot(*(sides[1] - sides[0]))) * scale
        else:
            plane_sides = _to_plane(matrix, sides)
            tube_width_mm = float(np.hypot(*(plane_sides[1] - plane_sides[0])))
    if (
        tube_diameter_mm is not None
        and math.isfinite(tube_width_mm)
        and abs(tube_width_mm - tube_diameter_mm) > config.scale_check_tolerance * tube_diameter_mm
    ):
        quality = MeasureQuality.worst(
            quality,
            MeasureQuality.uncertain(
                f"scale check: tube measures {tube_width_mm:.0f} mm, expected {tube_diameter_mm:.0f} mm"
            ),
        )
    if math.isfinite(confidence) and confidence < config.min_confidence:
        quality = MeasureQuality.worst(
            quality,
            MeasureQuality.uncertain(
                f"low confidence {confidence:.2f} (minimum {config.min_confidence:.2f})"
            ),
        )

    result = SlagMeasurement(
        thickness_mm=median,
        p10_mm=p10,
        p90_mm=p90,
        lines=int(thickness.size),
        coverage=float(coverage),
        confidence=confidence,
        axis_angle_deg=float(angle),
        axis_source=source,
        quality=quality,
        tube_in_view=True,
        tube_lines=tube_lines,
        mm_per_px=scale,
        tube_width_mm=tube_width_mm,
        estimated_axis_deg=estimated,
        band_center_px=centre,
    )
    log.debug("slag measurement: %s", result)
    return result
