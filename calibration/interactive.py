"""Clicking points in an OpenCV window, where a display and a GUI-enabled OpenCV are present.

The normal case (remote work, tests, ``opencv-python-headless``) has no windows: every step then
takes its points from ``--points``, and :func:`points_or_click` says so when they are missing.

In the window: left click adds a point, right click or Backspace removes the last one, Enter or
Space accepts, Esc cancels.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable

import cv2
import numpy as np

from calibration.errors import InputError

__all__ = ["click_points", "display_available", "points_or_click"]

log = logging.getLogger(__name__)

Point = tuple[float, float]
_ENTER_KEYS = (10, 13, 32)
_BACKSPACE_KEYS = (8, 127)
_ESC = 27


def _gui_backend() -> str | None:
    """The GUI line of OpenCV's build information (``None`` when it has no windows)."""
    match = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), flags=re.MULTILINE)
    backend = match.group(1) if match else "NONE"
    return None if backend.upper() == "NONE" else backend


def display_available() -> tuple[bool, str]:
    """Whether points can be clicked here, and if not, why (for the message)."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False, "no display (DISPLAY is not set)"
    if _gui_backend() is None:
        return False, "this OpenCV has no window support (opencv-python-headless)"
    return True, "ok"


def click_points(image: np.ndarray, count: int | None, title: str) -> list[Point]:
    """Let the technician click points on ``image``; returns them as ``(x, y)`` pixels.

    Parameters
    ----------
    image
        Grey or BGR image to show.
    count
        Stop after this many points; ``None``: until Enter.
    title
        Window title (what to click).

    Raises
    ------
    InputError
        When the technician presses Esc.
    """
    points: list[Point] = []
    base = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()

    def on_mouse(event: int, x: int, y: int, flags: int, param: object) -> None:
        del flags, param
        if event == cv2.EVENT_LBUTTONDOWN:
            points.append((float(x), float(y)))
        elif event == cv2.EVENT_RBUTTONDOWN and points:
            points.pop()

    cv2.namedWindow(title, cv2.WINDOW_NORMAL)
    cv2.setMouseCallback(title, on_mouse)
    try:
        while True:
            canvas = base.copy()
            for i, (x, y) in enumerate(points):
                cv2.drawMarker(canvas, (int(x), int(y)), (0, 0, 255), cv2.MARKER_CROSS, 14, 1)
                cv2.putText(
                    canvas, str(i + 1), (int(x) + 6, int(y) - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 255)
                )
            cv2.imshow(title, canvas)
            key = cv2.waitKey(30) & 0xFF
            if count is not None and len(points) >= count:
                break
            if key in _ENTER_KEYS:
                break
            if key in _BACKSPACE_KEYS and points:
                points.pop()
            if key == _ESC:
                raise InputError(title, "cancelled in the window (Esc)")
    finally:
        cv2.destroyWindow(title)
    log.info("clicked %d points", len(points))
    return points


def points_or_click(
    text: str | None,
    parse: Callable[[str], object],
    image: np.ndarray | None,
    count: int | None,
    arg: str,
    what: str,
    example: str,
) -> object:
    """The parsed ``--points`` text, or points clicked in a window when none were given.

    Parameters
    ----------
    text
        The argument's value, or ``None``.
    parse
        Parses the text form (raises :class:`InputError` naming ``arg``).
    image
        The image to click on, or ``None`` when the step has none.
    count
        Points to click (``None``: until Enter).
    arg
        The argument's name, for messages.
    what
        What to click, as the window title.
    example
        An example value of ``arg`` for the message.

    Raises
    ------
    InputError
        When no text is given and no window can be opened: says to pass ``arg``.
    """
    if text is not None:
        return parse(text)
    available, reason = display_available()
    if image is None or not available:
        raise InputError(
            arg,
            f"not given, and points cannot be clicked here ({reason}): pass {arg} {example!r} with pixel "
            "coordinates x,y read from an image viewer",
        )
    clicked = click_points(image, count, what)
    return parse(";".join(f"{x:g},{y:g}" for x, y in clicked))
