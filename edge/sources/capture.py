"""Sources read through OpenCV's ``VideoCapture``: video files, V4L2 devices, CSI cameras, RTSP streams.

Devices and streams get the requested size and rate as capture properties (V4L2) or pipeline
caps (GStreamer); when a device delivers another size anyway, a warning says so once and the
frames are resized to the requested size. Video files are checked when opened (exists, is a
file, decodes at least one frame), so a bad path fails at start.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.frame import utc_ms
from edge.sources.base import ImageSource, Picture
from edge.sources.errors import SourceError, SourceReadError
from edge.sources.gstreamer import opencv_has_gstreamer
from edge.sources.images import OutputSize, UnusableImageError, to_bgr8
from edge.sources.truth_file import truth_file
from edge.sources.uri import redact_uri

__all__ = [
    "CaptureSource",
    "open_gstreamer",
    "open_rtsp_ffmpeg",
    "open_v4l2",
    "open_video_file",
    "opencv_has_ffmpeg",
]

log = logging.getLogger(__name__)

Connect = Callable[[], cv2.VideoCapture]

_FFMPEG_OPEN_TIMEOUT_MS = 5000


def opencv_has_ffmpeg() -> bool:
    """Whether this OpenCV build has the FFmpeg video I/O backend."""
    return re.search(r"^\s*FFMPEG:\s*YES", cv2.getBuildInformation(), re.MULTILINE) is not None


class CaptureSource(ImageSource):
    """Frames from a ``cv2.VideoCapture`` (use the ``open_*`` functions of this module).

    Parameters
    ----------
    uri
        The source URI (passwords hidden).
    capture
        The opened capture.
    connect
        Opens the capture again (to loop a video file).
    live, stop, size, fps
        See :class:`edge.sources.base.ImageSource`.
    loop
        Reopen and go on at the end (video files).
    first
        A frame already read while checking the source, delivered first.
    asked
        ``(width, height)`` asked of a device: a differing delivered size is reported once.
    truth
        Ground truth of each frame of a video file, by frame number (see
        :mod:`edge.sources.truth_file`); a frame beyond it is an error, not a frame without truth.
    """

    def __init__(
        self,
        uri: str,
        capture: cv2.VideoCapture,
        connect: Connect,
        *,
        live: bool,
        loop: bool = False,
        stop: threading.Event | None = None,
        size: OutputSize | None = None,
        fps: float | None = None,
        first: np.ndarray | None = None,
        asked: tuple[int | None, int | None] = (None, None),
        truth: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(uri, live=live, stop=stop, size=size, fps=fps)
        self._truth = truth
        self._index = 0
        self._capture = capture
        self._connect = connect
        self._loop = loop
        self._first = first
        self._asked = asked
        self._size_checked = asked == (None, None)

    def _next_picture(self) -> Picture | None:
        if self._first is not None:
            image, self._first = self._first, None
            return Picture(image, truth=self._frame_truth())
        image, ts_ms = self._read()
        if image is None:
            if not self._loop:
                return None
            self._capture.release()
            self._capture = self._connect()
            self._index = 0
            image, ts_ms = self._read()
            if image is None:
                log.warning("%s: no frame after starting over; ending", self.uri)
                return None
        try:
            image = to_bgr8(image)
        except UnusableImageError as exc:
            raise SourceReadError(f"{self.uri}: {exc}") from None
        if not self._size_checked:
            self._report_size(image)
        return Picture(image, truth=self._frame_truth(), ts_ms=ts_ms)

    def _frame_truth(self) -> dict[str, Any] | None:
        """The truth of the frame just decoded (``None`` without a truth file); counts the frame."""
        index, self._index = self._index, self._index + 1
        if self._truth is None:
            return None
        if index >= len(self._truth):
            raise SourceReadError(
                f"{self.uri}: the truth file has {len(self._truth)} entries but the video has more "
                f"frames (frame {index}); write one JSON line per frame"
            )
        return self._truth[index]

    def _read(self) -> tuple[np.ndarray | None, int]:
        """The next frame as the capture decodes it (``None`` when it has none) and when it was read."""
        ok, image = self._capture.read()
        return (image if ok else None), utc_ms()

    def _report_size(self, image: np.ndarray) -> None:
        """Warn once when a device delivers another size than asked."""
        self._size_checked = True
        height, width = image.shape[:2]
        asked_width, asked_height = self._asked
        if (asked_width or width, asked_height or height) != (width, height):
            log.warning(
                "%s: device delivers %dx%d instead of the %sx%s asked; resizing every frame",
                self.uri,
                width,
                height,
                asked_width or "*",
                asked_height or "*",
            )

    def _release(self) -> None:
        self._capture.release()


def open_video_file(
    uri: str,
    path: str | Path,
    *,
    live: bool = False,
    loop: bool = False,
    stop: threading.Event | None = None,
    size: OutputSize | None = None,
    fps: float | None = None,
    truth: str | None = None,
) -> CaptureSource:
    """Open a video file, checking that it exists and decodes.

    Parameters
    ----------
    uri
        The source URI (for messages and frames).
    path
        The video file (``~`` is expanded).
    live
        Mark the source live (it then runs behind a reconnecting wrapper, which reopens the file
        when it ends or vanishes).
    loop
        Start over at the end.
    stop, size, fps
        See :class:`edge.sources.base.ImageSource`; ``fps`` paces delivery, ``None`` reads as
        fast as frames decode.
    truth
        A JSON Lines file with each frame's ground truth (relative to the video's folder), read
        now; refused together with resizing, which would invalidate pixel coordinates in it.

    Returns
    -------
    CaptureSource
        The open source; its first frame has been decoded.

    Raises
    ------
    SourceError
        If the file does not exist, is a folder, cannot be read, or OpenCV cannot decode a frame.
    """
    file = Path(path).expanduser()
    if not file.exists():
        raise SourceError(f"{uri}: video file does not exist: {file}")
    if file.is_dir():
        raise SourceError(
            f"{uri}: {file} is a folder, not a video file (use dir://{file} for a folder of images)"
        )
    if not os.access(file, os.R_OK):
        raise SourceError(f"{uri}: cannot read video file {file}: permission denied")
    truths = None
    if truth is not None:
        if size is not None and (size.width is not None or size.height is not None):
            raise SourceError(
                f"{uri}: 'truth' cannot be combined with width/height: the truth's pixel "
                "coordinates belong to the video's own frame size; leave width and height out"
            )
        truths = truth_file(uri, truth, file)

    def connect() -> cv2.VideoCapture:
        return cv2.VideoCapture(str(file))

    capture = connect()
    if not capture.isOpened():
        raise SourceError(
            f"{uri}: cannot open video file {file}: OpenCV could not decode it "
            "(not a video, truncated, or a codec this OpenCV build lacks)"
        )
    ok, first = capture.read()
    if not ok or first is None:
        capture.release()
        raise SourceError(f"{uri}: cannot open video file {file}: OpenCV could not decode any frame from it")
    try:
        first = to_bgr8(first)
    except UnusableImageError as exc:
        capture.release()
        raise SourceError(f"{uri}: cannot use video file {file}: {exc}") from None
    log.info(
        "%s: opened %s (%dx%d, %s frames, %.3g fps in the file)",
        uri,
        file,
        first.shape[1],
        first.shape[0],
        int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or "?",
        capture.get(cv2.CAP_PROP_FPS),
    )
    return CaptureSource(
        uri, capture, connect, live=live, loop=loop, stop=stop, size=size, fps=fps, first=first, truth=truths
    )


def open_v4l2(
    uri: str,
    device: str,
    *,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
    fourcc: str | None = None,
    stop: threading.Event | None = None,
) -> CaptureSource:
    """Open a V4L2 device with the requested format, size and rate and a one-frame buffer.

    Parameters
    ----------
    uri
        The source URI.
    device
        A device path (``/dev/video0``, ``/dev/v4l/by-id/...``) or index (``"0"``).
    width, height, fps
        Capture properties to ask for; frames are resized when the device delivers another size.
    fourcc
        Pixel format to ask for, e.g. ``MJPG`` (USB cameras often reach full rate only with it).
    stop
        When set, reading ends.

    Returns
    -------
    CaptureSource
        The open, live source.

    Raises
    ------
    SourceReadError
        If the device cannot be opened (the reconnecting wrapper tries again later).
    """
    target: int | str = int(device) if device.isdigit() else device

    def connect() -> cv2.VideoCapture:
        capture = cv2.VideoCapture(target, cv2.CAP_V4L2)
        if capture.isOpened():
            if fourcc:
                capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*fourcc))
            if width is not None:
                capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            if height is not None:
                capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
            if fps is not None:
                capture.set(cv2.CAP_PROP_FPS, fps)
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return capture

    capture = connect()
    if not capture.isOpened():
        raise SourceReadError(
            f"cannot open V4L2 device {device} (is the camera plugged in, and not in use by another program?)"
        )
    log.info(
        "%s: opened V4L2 device %s at %dx%d, %.3g fps",
        uri,
        device,
        int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
        int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        capture.get(cv2.CAP_PROP_FPS),
    )
    size = OutputSize(width, height)
    return CaptureSource(uri, capture, connect, live=True, stop=stop, size=size, asked=(width, height))


def open_gstreamer(
    uri: str,
    pipeline: str,
    *,
    width: int | None = None,
    height: int | None = None,
    stop: threading.Event | None = None,
) -> CaptureSource:
    """Open a GStreamer pipeline (from :mod:`edge.sources.gstreamer`) through OpenCV.

    Parameters
    ----------
    uri
        The source URI.
    pipeline
        The gst-launch pipeline ending in an appsink.
    width, height
        The size the pipeline was asked for; frames are resized when it delivers another.
    stop
        When set, reading ends.

    Returns
    -------
    CaptureSource
        The open, live source.

    Raises
    ------
    SourceError
        If this OpenCV build has no GStreamer backend.
    SourceReadError
        If the pipeline does not start (the reconnecting wrapper tries again later).
    """
    if not opencv_has_gstreamer():
        raise SourceError(
            f"{uri}: this OpenCV build has no GStreamer support (cv2.getBuildInformation() says "
            "GStreamer: NO); on a Jetson use the OpenCV that JetPack installs, not the pip wheel"
        )

    def connect() -> cv2.VideoCapture:
        return cv2.VideoCapture(pipeline, cv2.CAP_GSTREAMER)

    capture = connect()
    if not capture.isOpened():
        raise SourceReadError(
            f"the GStreamer pipeline did not start (try it with gst-launch-1.0): {redact_uri(pipeline)}"
        )
    log.info("%s: started GStreamer pipeline %s", uri, redact_uri(pipeline))
    size = OutputSize(width, height)
    return CaptureSource(uri, capture, connect, live=True, stop=stop, size=size, asked=(width, height))


def open_rtsp_ffmpeg(
    uri: str,
    url: str,
    *,
    width: int | None = None,
    height: int | None = None,
    tcp: bool = False,
    read_timeout_s: float = 10.0,
    stop: threading.Event | None = None,
) -> CaptureSource:
    """Open an RTSP stream with OpenCV's FFmpeg backend (when OpenCV has no GStreamer).

    The capture buffer is set to one frame and open and read time out (5 s, ``read_timeout_s``)
    instead of hanging. With ``tcp``, ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` is set to
    ``rtsp_transport;tcp`` unless the environment already sets it.

    Parameters
    ----------
    uri
        The source URI (passwords hidden).
    url
        The stream URL as the camera needs it.
    width, height
        Frames are resized to this size.
    tcp
        Ask for RTP over TCP.
    read_timeout_s
        FFmpeg read timeout.
    stop
        When set, reading ends.

    Returns
    -------
    CaptureSource
        The open, live source.

    Raises
    ------
    SourceError
        If this OpenCV build has no FFmpeg backend either.
    SourceReadError
        If the stream cannot be opened (the reconnecting wrapper tries again later).
    """
    if not opencv_has_ffmpeg():
        raise SourceError(f"{uri}: this OpenCV build has neither GStreamer nor FFmpeg support for RTSP")
    if tcp:
        os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        _FFMPEG_OPEN_TIMEOUT_MS,
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        max(1, round(read_timeout_s * 1000)),
    ]

    def connect() -> cv2.VideoCapture:
        capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
        if capture.isOpened():
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return capture

    capture = connect()
    if not capture.isOpened():
        raise SourceReadError("cannot open the RTSP stream (camera reachable? URL and credentials right?)")
    log.info("%s: opened RTSP stream with FFmpeg", uri)
    return CaptureSource(uri, capture, connect, live=True, stop=stop, size=OutputSize(width, height))
