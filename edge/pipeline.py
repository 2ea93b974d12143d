"""The streaming pipeline: capture -> preprocess + infer (the engine's thread) -> post stage.

Three threads joined by bounded queues:

``capture``
    reads frames from the source, paces them to ``rate_hz``, runs the image-quality gate and
    queues them. A live source never waits for the engine: when the queue is full the oldest
    waiting frame is dropped (counted); a file source blocks instead, so every frame is processed.
``engine``
    owns the inference backend (it creates it, so every CUDA call of a TensorRT engine is made
    on this thread), preprocesses each frame into the engine's input and runs it, and feeds the
    systemd watchdog.
``post``
    maps the class map back to frame coordinates and calls the post handlers in order (the
    measurement, the outbox, the overlay writer); a handler that raises is logged and counted,
    never stops the camera.

:meth:`Pipeline.stop` (from a signal handler) stops capture and lets the frames already queued
finish; :meth:`Pipeline.run` then returns a :class:`PipelineSummary`.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from edge.engines.base import Engine, EngineOutput
from edge.frame import Frame
from edge.metrics import PipelineMetrics
from edge.preprocess import PreprocessSpec, UndistortMaps, preprocess_cpu, restore_mask
from edge.quality import QualityConfig, assess_quality
from edge.sources import FrameSource
from edge.systemd_notify import SystemdNotifier

__all__ = [
    "FrameQueue",
    "InferenceStep",
    "Pipeline",
    "PipelineSummary",
    "PostHandler",
    "Result",
    "cpu_inference_step",
]

log = logging.getLogger(__name__)

_END = object()
_IDLE_POLL_S = 0.5
_STATUS_EVERY_S = 10.0


@dataclass
class Result:
    """What the post stage receives for one frame.

    Attributes
    ----------
    frame
        The frame (with its quality verdict and stage timings).
    output
        The engine's output at network resolution (``classes[0]`` is ``H x W``).
    spec
        The preprocessing that produced the network input (ROI and size), to map results back.
    measurement, cycle, weld_mask, matting
        Filled by the measurement stage for the handlers after it: the frame's slag or weld
        measurement, a completed dip-cycle measurement, the (refined) weld mask in frame
        coordinates and the matting result.
    """

    frame: Frame
    output: EngineOutput
    spec: PreprocessSpec
    measurement: Any = None
    cycle: Any = None
    weld_mask: np.ndarray | None = field(default=None, repr=False)
    matting: Any = None
    _classes: np.ndarray | None = field(default=None, repr=False)

    @property
    def net_classes(self) -> np.ndarray:
        """The class map at network resolution (``H x W`` uint8)."""
        return self.output.classes[0]

    @property
    def classes(self) -> np.ndarray:
        """The class map in frame coordinates (255 outside the ROI); computed once, on first use."""
        if self._classes is None:
            self._classes = restore_mask(self.net_classes, self.spec, self.frame.image.shape[:2])
        return self._classes


class PostHandler(Protocol):
    """A post-stage step: called once per result, in frame order, on the post thread."""

    def __call__(self, result: Result) -> None: ...


InferenceStep = Callable[[Frame], EngineOutput]
"""Preprocess one frame into the engine's input and run it (called on the engine thread)."""


def cpu_inference_step(
    engine: Engine, spec: PreprocessSpec, probabilities: bool = False, undistort: UndistortMaps | None = None
) -> InferenceStep:
    """The numpy/OpenCV preprocessing path feeding ``engine``, with one reused input buffer.

    Records ``preprocess`` and ``infer`` durations in ``frame.timings``. ``undistort`` is applied
    to frames of the size it was made for; a frame of another size is run without it (logged
    once; its measurements are BAD through the calibration's size check).
    """
    batch = np.empty((1, 3, spec.height, spec.width), np.dtype(spec.dtype))
    warned: list[bool] = []

    def step(frame: Frame) -> EngineOutput:
        start = time.perf_counter()
        maps = undistort
        if maps is not None and maps.image_size != frame.image.shape[:2]:
            if not warned:
                log.error(
                    "frames are %dx%d but the undistortion maps are for %dx%d: not undistorting; "
                    "recalibrate or set camera.width/height",
                    *frame.image.shape[:2],
                    *maps.image_size,
                )
                warned.append(True)
            maps = None
        preprocess_cpu(frame.image, spec, undistort=maps, out=batch[0])
        middle = time.perf_counter()
        output = engine.infer(batch, probabilities=probabilities)
        frame.timings["preprocess"] = middle - start
        frame.timings["infer"] = time.perf_counter() - middle
        return output

    return step


class FrameQueue:
    """A bounded FIFO that either drops its oldest item or blocks when full.

    Parameters
    ----------
    maxsize
        Capacity (>= 1).
    drop_oldest
        ``True``: :meth:`put` on a full queue discards the oldest item and returns it.
        ``False``: :meth:`put` waits for room.
    """

    def __init__(self, maxsize: int, drop_oldest: bool) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self.drop_oldest = drop_oldest
        self._items: collections.deque[Any] = collections.deque()
        self._cond = threading.Condition()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def put(self, item: Any, force: bool = False) -> Any | None:
        """Append ``item``; returns the item dropped to make room, if any.

        ``force`` appends even when full without dropping (used for the end marker).
        """
        dropped = None
        with self._cond:
            if not force:
                while not self.drop_oldest and len(self._items) >= self.maxsize:
                    self._cond.wait()
                if len(self._items) >= self.maxsize:
                    dropped = self._items.popleft()
            self._items.append(item)
            self._cond.notify_all()
        return dropped

    def release(self) -> None:
        """Switch to dropping the oldest item, waking a blocked :meth:`put` (the consumer is gone)."""
        with self._cond:
            self.drop_oldest = True
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> Any:
        """Remove and return the oldest item; raises ``TimeoutError`` after ``timeout`` seconds."""
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._items), timeout):
                raise TimeoutError
            item = self._items.popleft()
            self._cond.notify_all()
            return item


@dataclass(frozen=True)
class PipelineSummary:
    """How a run went.

    ``reason`` is ``"end of source"``, ``"max frames"``, ``"stopped"`` or the error that ended it
    (then ``error`` holds the exception).
    """

    frames: int
    elapsed_s: float
    fps: float
    dropped: int
    reason: str
    metrics: dict[str, Any]
    source_stats: Any = None
    error: BaseException | None = None


@dataclass
class _Job:
    frame: Frame
    t0: float  # time.monotonic() when the frame was read


class Pipeline:
    """Run ``source`` through an engine and the post handlers on three threads.

    Parameters
    ----------
    source
        An opened frame source (closed by :meth:`run` when it returns).
    make_step
        Called once on the engine thread; returns ``(step, engine)`` where ``step`` turns a frame
        into an :class:`EngineOutput` (see :func:`cpu_inference_step`). Creating the engine
        there keeps a TensorRT engine's CUDA calls on one thread.
    spec
        The preprocessing spec ``step`` uses (to map class maps back to frame coordinates).
    post
        Post handlers, called in order for every processed frame.
    drop_oldest
        Frame-drop policy for the capture queue; ``None`` drops for live sources and blocks for
        finite ones.
    capture_queue, post_queue
        Queue lengths.
    rate_hz
        Process at most this many frames per second (a live source skips the frames in between,
        counted as ``rate_skipped``; a finite source is paced). ``None``: no cap.
    quality
        The image-quality gate's thresholds (``None`` skips the gate; frames then carry no verdict).
    max_frames
        Stop after this many frames have been read (``None``: until the source ends or :meth:`stop`).
    metrics, notifier
        Shared metrics object and systemd notifier (new ones by default).
    on_ready
        Called on the engine thread once the engine is loaded and warmed up.
    """

    def __init__(
        self,
        source: FrameSource,
        make_step: Callable[[], tuple[InferenceStep, Engine]],
        spec: PreprocessSpec,
        post: Sequence[PostHandler] = (),
        drop_oldest: bool | None = None,
        capture_queue: int = 2,
        post_queue: int = 8,
        rate_hz: float | None = None,
        quality: QualityConfig | None = None,
        max_frames: int | None = None,
        metrics: PipelineMetrics | None = None,
        notifier: SystemdNotifier | None = None,
        on_ready: Callable[[Engine], None] | None = None,
    ) -> None:
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {max_frames}")
        self.source = source
        self.spec = spec
        self.post = list(post)
        self.metrics = metrics or PipelineMetrics()
        self.notifier = notifier or SystemdNotifier()
        self.rate_hz = rate_hz
        self.quality = quality
        self.max_frames = max_frames
        self._make_step = make_step
        self._on_ready = on_ready
        drop = source.live if drop_oldest is None else drop_oldest
        self._capture_q = FrameQueue(capture_queue, drop_oldest=drop)
        self._post_q = FrameQueue(post_queue, drop_oldest=False)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._errors: list[tuple[str, BaseException]] = []
        self._end_reason = "end of source"
        self.engine: Engine | None = None

    # ------------------------------------------------------------------ control

    def stop(self) -> None:
        """Stop reading new frames; the frames already queued are still processed. Signal-safe."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """``True`` once :meth:`stop` was called."""
        return self._stop.is_set()

    def run(self) -> PipelineSummary:
        """Run until the source ends, ``max_frames`` were read, :meth:`stop`, or an error.

        Returns the summary; an error in the capture or engine thread is in ``summary.error``
        (the frames queued before it are still processed).
        """
        start = time.monotonic()
        threads = [
            threading.Thread(target=self._guard, args=("engine", self._engine_loop), name="engine"),
            threading.Thread(target=self._guard, args=("post", self._post_loop), name="post"),
        ]
        for thread in threads:
            thread.start()
        capture = threading.Thread(target=self._guard, args=("capture", self._capture_loop), name="capture")
        # Capture starts once the engine is ready, so a slow model load or warm-up drops nothing.
        while not self._ready.wait(_IDLE_POLL_S):
            if not threads[0].is_alive():
                break
        if self._ready.is_set() and not self._errors:
            capture.start()
            threads.insert(0, capture)
        else:
            self._post_q.put(_END, force=True)
        next_status = time.monotonic() + _STATUS_EVERY_S
        while any(t.is_alive() for t in threads):
            for thread in threads:
                thread.join(timeout=0.2)
            if time.monotonic() >= next_status:
                line = self.metrics.status_line()
                log.info("%s", line)
                self.notifier.status(line)
                next_status += _STATUS_EVERY_S
        try:
            self.source.close()
        except Exception as exc:  # closing must not hide the run's result
            log.warning("closing source %s: %s", getattr(self.source, "uri", "?"), exc)
        error = self._errors[0][1] if self._errors else None
        reason = f"{self._errors[0][0]} failed: {error}" if error else self._end_reason
        stats = None
        try:
            stats = self.source.stats()
        except Exception:  # a summary without source stats is still a summary
            log.debug("source stats unavailable", exc_info=True)
        return PipelineSummary(
            frames=self.metrics.frames_done,
            elapsed_s=time.monotonic() - start,
            fps=self.metrics.fps(),
            dropped=self.metrics.counter("dropped"),
            reason=reason,
            metrics=self.metrics.snapshot(),
            source_stats=stats,
            error=error,
        )

    # ------------------------------------------------------------------ threads

    def _guard(self, name: str, loop: Callable[[], None]) -> None:
        try:
            loop()
        except BaseException as exc:
            log.error("%s thread failed: %s", name, exc, exc_info=not isinstance(exc, ValueError | OSError))
            self._errors.append((name, exc))
            self._stop.set()
            # Unblock the stages downstream so the run can end.
            if name == "capture":
                self._capture_q.put(_END, force=True)
            elif name == "engine":
                self._capture_q.release()
                self._ready.set()
                self._post_q.put(_END, force=True)

    def _capture_loop(self) -> None:
        read = 0
        period = 1.0 / self.rate_hz if self.rate_hz else None
        next_due = time.monotonic()
        try:
            while not self._stop.is_set():
                if self.max_frames is not None and read >= self.max_frames:
                    self._end_reason = "max frames"
                    break
                t_read = time.perf_counter()
                frame = self.source.read()
                if frame is None:
                    if self._stop.is_set():
                        self._end_reason = "stopped"
                    break
                t0 = time.monotonic()
                if period is not None:
                    if t0 < next_due:
                        if self.source.live:
                            self.metrics.count("rate_skipped")
                            continue
                        self._stop.wait(next_due - t0)
                        t0 = time.monotonic()
                    next_due = max(next_due + period, t0 - period)
                read += 1
                frame.timings["capture"] = time.perf_counter() - t_read
                if self.quality is not None:
                    frame.quality = assess_quality(frame.image, self.quality)
                    if not frame.quality.ok:
                        self.metrics.count("quality_failed")
                dropped = self._capture_q.put(_Job(frame, t0))
                if dropped is not None:
                    self.metrics.count("dropped")
                self.metrics.set_depth("capture", len(self._capture_q))
            else:
                self._end_reason = "stopped"
        finally:
            self._capture_q.put(_END, force=True)

    def _engine_loop(self) -> None:
        step, engine = self._make_step()
        self.engine = engine
        try:
            if self._on_ready is not None:
                self._on_ready(engine)
            self._ready.set()
            while True:
                self.notifier.watchdog()
                try:
                    job = self._capture_q.get(timeout=_IDLE_POLL_S)
                except TimeoutError:
                    continue
                if job is _END:
                    break
                self.metrics.add_time("queue_wait", time.monotonic() - job.t0)
                output = step(job.frame)
                for stage in ("preprocess", "infer"):
                    if stage in job.frame.timings:
                        self.metrics.add_time(stage, job.frame.timings[stage])
                self._post_q.put((job, output))
                self.metrics.set_depth("post", len(self._post_q))
        finally:
            self._post_q.put(_END, force=True)
            engine.close()

    def _post_loop(self) -> None:
        failures = 0
        while True:
            item = self._post_q.get()
            if item is _END:
                break
            job, output = item
            result = Result(job.frame, output, self.spec)
            start = time.perf_counter()
            for handler in self.post:
                try:
                    handler(result)
                except Exception as exc:
                    failures += 1
                    self.metrics.count("post_errors")
                    if failures <= 3 or failures % 100 == 0:
                        log.error(
                            "post handler %s failed on frame %d (%d failures so far): %s",
                            getattr(handler, "__name__", type(handler).__name__),
                            job.frame.seq,
                            failures,
                            exc,
                            exc_info=failures == 1,
                        )
            job.frame.timings["post"] = time.perf_counter() - start
            self.metrics.add_time("post", job.frame.timings["post"])
            self.metrics.add_time("capture", job.frame.timings.get("capture", 0.0))
            self.metrics.add_time("end_to_end", time.monotonic() - job.t0)
            self.metrics.frame_done()
