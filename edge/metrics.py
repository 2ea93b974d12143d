"""Pipeline metrics: per-stage timing, fps, latency percentiles, drops, queue depths and RSS.

One :class:`PipelineMetrics` object is shared by the pipeline's threads (every method takes its
lock) and read by whoever reports: the log, the systemd status line, and the MQTT metrics topic.
Timing samples are kept in fixed-size rings, so memory stays flat however long the camera runs.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PipelineMetrics", "StageSummary", "rss_bytes"]

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """The process's resident set size in bytes (Linux ``/proc/self/statm``; 0 where unavailable)."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0


@dataclass(frozen=True)
class StageSummary:
    """Latency figures of one stage over the kept samples, in milliseconds."""

    count: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    def as_dict(self) -> dict[str, float]:
        """The figures as a plain dict (rounded to 0.01 ms)."""
        return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


class PipelineMetrics:
    """Thread-safe counters and timing rings of one pipeline.

    Parameters
    ----------
    window
        How many recent samples each stage keeps for its percentiles.
    fps_window_s
        The span of the recent-fps figure, in seconds.
    """

    def __init__(self, window: int = 4096, fps_window_s: float = 10.0) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1 samples, got {window}")
        self._lock = threading.Lock()
        self._window = window
        self._fps_window_s = fps_window_s
        self._stages: dict[str, deque[float]] = {}
        self._done_times: deque[float] = deque(maxlen=window)
        self._counters: dict[str, int] = {}
        self._depths: dict[str, int] = {}
        self._started = time.monotonic()
        self._first_done: float | None = None
        self._last_done: float | None = None
        self.frames_done = 0

    def add_time(self, stage: str, seconds: float) -> None:
        """Record one duration of ``stage`` (e.g. ``"infer"``, ``"end_to_end"``)."""
        with self._lock:
            ring = self._stages.get(stage)
            if ring is None:
                ring = self._stages[stage] = deque(maxlen=self._window)
            ring.append(seconds)

    def count(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to counter ``name`` (e.g. ``"dropped"``, ``"quality_failed"``)."""
        with self._lock:
            self._counters[name] = self._counters.get(name, 0) + amount

    def set_depth(self, queue: str, depth: int) -> None:
        """Record the current length of ``queue``."""
        with self._lock:
            self._depths[queue] = depth

    def frame_done(self) -> None:
        """Mark one frame as fully processed (for fps)."""
        now = time.monotonic()
        with self._lock:
            self.frames_done += 1
            self._done_times.append(now)
            if self._first_done is None:
                self._first_done = now
            self._last_done = now

    def counter(self, name: str) -> int:
        """The value of counter ``name`` (0 when never counted)."""
        with self._lock:
            return self._counters.get(name, 0)

    def stage(self, name: str) -> StageSummary | None:
        """Percentiles of ``name``'s kept samples, or ``None`` when it has none."""
        with self._lock:
            ring = self._stages.get(name)
            samples = np.array(ring, dtype=np.float64) if ring else None
        if samples is None:
            return None
        ms = samples * 1000.0
        p50, p95, p99 = np.percentile(ms, [50, 95, 99])
        return StageSummary(len(ms), float(ms.mean()), float(p50), float(p95), float(p99), float(ms.max()))

    def fps(self) -> float:
        """Frames per second over the whole run (first to last finished frame)."""
        with self._lock:
            if self._first_done is None or self._last_done is None or self.frames_done < 2:
                return 0.0
            span = self._last_done - self._first_done
            return (self.frames_done - 1) / span if span > 0 else 0.0

    def recent_fps(self) -> float:
        """Frames per second over the last ``fps_window_s`` seconds."""
        now = time.monotonic()
        count, newest, oldest = 0, 0.0, 0.0
        with self._lock:
            # Finish times are appended in order: walk back from the newest until one is too old.
            for t in reversed(self._done_times):
                if now - t > self._fps_window_s:
                    break
                if count == 0:
                    newest = t
                oldest = t
                count += 1
        if count < 2:
            return 0.0
        span = newest - oldest
        return (count - 1) / span if span > 0 else 0.0

    def snapshot(self) -> dict[str, Any]:
        """Every figure as plain JSON-ready values (what the metrics topic publishes)."""
        with self._lock:
            names = list(self._stages)
            counters = dict(self._counters)
            depths = dict(self._depths)
            frames = self.frames_done
        stages = {}
        for name in names:
            summary = self.stage(name)
            if summary is not None:
                stages[name] = summary.as_dict()
        return {
            "frames": frames,
            "fps": round(self.fps(), 3),
            "fps_recent": round(self.recent_fps(), 3),
            "uptime_s": round(time.monotonic() - self._started, 1),
            "latency_ms": stages,
            "counters": counters,
            "queue_depth": depths,
            "rss_bytes": rss_bytes(),
        }

    def status_line(self) -> str:
        """One short line for systemd's STATUS= and the periodic log."""
        e2e = self.stage("end_to_end")
        latency = f", latency p50 {e2e.p50_ms:.0f} ms p99 {e2e.p99_ms:.0f} ms" if e2e else ""
        dropped = self.counter("dropped")
        return f"{self.frames_done} frames, {self.recent_fps():.1f} fps{latency}, {dropped} dropped"
