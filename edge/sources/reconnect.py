"""Keep a live source going: reopen it with capped exponential backoff and report each gap.

:class:`ReconnectingSource` wraps an *opener* (a callable that opens the underlying source). The
underlying source is opened and read on a worker thread of its own, so a read that hangs (a
camera that stalls without an error) is noticed after :attr:`ReconnectPolicy.stall_s` and
abandoned: the worker is told to stop, closes its source once the hanging call returns, and a
fresh source is opened. Release and read of one source thus always happen on the same thread.

A failure (open fails, read raises, the stream ends, or no frame arrives within the stall
timeout) starts a gap at the last good frame. The wrapper then sleeps ``initial_s``, reopens,
and on each further failure multiplies the sleep by ``factor`` up to ``max_s``. Sleeps wait on
the ``stop`` event, so setting it ends them at once. The first good frame closes the gap: it is
logged as a warning with its length and appended to ``stats().gaps``, and the backoff starts
again from ``initial_s`` at the next failure. Sequence numbers run on across reopens.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from edge.frame import Frame, utc_ms
from edge.sources.base import FrameSource
from edge.sources.stats import Gap, SourceStats, StatsRecorder

__all__ = ["Opener", "ReconnectPolicy", "ReconnectingSource"]

log = logging.getLogger(__name__)

Opener = Callable[[threading.Event], FrameSource]
"""Opens the underlying source; the event it gets is that source's ``stop`` (set when abandoned)."""

_SLICE_S = 0.05


@dataclass(frozen=True)
class ReconnectPolicy:
    """How a live source reopens after a failure.

    Attributes
    ----------
    initial_s
        Sleep before the first reopen attempt, seconds.
    max_s
        Longest sleep between attempts, seconds.
    factor
        Each failed attempt multiplies the sleep by this.
    stall_s
        A read (or an open) that takes longer than this counts as a failure ("stalled").
    """

    initial_s: float = 0.5
    max_s: float = 30.0
    factor: float = 2.0
    stall_s: float = 10.0

    def __post_init__(self) -> None:
        if not self.initial_s > 0:
            raise ValueError(f"ReconnectPolicy.initial_s must be > 0, got {self.initial_s}")
        if not self.max_s >= self.initial_s:
            raise ValueError(
                f"ReconnectPolicy.max_s must be >= initial_s ({self.initial_s}), got {self.max_s}"
            )
        if not self.factor >= 1.0:
            raise ValueError(f"ReconnectPolicy.factor must be >= 1, got {self.factor}")
        if not self.stall_s > 0:
            raise ValueError(f"ReconnectPolicy.stall_s must be > 0, got {self.stall_s}")

    def delays(self) -> Iterator[float]:
        """Sleeps before successive reopen attempts: ``initial_s``, times ``factor``, capped at ``max_s``."""
        delay = self.initial_s
        while True:
            yield delay
            delay = min(delay * self.factor, self.max_s)


class _Worker:
    """One underlying source, opened and read on its own daemon thread, one request at a time."""

    def __init__(self, opener: Opener, name: str) -> None:
        self.cancel = threading.Event()
        self.source: FrameSource | None = None
        self.opened = False
        self._opener = opener
        self._requests: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._results: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._requests.put("open")
        self._thread.start()

    def _run(self) -> None:
        try:
            while (request := self._requests.get()) != "close":
                try:
                    if request == "open":
                        self.source = self._opener(self.cancel)
                        self._results.put(("ok", None))
                    else:
                        assert self.source is not None
                        self._results.put(("ok", self.source.read()))
                except Exception as exc:  # any failure of a live source means: reopen it
                    self._results.put(("error", exc))
        finally:
            if self.source is not None:
                try:
                    self.source.close()
                except Exception:
                    log.exception("%s: closing an abandoned source failed", self._thread.name)

    def request_read(self) -> None:
        """Ask for the next frame; collect it with :meth:`wait`."""
        self._requests.put("read")

    def wait(self, timeout: float, *events: threading.Event) -> tuple[str, Any]:
        """The outcome of the pending request.

        Returns
        -------
        tuple
            ``("ok", value)``, ``("error", exception)``, ``("timeout", None)`` after ``timeout``
            seconds, or ``("stopped", None)`` as soon as one of ``events`` is set.
        """
        deadline = time.monotonic() + timeout
        while True:
            if any(event.is_set() for event in events):
                return "stopped", None
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout", None
            try:
                return self._results.get(timeout=min(left, _SLICE_S))
            except queue.Empty:
                continue

    def abandon(self) -> None:
        """Stop the source and let the thread close it once its current call returns."""
        self.cancel.set()
        self._requests.put("close")


@dataclass
class _Outage:
    start_ms: int
    reason: str
    attempts: int = 0


class ReconnectingSource(FrameSource):
    """A live source that survives failures of the source underneath (see the module documentation).

    Parameters
    ----------
    opener
        Opens the underlying source, given the ``stop`` event that source must honour; it may
        raise when the device, stream, file or folder is not there (that is a failed attempt).
    uri
        The source URI (passwords hidden), for logs and frames.
    policy
        Backoff and stall timeout; the defaults of :class:`ReconnectPolicy` when ``None``.
    stop
        When set, :meth:`read` returns ``None`` promptly, also from a backoff sleep or a
        pending read.

    Notes
    -----
    The first open starts at once on the worker thread; :meth:`read` collects it. When it fails,
    the time the wrapper was created starts the gap.
    """

    def __init__(
        self,
        opener: Opener,
        *,
        uri: str,
        policy: ReconnectPolicy | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        super().__init__(uri, live=True, stop=stop)
        self.policy = policy or ReconnectPolicy()
        self._opener = opener
        self._recorder = StatsRecorder()
        self._seq = 0
        self._workers_started = 0
        self._last_good_ms = utc_ms()
        self._outage: _Outage | None = None
        self._delays: Iterator[float] = self.policy.delays()
        self._worker: _Worker | None = self._start_worker()

    def _start_worker(self) -> _Worker:
        self._workers_started += 1
        return _Worker(self._opener, f"source-{self.uri}-{self._workers_started}")

    def read(self) -> Frame | None:
        """The next frame, reopening the underlying source as often as needed.

        Returns
        -------
        Frame or None
            ``None`` only once ``stop`` is set or the source is closed.
        """
        stall_s = self.policy.stall_s
        while not self._halted():
            if self._worker is None:
                if self._outage is not None:
                    delay = next(self._delays)
                    log.info("%s: reopening in %.2f s", self.uri, delay)
                    if self._wait(delay):
                        break
                    self._outage.attempts += 1
                    self._recorder.reopen_attempt()
                self._worker = self._start_worker()
            worker = self._worker
            if not worker.opened:
                status, value = worker.wait(stall_s, self._stop, self._closed)
                if status == "ok":
                    worker.opened = True
                    if self._outage is not None:
                        self._recorder.reopened()
                    continue
                if status == "stopped":
                    self._drop_worker()
                    break
                self._fail("open " + _describe(status, value, stall_s))
                continue
            worker.request_read()
            status, value = worker.wait(stall_s, self._stop, self._closed)
            if status == "ok" and value is not None:
                return self._deliver(value)
            if status == "stopped":
                self._drop_worker()
                break
            self._fail("stream ended" if status == "ok" else "read " + _describe(status, value, stall_s))
        if self._closed.is_set():
            self._drop_worker()  # close() from another thread may have raced with a reopen
        return None

    def _fail(self, reason: str) -> None:
        """Abandon the current source and start (or continue) a gap."""
        self._drop_worker()
        if self._outage is None:
            self._outage = _Outage(start_ms=self._last_good_ms, reason=reason)
            self._delays = self.policy.delays()
            log.warning(
                "%s: %s; reopening with backoff (%.2g s, x%.3g, at most %.3g s)",
                self.uri,
                reason,
                self.policy.initial_s,
                self.policy.factor,
                self.policy.max_s,
            )
        else:
            log.warning("%s: reopen attempt %d failed: %s", self.uri, self._outage.attempts, reason)

    def _deliver(self, frame: Frame) -> Frame:
        """Renumber a frame from the underlying source and close a pending gap."""
        if self._outage is not None:
            gap = Gap(start_ms=self._outage.start_ms, end_ms=frame.ts_ms, reason=self._outage.reason)
            self._recorder.gap(gap)
            log.warning(
                "%s: frames again after a gap of %.2f s (%s; %d reopen attempts)",
                self.uri,
                gap.length_s,
                gap.reason,
                self._outage.attempts,
            )
            self._outage = None
        self._last_good_ms = frame.ts_ms
        delivered = dataclasses.replace(frame, seq=self._seq, source=self.uri)
        self._seq += 1
        self._recorder.frame()
        return delivered

    def _drop_worker(self) -> None:
        """Abandon the current worker, keeping the skipped frames its source recorded."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        if worker.source is not None:
            for item in worker.source.stats().skipped:
                self._recorder.skipped(item)
        worker.abandon()

    def stats(self) -> SourceStats:
        """Frames delivered, reopen attempts, gaps and skipped frames (of every source opened)."""
        worker = self._worker
        source = worker.source if worker is not None else None
        extra = source.stats().skipped if source is not None else []
        outage = self._outage
        return self._recorder.snapshot(extra, outage.start_ms if outage is not None else None)

    def _release(self) -> None:
        self._drop_worker()
        outage, self._outage = self._outage, None
        if outage is not None:
            gap = Gap(outage.start_ms, utc_ms(), f"{outage.reason} (closed before it recovered)")
            self._recorder.gap(gap)
            log.warning("%s: closed during a gap of %.2f s (%s)", self.uri, gap.length_s, outage.reason)


def _describe(status: str, value: Any, stall_s: float) -> str:
    """Words for a failed request: ``"failed: <error>"`` or ``"stalled: ..."``."""
    if status == "timeout":
        return f"stalled: nothing for {stall_s:.3g} s"
    return f"failed: {value}"
