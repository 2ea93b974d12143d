"""The pipeline's measurement step: class maps in, slag thickness or weld geometry out.

:class:`MeasurementStage` is a post handler (see :mod:`edge.pipeline`). For each result it finds
the scale (the calibration file, the config's fixed scale, or, for synthetic sources, the scene's
own truth), measures, and attaches the measurement to the result for the handlers after it (the
publisher, the overlay): ``result.measurement`` (a :class:`~edge.measure.SlagMeasurement` or
:class:`~edge.measure.WeldMeasurement`), for slag ``result.cycle`` (a dip-cycle measurement when one
completes) and for weld ``result.weld_mask`` (the refined mask, frame coordinates).

A calibration made for another image size makes every measurement BAD with that reason (never a
wrong number); a calibration file that breaks on reload is refused and the last good one kept.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from calibration.calibration_file import Calibration, CalibrationError, load_calibration
from edge.bundle.manifest import Manifest
from edge.config import MeasureSection
from edge.measure import (
    DipCycleAggregator,
    MattingConfig,
    MeasureQuality,
    measure_slag,
    measure_weld,
    refine_weld_mask,
)
from edge.measure import slag as slag_module
from edge.measure import weld as weld_module
from edge.metrics import PipelineMetrics
from edge.pipeline import Result
from edge.preprocess import restore_probabilities

__all__ = ["MeasureScale", "MeasurementStage", "scale_from_calibration", "scale_from_truth"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MeasureScale:
    """What a measurement needs from the calibration, for one frame size.

    Exactly one of ``mm_per_px`` and ``homography`` is set. ``image_size`` is ``(height, width)``
    the scale is valid for (``None``: any). ``source`` says where it came from, for the log.
    """

    mm_per_px: float | None
    homography: np.ndarray | None
    axis_angle_deg: float | None
    tube_diameter_mm: float | None
    image_size: tuple[int, int] | None
    source: str
    warning: str | None = None

    def mismatch(self, height: int, width: int) -> str | None:
        """The reason this scale cannot measure a ``height`` x ``width`` frame, or ``None``."""
        if self.image_size is None or self.image_size == (height, width):
            return None
        h, w = self.image_size
        return (
            f"calibration is for {h}x{w} (HxW) frames but this frame is {height}x{width}; recalibrate "
            "the camera or set camera.width/height to the calibrated size"
        )


def scale_from_calibration(calibration: Calibration, source: str) -> MeasureScale:
    """The measurement inputs of a calibration file."""
    scale = calibration.scale
    homography = None if scale.homography is None else np.asarray(scale.homography, np.float64)
    warning = None
    if calibration.verification is not None and calibration.verification.verdict == "FAIL":
        warning = (
            f"calibration {source} failed its verification ({calibration.verification.error_pct:+.2f} % on a "
            "known length); re-run steelsight-calibrate scale and verify"
        )
        log.warning("%s: measurements are UNCERTAIN until then", warning)
    return MeasureScale(
        mm_per_px=scale.mm_per_px,
        homography=homography,
        axis_angle_deg=calibration.axis_angle_deg,
        tube_diameter_mm=calibration.tube_diameter_mm,
        image_size=(calibration.height, calibration.width),
        source=source,
        warning=warning,
    )


def scale_from_truth(truth: dict[str, Any], height: int, width: int) -> MeasureScale:
    """The scale a synthetic scene records about itself (tests and the demo).

    Slag scenes carry their image-to-tube-plane homography, axis angle and tube diameter; weld
    scenes their mm-per-pixel.

    Raises
    ------
    ValueError
        When the truth holds no scale (the frame is not from a synthetic source).
    """
    homography = truth.get("homography_image_to_plane")
    if homography is not None:
        return MeasureScale(
            mm_per_px=None,
            homography=np.asarray(homography, np.float64),
            axis_angle_deg=truth.get("axis_angle_deg"),
            tube_diameter_mm=truth.get("tube_diameter_mm"),
            image_size=(height, width),
            source="scene truth",
        )
    if truth.get("mm_per_px") is not None:
        return MeasureScale(float(truth["mm_per_px"]), None, None, None, (height, width), "scene truth")
    raise ValueError("the frame's scene truth holds no scale (homography_image_to_plane or mm_per_px)")


class MeasurementStage:
    """Measure every pipeline result (a post handler).

    Parameters
    ----------
    section
        The runtime config's ``[measure]`` section.
    manifest
        The bundle's manifest (task, classes, matting thresholds).
    metrics
        Where the measurements' quality codes are counted (``measured_GOOD`` ...).
    calibration
        The ``section.calibration`` file when the caller already loaded it (read here otherwise).

    Raises
    ------
    ValueError
        When the config gives no scale at all, or the task differs from the bundle's, naming the
        keys to set. :class:`~calibration.calibration_file.CalibrationError` for a bad calibration
        file at start.
    """

    def __init__(
        self,
        section: MeasureSection,
        manifest: Manifest,
        metrics: PipelineMetrics | None = None,
        calibration: Calibration | None = None,
    ) -> None:
        if section.task != manifest.task:
            raise ValueError(
                f"measure.task is {section.task!r} but the bundle '{manifest.name}' is a {manifest.task} "
                "model; set measure.task to match or point model.bundle at a "
                f"{section.task} bundle"
            )
        self.section = section
        self.task = section.task
        self._lock = threading.Lock()
        self._fixed: MeasureScale | None = None
        if section.calibration is not None:
            loaded = calibration if calibration is not None else load_calibration(section.calibration)
            self._fixed = scale_from_calibration(loaded, str(section.calibration))
        elif section.mm_per_px is not None:
            self._fixed = MeasureScale(
                section.mm_per_px, None, section.axis_angle_deg, section.tube_diameter_mm, None, "config"
            )
        elif not section.scale_from_truth:
            raise ValueError(
                "no scale for the measurements: set measure.calibration to the camera's calibration file "
                "(steelsight-calibrate), or measure.mm_per_px for a fixed scale, or "
                "measure.scale_from_truth = true for synthetic sources"
            )
        self.dip_cycles = DipCycleAggregator(section.dip_cycle)
        self.matting: MattingConfig | None = None
        matting = manifest.postprocess.matting
        if self.task == "weld" and section.refine and matting is not None:
            self.matting = MattingConfig.from_manifest(matting, max_seconds=section.matting_max_seconds)
        self.measured = 0
        self.metrics = metrics

    @property
    def wants_probabilities(self) -> bool:
        """Whether the engine should return probabilities (weld matting, slag confidence)."""
        return self.matting is not None or (self.task == "slag" and self.section.confidence)

    def reload_calibration(self) -> bool:
        """Load the calibration file again (SIGHUP, MQTT ``reload-calibration``).

        Returns ``True`` when the new file was taken; a bad file is logged and the last good one
        kept (``False``).
        """
        path = self.section.calibration
        if path is None:
            log.warning("reload-calibration: this camera has no calibration file configured")
            return False
        try:
            fresh = scale_from_calibration(load_calibration(path), str(path))
        except CalibrationError as exc:
            log.error("calibration not reloaded, keeping the previous one: %s", exc)
            return False
        with self._lock:
            self._fixed = fresh
        log.info("calibration reloaded from %s", path)
        return True

    def _scale(self, result: Result) -> MeasureScale:
        height, width = result.frame.image.shape[:2]
        if self.section.scale_from_truth and result.frame.truth is not None:
            return scale_from_truth(result.frame.truth, height, width)
        with self._lock:
            fixed = self._fixed
        if fixed is None:
            raise ValueError(
                f"frame {result.frame.seq} from {result.frame.source} carries no scene truth; "
                "measure.scale_from_truth works only with sources that carry truth "
                "(synthetic://, or file://...?truth=FILE)"
            )
        return fixed

    def __call__(self, result: Result) -> None:
        frame = result.frame
        scale = self._scale(result)
        height, width = frame.image.shape[:2]
        problem = scale.mismatch(height, width)
        gate = frame.quality
        if self.task == "slag":
            if problem is not None:
                measurement = slag_module.not_measured(MeasureQuality.bad(problem))
            else:
                probabilities = None
                if self.section.confidence and result.output.probabilities is not None:
                    slag_p = result.output.probabilities[0][2]
                    probabilities = restore_probabilities(slag_p, result.spec, (height, width), fill=0.0)
                measurement = measure_slag(
                    result.classes,
                    mm_per_px=scale.mm_per_px,
                    homography=scale.homography,
                    axis_angle_deg=scale.axis_angle_deg,
                    tube_diameter_mm=scale.tube_diameter_mm,
                    probabilities=probabilities,
                    image_quality_ok=gate is None or gate.ok,
                    image_quality_reason="; ".join(gate.reasons) if gate is not None else "",
                    config=self.section.slag,
                )
            if scale.warning is not None and problem is None:
                measurement = _with_quality(measurement, MeasureQuality.uncertain(scale.warning))
            result.measurement = measurement
            result.cycle = self.dip_cycles.add_measurement(measurement, frame.ts_ms)
        else:
            mask = (result.classes == 1).astype(np.uint8)
            if problem is not None:
                result.measurement = weld_module.not_measured(problem)
                result.weld_mask = mask
                self._count(result)
                return
            if self.matting is not None and result.output.probabilities is not None:
                weld_p = result.output.probabilities[0][1]
                weld_p = restore_probabilities(weld_p, result.spec, (height, width), fill=0.0).astype(
                    np.float32
                )
                refined = refine_weld_mask(frame.image, weld_p, self.matting)
                mask = refined.mask
                result.matting = refined
            weld = measure_weld(
                mask, mm_per_px=scale.mm_per_px, homography=scale.homography, config=self.section.weld
            )
            if gate is not None and not gate.ok and weld.found:
                weld = _with_quality(
                    weld, MeasureQuality.uncertain("image quality: " + "; ".join(gate.reasons))
                )
            if scale.warning is not None and weld.found:
                weld = _with_quality(weld, MeasureQuality.uncertain(scale.warning))
            result.measurement = weld
            result.weld_mask = mask
        self._count(result)

    def _count(self, result: Result) -> None:
        self.measured += 1
        if self.metrics is not None:
            self.metrics.count(f"measured_{result.measurement.quality.code}")
            if result.cycle is not None:
                self.metrics.count("dip_cycles")


def _with_quality(measurement: Any, extra: MeasureQuality) -> Any:
    return dataclasses.replace(measurement, quality=MeasureQuality.worst(measurement.quality, extra))
