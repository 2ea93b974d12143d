"""One stable slag measurement per dip cycle, aggregated from the per-frame measurements.

The tube (snorkel) comes into view, is measured for a while and leaves again; one such visit is a
*dip cycle*. :class:`DipCycleAggregator` is fed every frame's result in capture order and emits a
:class:`SlagCycleMeasurement` (the ``slag.measurement/1`` payload of contract 3) when the last
``k_frames`` consecutive GOOD frames agree:

* agreement: ``max - min <= max(tolerance_mm, tolerance_pct / 100 * median)`` over those frames;
* any frame that is not GOOD (or has no finite thickness) breaks the run of consecutive frames;
  so does a frame without the tube;
* one emission per cycle: after it, later frames of the same cycle emit nothing, unless
  ``emit_updates`` is set, in which case every further frame whose last ``k_frames`` agree emits
  an update (same cycle number);
* a cycle ends when the tube has been out of view for ``leave_frames`` consecutive frames; the
  next frame with the tube starts the next cycle (cycles are numbered from 1).

The emitted thickness is the median over the agreeing frames, with their spread (max - min),
standard deviation, count and first and last capture timestamps.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.measure.quality import MeasureQuality, QualityCode
from edge.measure.slag import SlagMeasurement

__all__ = ["DipCycleAggregator", "DipCycleConfig", "SlagCycleMeasurement"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DipCycleConfig:
    """Parameters of :class:`DipCycleAggregator`.

    Attributes
    ----------
    k_frames
        Number of consecutive GOOD frames that must agree.
    tolerance_mm
        Absolute agreement tolerance (max - min) in mm.
    tolerance_pct
        Relative agreement tolerance in percent of the median; the larger of the two applies.
    leave_frames
        Consecutive frames without the tube that end a dip cycle.
    emit_updates
        Emit again on every further agreeing frame of a cycle (default: once per cycle).
    """

    k_frames: int = 5
    tolerance_mm: float = 5.0
    tolerance_pct: float = 3.0
    leave_frames: int = 3
    emit_updates: bool = False

    def __post_init__(self) -> None:
        for name in ("k_frames", "leave_frames"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("tolerance_mm", "tolerance_pct"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < math.inf:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not isinstance(self.emit_updates, bool):
            raise ValueError(f"emit_updates must be true or false, got {self.emit_updates!r}")


@dataclass(frozen=True)
class SlagCycleMeasurement:
    """The stable slag measurement of one dip cycle.

    Attributes
    ----------
    thickness_mm
        Median thickness over the agreeing frames.
    spread_mm
        ``max - min`` over those frames.
    std_mm
        Their standard deviation (population).
    frames
        Number of frames aggregated.
    first_ts, last_ts
        Capture times (UTC ms) of the first and the last of them.
    cycle
        Dip-cycle counter (1 for the first cycle seen).
    quality
        GOOD: only GOOD frames are aggregated.
    """

    thickness_mm: float
    spread_mm: float
    std_mm: float
    frames: int
    first_ts: int
    last_ts: int
    cycle: int
    quality: MeasureQuality

    def as_payload(self) -> dict[str, Any]:
        """The value fields of the ``slag.measurement/1`` payload."""
        return {
            "thickness_mm": float(self.thickness_mm),
            "spread_mm": float(self.spread_mm),
            "std_mm": float(self.std_mm),
            "frames": int(self.frames),
            "first_ts": int(self.first_ts),
            "last_ts": int(self.last_ts),
            "cycle": int(self.cycle),
            "unit": "mm",
            **self.quality.as_payload(),
        }


class DipCycleAggregator:
    """Turns per-frame slag thicknesses into one stable measurement per dip cycle.

    Parameters
    ----------
    config
        Window size, tolerances, cycle end and update policy.
    """

    def __init__(self, config: DipCycleConfig | None = None) -> None:
        self.config = config if config is not None else DipCycleConfig()
        self._window: deque[tuple[float, int]] = deque(maxlen=self.config.k_frames)
        self._cycle = 0
        self._in_cycle = False
        self._emitted = False
        self._absent = 0
        self._last_ts: int | None = None

    @property
    def cycle(self) -> int:
        """The current (or last) dip-cycle number; 0 before the tube was first seen."""
        return self._cycle

    @property
    def in_cycle(self) -> bool:
        """``True`` while a dip cycle is open (the tube is in view or has just left)."""
        return self._in_cycle

    def reset(self) -> None:
        """Forget the open cycle and the frame window (the cycle counter is kept)."""
        self._window.clear()
        self._in_cycle = False
        self._emitted = False
        self._absent = 0

    def add(
        self,
        thickness_mm: float,
        quality: MeasureQuality | str,
        ts_ms: int,
        tube_in_view: bool,
    ) -> SlagCycleMeasurement | None:
        """Feed one frame's result; returns the cycle's measurement when this frame completes it.

        Parameters
        ----------
        thickness_mm
            The frame's thickness (NaN when not measured).
        quality
            The frame's quality (a :class:`MeasureQuality` or its code, ``"GOOD"`` ...).
        ts_ms
            Capture time, UTC ms.
        tube_in_view
            Whether the tube was seen in the frame.

        Returns
        -------
        SlagCycleMeasurement or None
            The aggregated measurement, or ``None`` when this frame emits nothing.
        """
        code = QualityCode(quality.code if isinstance(quality, MeasureQuality) else quality)
        ts_ms = int(ts_ms)
        if self._last_ts is not None and ts_ms < self._last_ts:
            log.warning("dip cycle: timestamp %d is older than the previous one (%d)", ts_ms, self._last_ts)
        self._last_ts = ts_ms
        if not tube_in_view:
            self._window.clear()
            self._absent += 1
            if self._in_cycle and self._absent >= self.config.leave_frames:
                log.debug("dip cycle %d ended at %d (tube out of view)", self._cycle, ts_ms)
                self._in_cycle = False
            return None
        self._absent = 0
        if not self._in_cycle:
            self._cycle += 1
            self._in_cycle = True
            self._emitted = False
            self._window.clear()
            log.debug("dip cycle %d started at %d", self._cycle, ts_ms)
        if code is not QualityCode.GOOD or not math.isfinite(thickness_mm):
            self._window.clear()
            return None
        self._window.append((float(thickness_mm), ts_ms))
        if len(self._window) < self.config.k_frames or (self._emitted and not self.config.emit_updates):
            return None
        values = np.array([value for value, _ in self._window])
        median = float(np.median(values))
        spread = float(values.max() - values.min())
        if spread > max(self.config.tolerance_mm, self.config.tolerance_pct / 100.0 * median):
            return None
        self._emitted = True
        result = SlagCycleMeasurement(
            thickness_mm=median,
            spread_mm=spread,
            std_mm=float(values.std()),
            frames=len(values),
            first_ts=self._window[0][1],
            last_ts=self._window[-1][1],
            cycle=self._cycle,
            quality=MeasureQuality.good(),
        )
        log.info(
            "dip cycle %d: %.1f mm (spread %.1f mm over %d frames)", self._cycle, median, spread, len(values)
        )
        return result

    def add_measurement(self, measurement: SlagMeasurement, ts_ms: int) -> SlagCycleMeasurement | None:
        """:meth:`add` with the fields of a :class:`~edge.measure.slag.SlagMeasurement`."""
        return self.add(measurement.thickness_mm, measurement.quality, ts_ms, measurement.tube_in_view)
