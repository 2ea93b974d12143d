"""Capturing calibration views live from the camera (``intrinsics --camera URI --count N``).

Frames are read with ``cv2.VideoCapture``; a frame becomes a view when the board is found in it,
it is sharp enough and its corners moved at least ``settings.duplicate_px`` from every view kept
so far (the technician moves the board between shots), and, for live cameras, at least
``interval_s`` after the previous view. Every view is saved as a PNG in ``save_dir`` so that the
calibration can be repeated from the files.

Camera URIs (as the runtime config's ``camera.source``): ``0`` (device index),
``v4l2:///dev/video0``, ``rtsp://...``/``http://...``, ``file:///path/video.mp4``,
``csi://0`` (Jetson CSI camera through GStreamer).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from calibration.detect import BoardSpec, Detection, detect_board
from calibration.errors import InputError
from calibration.settings import Settings
from calibration.views import View, board_sharpness, corner_shift, to_gray

__all__ = ["capture_views", "open_camera"]

log = logging.getLogger(__name__)


def open_camera(uri: str) -> tuple[cv2.VideoCapture, bool]:
    """Open a camera URI; returns the capture and whether it is live (not a file).

    Raises
    ------
    InputError
        Naming ``--camera`` when the URI is malformed or the camera cannot be opened.
    """
    text = uri.strip()
    live = True
    if text.isdigit():
        capture = cv2.VideoCapture(int(text))
    elif text.startswith("v4l2://"):
        capture = cv2.VideoCapture(text[len("v4l2://") :], cv2.CAP_V4L2)
    elif text.startswith("file://"):
        path = Path(text[len("file://") :])
        if not path.is_file():
            raise InputError("--camera", f"{path}: video file not found")
        capture = cv2.VideoCapture(str(path))
        live = False
    elif text.startswith("csi://"):
        sensor = text[len("csi://") :] or "0"
        pipeline = (
            f"nvarguscamerasrc sensor-id={sensor} ! video/x-raw(memory:NVMM) ! nvvidconv ! video/x-raw, "
            "format=BGRx ! videoconvert ! video/x-raw, format=BGR ! appsink drop=true"
        )
        capture = cv2.VideoCapture(pipeline, cv2.CAP_GSTREAMER)
    elif "://" in text:
        capture = cv2.VideoCapture(text)
    else:
        raise InputError(
            "--camera",
            f"{uri!r} is not a camera URI; use e.g. 0, v4l2:///dev/video0, rtsp://host/stream, file:///x.mp4, csi://0",
        )
    if not capture.isOpened():
        raise InputError(
            "--camera",
            f"cannot open {uri!r}: check the URI, the cable or network, and that no other program uses it",
        )
    return capture, live


def capture_views(
    uri: str,
    count: int,
    spec: BoardSpec,
    settings: Settings,
    save_dir: Path,
    interval_s: float = 1.5,
    timeout_s: float = 300.0,
    report: Callable[[str], None] | None = None,
) -> list[View]:
    """Capture up to ``count`` distinct, sharp views of the board.

    Parameters
    ----------
    uri
        The camera (see the module docstring).
    count
        Views wanted.
    spec
        The board.
    settings
        Blur and duplicate thresholds.
    save_dir
        Folder for the captured views (``view_NN.png``).
    interval_s
        Least time between two views of a live camera.
    timeout_s
        Give up after this long (live cameras); the views so far are returned.
    report
        Called with a line for the technician after each view (e.g. ``print``).

    Returns
    -------
    list[View]
        The captured views (fewer than ``count`` when the source ended or timed out).
    """
    if count < 1:
        raise InputError("--count", f"must be >= 1, got {count}")
    capture, live = open_camera(uri)
    save_dir.mkdir(parents=True, exist_ok=True)
    views: list[View] = []
    kept: list[Detection] = []
    start = last = time.monotonic()
    last -= interval_s
    try:
        while len(views) < count:
            ok, frame = capture.read()
            now = time.monotonic()
            if not ok or frame is None:
                if live and now - start < timeout_s:
                    continue
                break
            if live and (now - last < interval_s or now - start > timeout_s):
                if now - start > timeout_s:
                    break
                continue
            gray = to_gray(np.ascontiguousarray(frame))
            if views and gray.shape != views[0].gray.shape:
                raise InputError(
                    "--camera", f"{uri}: the frame size changed during capture; fix the camera mode"
                )
            detection = detect_board(gray, spec)
            if detection is None or board_sharpness(gray, detection) < settings.blur_threshold:
                continue
            if any(corner_shift(other, detection) < settings.duplicate_px for other in kept):
                continue
            name = f"view_{len(views):02d}.png"
            cv2.imwrite(str(save_dir / name), frame)
            views.append(View(name, gray))
            kept.append(detection)
            last = now
            if report is not None:
                report(f"captured {name} ({len(views)}/{count}); move or tilt the board for the next one")
    finally:
        capture.release()
    log.info("captured %d views from %s into %s", len(views), uri, save_dir)
    return views
