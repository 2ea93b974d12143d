"""Frame sources of the camera runtime: cameras, streams, video files, image folders, synthetic scenes.

Open one with :func:`open_source` from the ``[camera] source`` URI of the runtime config
(contract 4)::

    with open_source("csi://0", width=1920, height=1080, fps=30, stop=stop) as source:
        while (frame := source.read()) is not None:
            ...

Every source delivers :class:`edge.frame.Frame` objects: BGR uint8 ``HxWx3`` pixels, a sequence
number (0, 1, 2, ... per source, never reused across reconnects) and the UTC capture time in
milliseconds. Live sources (cameras, streams, and files or folders opened with ``?live=1``)
reopen after failures with capped exponential backoff and report every gap in ``stats()``.
"""

from edge.sources.base import FrameSource
from edge.sources.errors import SourceError, SourceReadError
from edge.sources.factory import open_source
from edge.sources.folder import IMAGE_SUFFIXES, natural_key
from edge.sources.gstreamer import csi_pipeline, gstreamer_pipeline, opencv_has_gstreamer, rtsp_pipeline
from edge.sources.reconnect import ReconnectingSource, ReconnectPolicy
from edge.sources.stats import Gap, SkippedFrame, SourceStats
from edge.sources.uri import SourceUri, parse_source_uri, redact_uri

__all__ = [
    "IMAGE_SUFFIXES",
    "FrameSource",
    "Gap",
    "ReconnectPolicy",
    "ReconnectingSource",
    "SkippedFrame",
    "SourceError",
    "SourceReadError",
    "SourceStats",
    "SourceUri",
    "csi_pipeline",
    "gstreamer_pipeline",
    "natural_key",
    "open_source",
    "opencv_has_gstreamer",
    "parse_source_uri",
    "redact_uri",
    "rtsp_pipeline",
]
