"""``open_source``: from a URI to an open frame source."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable

from edge.sources.base import FrameSource
from edge.sources.capture import open_gstreamer, open_rtsp_ffmpeg, open_v4l2, open_video_file
from edge.sources.errors import SourceError
from edge.sources.folder import open_folder
from edge.sources.gstreamer import gstreamer_pipeline, opencv_has_gstreamer
from edge.sources.images import OutputSize
from edge.sources.reconnect import ReconnectingSource, ReconnectPolicy
from edge.sources.synthetic import open_synthetic
from edge.sources.uri import LIVE_KINDS, SourceUri, parse_source_uri

__all__ = ["open_source"]

log = logging.getLogger(__name__)


def open_source(
    uri: str,
    *,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
    loop: bool = False,
    stop: threading.Event | None = None,
    reconnect: ReconnectPolicy | None = None,
) -> FrameSource:
    """Open the frame source a URI names (see :mod:`edge.sources.uri` for the forms and options).

    Parameters
    ----------
    uri
        E.g. ``"csi://0"``, ``"/dev/video0"``, ``"rtsp://cam/stream"``, ``"file:///data/x.mp4"``,
        ``"dir:///data/frames/"``, ``"synthetic://slag?seed=7&count=100"``.
    width, height
        Frame size. A camera is asked for it (capture properties or pipeline caps); file and
        folder frames are resized to it (one of the two alone keeps the aspect ratio); synthetic
        scenes are rendered at it (one alone gives a square; default 512x512). Overrides the
        URI's ``width``/``height`` options.
    fps
        Frame rate. A camera is asked for it; file, folder and synthetic sources are paced to it
        (without it they deliver as fast as frames decode or render). Overrides the URI's ``fps``.
    loop
        Start over at the end of a file, folder or counted synthetic stream (also ``?loop=1``).
        Refused for cameras and streams.
    stop
        When set, ``read()`` returns ``None`` promptly, also from a reconnect wait.
    reconnect
        Backoff and stall timeout of a live source (default :class:`ReconnectPolicy`); ignored
        for sources that are not live.

    Returns
    -------
    FrameSource
        Open and ready. Cameras and streams (and files or folders with ``?live=1``) come wrapped
        in a :class:`ReconnectingSource`: they are opened in the background, never end, and
        bridge failures by reopening. Other sources are opened here, so a missing or unreadable
        file or folder fails now.

    Raises
    ------
    SourceError
        For a bad URI or option, a file or folder that cannot be read (sources that are not
        live), or a camera kind this OpenCV build cannot open at all.
    """
    parsed = parse_source_uri(uri)
    shown = parsed.shown
    width = _dimension(shown, "width", width, parsed.int_option("width"))
    height = _dimension(shown, "height", height, parsed.int_option("height"))
    if fps is not None and not (isinstance(fps, int | float) and math.isfinite(fps) and fps > 0):
        raise SourceError(f"{shown}: fps must be a number > 0, got {fps!r}")
    fps = fps if fps is not None else parsed.float_option("fps")
    loop = loop or parsed.bool_option("loop")
    live = parsed.kind in LIVE_KINDS or parsed.bool_option("live")
    if loop and parsed.kind in LIVE_KINDS:
        raise SourceError(
            f"{shown}: 'loop' applies to file, dir and synthetic sources, not to {parsed.kind}://"
        )
    policy = reconnect or ReconnectPolicy()
    opener = _opener(parsed, width, height, fps, loop, live, policy)
    if not live:
        return opener(stop if stop is not None else threading.Event())
    if parsed.kind == "csi" and not opencv_has_gstreamer():
        raise SourceError(
            f"{shown}: this OpenCV build has no GStreamer support (cv2.getBuildInformation() says "
            "GStreamer: NO); on a Jetson use the OpenCV that JetPack installs, not the pip wheel"
        )
    log.info("%s: opening a live source (reconnects with backoff from %.2g s)", shown, policy.initial_s)
    return ReconnectingSource(opener, uri=shown, policy=policy, stop=stop)


def _dimension(shown: str, name: str, given: int | None, from_uri: int | None) -> int | None:
    """A width or height: the keyword argument when given (checked), else the URI's option."""
    if given is None:
        return from_uri
    if isinstance(given, bool) or not isinstance(given, int) or given <= 0:
        raise SourceError(f"{shown}: {name} must be a whole number > 0, got {given!r}")
    return given


def _opener(
    parsed: SourceUri,
    width: int | None,
    height: int | None,
    fps: float | None,
    loop: bool,
    live: bool,
    policy: ReconnectPolicy,
) -> Callable[[threading.Event], FrameSource]:
    """A callable that opens the source once, given its stop event."""
    shown, target, kind = parsed.shown, parsed.target, parsed.kind
    size = OutputSize(width, height)
    if kind == "file":
        truth = parsed.options.get("truth")
        return lambda stop: open_video_file(
            shown,
            target,
            live=live,
            loop=loop,
            stop=stop,
            size=size,
            fps=fps,
            truth=str(truth) if truth is not None else None,
        )
    if kind == "dir":
        seen: set[str] = set()  # a hot folder delivers each image once, across reopens too
        return lambda stop: open_folder(
            shown, target, live=live, loop=loop, stop=stop, size=size, fps=fps, seen=seen if live else None
        )
    if kind == "synthetic":
        seed = parsed.int_option("seed") or 0
        count = parsed.int_option("count")
        return lambda stop: open_synthetic(
            shown, target, seed=seed, count=count, loop=loop, width=width, height=height, fps=fps, stop=stop
        )
    if kind == "v4l2":
        fourcc = parsed.options.get("fourcc")
        return lambda stop: open_v4l2(
            shown,
            target,
            width=width,
            height=height,
            fps=fps,
            fourcc=str(fourcc) if fourcc else None,
            stop=stop,
        )
    if kind == "csi" or opencv_has_gstreamer():
        pipeline = gstreamer_pipeline(parsed, width=width, height=height, fps=fps)
        return lambda stop: open_gstreamer(shown, pipeline, width=width, height=height, stop=stop)
    if fps is not None:
        log.warning("%s: fps is not applied to RTSP through FFmpeg; the camera's own rate applies", shown)
    tcp = parsed.bool_option("tcp")
    return lambda stop: open_rtsp_ffmpeg(
        shown, target, width=width, height=height, tcp=tcp, read_timeout_s=policy.stall_s, stop=stop
    )
