"""systemd service notifications (``sd_notify``) over ``NOTIFY_SOCKET``, without libsystemd.

With ``Type=notify`` systemd waits for ``READY=1`` before it calls the unit started; with
``WatchdogSec=`` it restarts the service when ``WATCHDOG=1`` stops arriving; ``STATUS=`` is the
line ``systemctl status`` shows. When the runtime is not started by systemd (``NOTIFY_SOCKET``
unset) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

__all__ = ["SystemdNotifier"]

log = logging.getLogger(__name__)


class SystemdNotifier:
    """Send state changes to the service manager.

    Parameters
    ----------
    environ
        Where to read ``NOTIFY_SOCKET`` and ``WATCHDOG_USEC`` (default: ``os.environ``).
    """

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address = env.get("NOTIFY_SOCKET") or None
        usec = env.get("WATCHDOG_USEC", "")
        self.watchdog_interval_s: float | None = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 else None
        self._last_watchdog = 0.0
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._failed = False
        if self._address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @property
    def enabled(self) -> bool:
        """``True`` when a service manager listens (``NOTIFY_SOCKET`` was set)."""
        return self._socket is not None

    def notify(self, *fields: str) -> bool:
        """Send ``KEY=value`` fields in one datagram; ``False`` when disabled or the send failed.

        A failed send is logged once and never raised: the camera keeps running without systemd.
        """
        if self._socket is None or self._address is None:
            return False
        message = "\n".join(fields).encode()
        address = self._address
        if address.startswith("@"):  # abstract namespace socket
            address = "\0" + address[1:]
        try:
            with self._lock:
                self._socket.sendto(message, address)
        except OSError as exc:
            if not self._failed:
                log.warning("cannot notify systemd at %s: %s", self._address, exc)
                self._failed = True
            return False
        return True

    def ready(self, status: str = "") -> bool:
        """``READY=1`` (and ``STATUS=``): startup is complete."""
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        """``STATUS=text``."""
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        """``WATCHDOG=1``, rate-limited to half the unit's ``WatchdogSec`` (always sent without one)."""
        now = time.monotonic()
        if self.watchdog_interval_s is not None and now - self._last_watchdog < self.watchdog_interval_s:
            return False
        self._last_watchdog = now
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str = "") -> bool:
        """``STOPPING=1``: a clean shutdown has begun."""
        return self.notify("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def close(self) -> None:
        """Close the socket."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None
