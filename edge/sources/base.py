"""The frame-source interface, and the base that file, folder, synthetic and capture sources share."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from types import TracebackType
from typing import Any, NamedTuple

import numpy as np

from edge.frame import Frame, utc_ms
from edge.sources.images import OutputSize
from edge.sources.pacing import Pacer, wait_any
from edge.sources.stats import SkippedFrame, SourceStats, StatsRecorder

__all__ = ["FrameSource", "ImageSource", "Picture"]

log = logging.getLogger(__name__)


class FrameSource(ABC):
    """Where frames come from: a camera, a stream, a video file, a folder of images or a renderer.

    Use it as a context manager or call :meth:`close`; iterating yields frames until
    :meth:`read` returns ``None``.

    Attributes
    ----------
    uri
        The source URI, with passwords replaced by ``***`` (it goes into logs and every frame).
    live
        ``True`` for a camera or stream (and a file or folder opened with ``live=1``): it never
        ends, failures are bridged by reopening, and a consumer that falls behind should drop
        frames. ``False`` for file, folder and synthetic sources.

    Parameters
    ----------
    uri
        See ``uri``.
    live
        See ``live``.
    stop
        When set, :meth:`read` returns ``None`` (promptly, also from inside a wait).
    """

    def __init__(self, uri: str, *, live: bool, stop: threading.Event | None = None) -> None:
        self.uri = uri
        self.live = live
        self._stop = stop if stop is not None else threading.Event()
        self._closed = threading.Event()

    @abstractmethod
    def read(self) -> Frame | None:
        """The next frame: BGR uint8 ``HxWx3`` with its sequence number and capture time.

        Returns
        -------
        Frame or None
            ``None`` at the end of a finite source, once ``stop`` is set, or after :meth:`close`.
        """

    @abstractmethod
    def stats(self) -> SourceStats:
        """A snapshot of the source's counters (frames, reopen attempts, gaps, skipped frames)."""

    def close(self) -> None:
        """Release the device or file; later reads return ``None``. Safe to call twice."""
        if not self._closed.is_set():
            self._closed.set()
            self._release()

    def _release(self) -> None:  # noqa: B027 - a hook; sources that hold nothing keep it empty
        """Free what the source holds (called once, by :meth:`close`)."""

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed.is_set()

    def _halted(self) -> bool:
        """Whether ``stop`` is set or the source is closed."""
        return self._stop.is_set() or self._closed.is_set()

    def _wait(self, delay: float) -> bool:
        """Sleep ``delay`` seconds unless stopped or closed first; ``True`` when cut short."""
        return wait_any(delay, self._stop, self._closed)

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r}, live={self.live})"


class Picture(NamedTuple):
    """One image from an :class:`ImageSource`, before numbering.

    Attributes
    ----------
    image
        ``HxWx3`` uint8 BGR pixels.
    truth
        Ground truth for synthetic scenes, else ``None``.
    ts_ms
        Capture time (UTC ms) when the source knows it better than "now", else ``None``.
    """

    image: np.ndarray
    truth: dict[str, Any] | None = None
    ts_ms: int | None = None


class ImageSource(FrameSource):
    """A source that produces pictures one by one; this base numbers, times, paces and resizes them.

    Parameters
    ----------
    uri, live, stop
        See :class:`FrameSource`.
    size
        Frame size to deliver (resizing when the picture differs).
    fps
        When given, deliveries are spaced ``1 / fps`` apart.
    """

    def __init__(
        self,
        uri: str,
        *,
        live: bool,
        stop: threading.Event | None = None,
        size: OutputSize | None = None,
        fps: float | None = None,
    ) -> None:
        super().__init__(uri, live=live, stop=stop)
        self._size = size or OutputSize()
        self._pacer = Pacer(fps) if fps is not None else None
        self._recorder = StatsRecorder()
        self._seq = 0

    @abstractmethod
    def _next_picture(self) -> Picture | None:
        """The next picture, or ``None`` at the end (or when halted while waiting)."""

    def read(self) -> Frame | None:
        """The next frame (see :meth:`FrameSource.read`)."""
        if self._halted():
            return None
        if self._pacer is not None and not self._pacer.wait(self._stop, self._closed):
            return None
        picture = self._next_picture()
        if picture is None or self._halted():
            return None
        ts_ms = picture.ts_ms if picture.ts_ms is not None else utc_ms()
        frame = Frame(
            image=self._size.apply(picture.image),
            seq=self._seq,
            ts_ms=ts_ms,
            source=self.uri,
            truth=picture.truth,
        )
        self._seq += 1
        self._recorder.frame()
        return frame

    def stats(self) -> SourceStats:
        """A snapshot of the source's counters."""
        return self._recorder.snapshot()

    def _skip(self, name: str, reason: str) -> None:
        """Log and record a picture that could not be used."""
        log.warning("%s: skipped %s: %s", self.uri, name, reason)
        self._recorder.skipped(SkippedFrame(name=name, reason=reason, ts_ms=utc_ms()))
