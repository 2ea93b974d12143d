"""GStreamer pipeline strings for OpenCV's GStreamer backend (Jetson CSI cameras and RTSP streams).

Both pipelines end in ``appsink drop=true max-buffers=1 sync=false``: the sink keeps only the
newest frame, so a reader that falls behind gets the latest picture instead of a growing backlog.
The builders are pure functions; :func:`opencv_has_gstreamer` says whether the installed OpenCV
can run them (the pip wheels cannot; JetPack's OpenCV can).
"""

from __future__ import annotations

import functools
import re
from fractions import Fraction

import cv2

from edge.sources.errors import SourceError
from edge.sources.uri import SourceUri, parse_source_uri

__all__ = [
    "CSI_DEFAULT_FPS",
    "CSI_DEFAULT_SIZE",
    "RTSP_DEFAULT_LATENCY_MS",
    "csi_pipeline",
    "gstreamer_pipeline",
    "opencv_has_gstreamer",
    "rtsp_pipeline",
]

CSI_DEFAULT_SIZE = (1920, 1080)
"""``(width, height)`` asked of a CSI sensor when none is given."""
CSI_DEFAULT_FPS = 30.0
"""Frame rate asked of a CSI sensor when none is given."""
RTSP_DEFAULT_LATENCY_MS = 200
"""rtspsrc jitter-buffer latency when none is given: low, yet enough for a wired camera."""

_SINK = "appsink drop=true max-buffers=1 sync=false"


@functools.cache
def opencv_has_gstreamer() -> bool:
    """Whether this OpenCV build has the GStreamer video I/O backend (from ``cv2.getBuildInformation()``)."""
    return re.search(r"^\s*GStreamer:\s*YES", cv2.getBuildInformation(), re.MULTILINE) is not None


def _framerate(fps: float) -> str:
    """``fps`` as a GStreamer fraction, e.g. ``30/1`` or ``2997/100``."""
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    fraction = Fraction(fps).limit_denominator(1001)
    return f"{fraction.numerator}/{fraction.denominator}"


def _size(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise ValueError(f"width and height must be > 0, got {width}x{height}")


def _quoted(text: str) -> str:
    """``text`` as a double-quoted gst-launch property value."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def csi_pipeline(
    sensor_id: int = 0,
    width: int = CSI_DEFAULT_SIZE[0],
    height: int = CSI_DEFAULT_SIZE[1],
    fps: float = CSI_DEFAULT_FPS,
    flip_method: int = 0,
) -> str:
    """The pipeline for a Jetson CSI camera: nvarguscamerasrc -> nvvidconv (BGRx) -> videoconvert (BGR).

    Parameters
    ----------
    sensor_id
        The camera's ``sensor-id`` (the ``0`` of ``csi://0``).
    width, height
        Size asked of the sensor and delivered to OpenCV; it must be one of the sensor's modes.
    fps
        Frame rate asked of the sensor.
    flip_method
        ``nvvidconv`` flip-method, 0 (none) to 7.

    Returns
    -------
    str
        A gst-launch pipeline for ``cv2.VideoCapture(pipeline, cv2.CAP_GSTREAMER)``.
    """
    if sensor_id < 0:
        raise ValueError(f"sensor_id must be >= 0, got {sensor_id}")
    if not 0 <= flip_method <= 7:
        raise ValueError(f"flip_method must be 0..7, got {flip_method}")
    _size(width, height)
    return (
        f"nvarguscamerasrc sensor-id={sensor_id} ! "
        f"video/x-raw(memory:NVMM), width=(int){width}, height=(int){height}, "
        f"framerate=(fraction){_framerate(fps)}, format=(string)NV12 ! "
        f"nvvidconv flip-method={flip_method} ! "
        f"video/x-raw, width=(int){width}, height=(int){height}, format=(string)BGRx ! "
        f"videoconvert ! video/x-raw, format=(string)BGR ! {_SINK}"
    )


def rtsp_pipeline(
    url: str,
    latency_ms: int = RTSP_DEFAULT_LATENCY_MS,
    tcp: bool = False,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
) -> str:
    """A low-latency pipeline for an RTSP stream: rtspsrc -> decodebin -> videoconvert (BGR).

    Parameters
    ----------
    url
        The stream's ``rtsp://`` or ``rtsps://`` URL (credentials included, as the camera needs them).
    latency_ms
        rtspsrc jitter-buffer latency in milliseconds.
    tcp
        Carry RTP over the RTSP TCP connection (``protocols=tcp``) instead of UDP; use it when a
        firewall or a lossy link drops UDP packets.
    width, height
        When both are given, scale to this size in the pipeline (``videoscale``).
    fps
        When given, drop frames down to at most this rate (``videorate drop-only=true``).

    Returns
    -------
    str
        A gst-launch pipeline for ``cv2.VideoCapture(pipeline, cv2.CAP_GSTREAMER)``.
    """
    if latency_ms < 0:
        raise ValueError(f"latency_ms must be >= 0, got {latency_ms}")
    source = f"rtspsrc location={_quoted(url)} latency={latency_ms}"
    if tcp:
        source += " protocols=tcp"
    stages = [source, "decodebin", "videoconvert"]
    caps = "video/x-raw, format=(string)BGR"
    if fps is not None:
        stages.append(f"videorate drop-only=true max-rate={max(1, round(fps))}")
    if width is not None and height is not None:
        _size(width, height)
        stages.append("videoscale")
        caps += f", width=(int){width}, height=(int){height}"
    return " ! ".join([*stages, caps, _SINK])


def gstreamer_pipeline(
    source: SourceUri | str,
    *,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
) -> str:
    """The GStreamer pipeline for a ``csi://`` or ``rtsp://`` source URI.

    Parameters
    ----------
    source
        The URI, parsed or not; its ``width``, ``height``, ``fps``, ``flip``, ``latency`` and
        ``tcp`` options are used.
    width, height, fps
        When given, they override the URI's options.

    Returns
    -------
    str
        The pipeline string (:func:`csi_pipeline` or :func:`rtsp_pipeline`).

    Raises
    ------
    SourceError
        If the URI is bad or of another kind.
    """
    parsed = source if isinstance(source, SourceUri) else parse_source_uri(source)
    width = width if width is not None else parsed.int_option("width")
    height = height if height is not None else parsed.int_option("height")
    fps = fps if fps is not None else parsed.float_option("fps")
    if parsed.kind == "csi":
        return csi_pipeline(
            int(parsed.target),
            width if width is not None else CSI_DEFAULT_SIZE[0],
            height if height is not None else CSI_DEFAULT_SIZE[1],
            fps if fps is not None else CSI_DEFAULT_FPS,
            parsed.int_option("flip") or 0,
        )
    if parsed.kind == "rtsp":
        latency = parsed.int_option("latency")
        latency = RTSP_DEFAULT_LATENCY_MS if latency is None else latency
        return rtsp_pipeline(parsed.target, latency, parsed.bool_option("tcp"), width, height, fps)
    raise SourceError(
        f"{parsed.shown}: {parsed.kind}:// sources have no GStreamer pipeline (only csi and rtsp)"
    )
