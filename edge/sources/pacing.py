"""Waiting that a stop event can cut short, and pacing of delivery to a frame rate."""

from __future__ import annotations

import threading
import time

__all__ = ["Pacer", "wait_any"]

_SLICE_S = 0.05


def wait_any(delay: float, *events: threading.Event) -> bool:
    """Sleep up to ``delay`` seconds, returning early as soon as any of ``events`` is set.

    The first event is waited on directly (it ends the wait at once); the others are checked
    every 50 ms.

    Parameters
    ----------
    delay
        Seconds to sleep at most.
    *events
        At least one event.

    Returns
    -------
    bool
        ``True`` if an event was set (the wait was interrupted), ``False`` if the full delay passed.
    """
    first, rest = events[0], events[1:]
    deadline = time.monotonic() + delay
    while True:
        if first.is_set() or any(event.is_set() for event in rest):
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if first.wait(min(left, _SLICE_S) if rest else left):
            return True


class Pacer:
    """Spaces calls to :meth:`wait` ``1 / fps`` apart on a fixed schedule.

    Time spent between calls (reading, rendering) counts towards the period. A caller that falls
    more than one period behind is put back on a fresh schedule instead of being allowed to catch
    up in a burst.

    Parameters
    ----------
    fps
        Deliveries per second, > 0.
    """

    def __init__(self, fps: float) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.period_s = 1.0 / fps
        self._due: float | None = None

    def wait(self, *events: threading.Event) -> bool:
        """Sleep until the next delivery is due.

        Parameters
        ----------
        *events
            Events that cut the wait short (see :func:`wait_any`).

        Returns
        -------
        bool
            ``True`` when it is time to deliver, ``False`` when an event was set.
        """
        now = time.monotonic()
        if self._due is None:
            self._due = now
        if self._due > now and wait_any(self._due - now, *events):
            return False
        now = time.monotonic()
        self._due = self._due + self.period_s if now - self._due < self.period_s else now + self.period_s
        return True
