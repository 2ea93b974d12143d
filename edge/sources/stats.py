"""What a source reports about itself: frames delivered, reopen attempts, gaps and skipped frames."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

__all__ = ["Gap", "SkippedFrame", "SourceStats", "StatsRecorder"]


@dataclass(frozen=True)
class Gap:
    """A stretch of time in which a live source delivered no frames.

    Attributes
    ----------
    start_ms
        UTC milliseconds of the last good frame before the gap (or of the moment the source was
        opened, when the gap came before the first frame).
    end_ms
        UTC milliseconds of the first good frame after the gap (or of ``close()``, when the
        source was closed before it recovered).
    reason
        Why it started, e.g. ``"read failed: folder does not exist"`` or ``"stalled: no frame
        for 10.0 s"``.
    """

    start_ms: int
    end_ms: int
    reason: str

    @property
    def length_s(self) -> float:
        """The gap's length in seconds."""
        return (self.end_ms - self.start_ms) / 1000.0


@dataclass(frozen=True)
class SkippedFrame:
    """A frame the source could not deliver and skipped (a corrupt or unusable image file).

    Attributes
    ----------
    name
        What was skipped, e.g. the image file's name.
    reason
        Why, e.g. ``"OpenCV could not decode it"``.
    ts_ms
        UTC milliseconds when it was skipped.
    """

    name: str
    reason: str
    ts_ms: int


@dataclass(frozen=True)
class SourceStats:
    """A snapshot of a source's counters.

    Attributes
    ----------
    frames
        Frames delivered by ``read()``.
    reopen_attempts
        Times a live source tried to reopen after a failure (successful or not).
    reopens
        Reopen attempts that succeeded.
    gaps
        Closed gaps of a live source, oldest first.
    skipped
        Frames skipped as corrupt or unusable, oldest first.
    down_since_ms
        While a live source is in a gap: when the gap started; else ``None``.
    """

    frames: int = 0
    reopen_attempts: int = 0
    reopens: int = 0
    gaps: list[Gap] = field(default_factory=list)
    skipped: list[SkippedFrame] = field(default_factory=list)
    down_since_ms: int | None = None


class StatsRecorder:
    """Thread-safe counters behind :class:`SourceStats` (one per source)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frames = 0
        self._reopen_attempts = 0
        self._reopens = 0
        self._gaps: list[Gap] = []
        self._skipped: list[SkippedFrame] = []

    def frame(self) -> None:
        """Count one delivered frame."""
        with self._lock:
            self._frames += 1

    def reopen_attempt(self) -> None:
        """Count one attempt of a live source to reopen after a failure."""
        with self._lock:
            self._reopen_attempts += 1

    def reopened(self) -> None:
        """Count one reopen attempt that succeeded."""
        with self._lock:
            self._reopens += 1

    def gap(self, gap: Gap) -> None:
        """Record a closed gap."""
        with self._lock:
            self._gaps.append(gap)

    def skipped(self, item: SkippedFrame) -> None:
        """Record a skipped frame."""
        with self._lock:
            self._skipped.append(item)

    def snapshot(
        self, extra_skipped: list[SkippedFrame] | None = None, down_since_ms: int | None = None
    ) -> SourceStats:
        """The counters as an immutable :class:`SourceStats`.

        Parameters
        ----------
        extra_skipped
            Skipped frames recorded elsewhere (by the source a live wrapper has open now), listed
            after this recorder's own.
        down_since_ms
            Start of the gap a live source is in now, if any.
        """
        with self._lock:
            return SourceStats(
                frames=self._frames,
                reopen_attempts=self._reopen_attempts,
                reopens=self._reopens,
                gaps=list(self._gaps),
                skipped=[*self._skipped, *(extra_skipped or [])],
                down_since_ms=down_since_ms,
            )
