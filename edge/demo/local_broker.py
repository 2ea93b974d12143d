"""A private Mosquitto broker: its own config, free loopback port, data dir and log.

The demo starts one so it needs no system broker; the tests use it to kill, freeze and restart a
real broker under a running camera::

    broker = LocalBroker(workdir / "broker", persistence=True, users={"cam": "secret"})
    broker.start()
    broker.freeze()     # SIGSTOP: connections stay open, nothing is acknowledged
    broker.kill()       # SIGKILL: no goodbye to clients, unsaved state is lost
    broker.start()      # same port, same data dir
    broker.stop()

``persistence`` keeps sessions and queued messages in the data dir, saved every
``autosave_interval`` seconds (Mosquitto saves on a timer and at a clean shutdown, not per
message, so a SIGKILL loses what arrived since the last save). ``users`` turns anonymous access off
and writes a password file with ``mosquitto_passwd``. ``max_queued_messages`` is unlimited (the
broker's default of 1000 per offline client would drop messages in long runs).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["MOSQUITTO", "LocalBroker", "free_port", "mosquitto_missing", "port_open"]

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
)


def mosquitto_missing() -> str | None:
    """Why a broker cannot be started or driven (``None`` when Mosquitto and its clients are installed)."""
    if MOSQUITTO is None:
        return "mosquitto is not installed (apt-get install mosquitto mosquitto-clients)"
    for tool in ("mosquitto_sub", "mosquitto_pub", "mosquitto_passwd"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install mosquitto-clients)"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port`` now."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class LocalBroker:
    """One Mosquitto process with its own folder (config, data, log).

    Parameters
    ----------
    folder
        Created; holds ``mosquitto.conf``, ``data/``, ``mosquitto.log`` and the password file.
    port
        The port (default: a free one, kept across restarts).
    persistence
        Keep sessions and queued messages on disk across restarts.
    autosave_interval
        Seconds between saves of the in-memory state (with persistence).
    users
        ``{username: password}``; when given, anonymous clients are refused.
    extra
        More config lines.
    """

    def __init__(
        self,
        folder: Path,
        *,
        port: int | None = None,
        persistence: bool = True,
        autosave_interval: int = 1,
        users: dict[str, str] | None = None,
        extra: tuple[str, ...] = (),
    ) -> None:
        if MOSQUITTO is None:
            raise RuntimeError(mosquitto_missing())
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.data = self.folder / "data"
        self.data.mkdir(exist_ok=True)
        self.port = port or free_port()
        self.persistence = persistence
        self.log_path = self.folder / "mosquitto.log"
        self.config_path = self.folder / "mosquitto.conf"
        self.process: subprocess.Popen[bytes] | None = None
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {self.data}/",
            f"autosave_interval {autosave_interval}",
            "max_queued_messages 0",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else it switches to the mosquitto user, who cannot write here
        if users:
            password_file = self.folder / "passwd"
            password_file.write_text("")
            for name, password in users.items():
                subprocess.run(
                    ["mosquitto_passwd", "-b", str(password_file), name, password],
                    check=True,
                    capture_output=True,
                )
            password_file.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        else:
            lines.append("allow_anonymous true")
        lines += list(extra)
        self.config_path.write_text("\n".join(lines) + "\n")

    @property
    def url(self) -> str:
        """``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 10.0) -> LocalBroker:
        """Start the broker and wait until it accepts connections."""
        if self.running:
            return self
        self.process = subprocess.Popen(
            [str(MOSQUITTO), "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise RuntimeError(
                    f"mosquitto exited at start ({self.process.returncode}): {err}{self.log()}"
                )
            if port_open(self.port):
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"mosquitto did not listen on {self.port} within {timeout} s: {self.log()}")

    def kill(self) -> None:
        """SIGKILL the broker (no clean shutdown, no final save) and reap it (also when frozen)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self._close()

    def freeze(self) -> None:
        """SIGSTOP the broker: it keeps its sockets open but processes nothing (no acknowledgements)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT a frozen broker."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Stop the broker cleanly (SIGTERM: it saves its state when persistent)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._close()

    def restart(self) -> LocalBroker:
        """SIGKILL and start again on the same port with the same data dir."""
        self.kill()
        return self.start()

    def _close(self) -> None:
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()

    def log(self) -> str:
        """The broker's log so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""
