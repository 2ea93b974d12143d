"""The SCADA side of the demo: an MQTT subscriber that collects (and prints) a camera's slag stream."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.publish.topics import Topics

__all__ = ["ThicknessSubscriber"]

log = logging.getLogger(__name__)


class ThicknessSubscriber:
    """Subscribe to ``<prefix>/slag/thickness`` and ``<prefix>/slag/measurement`` at QoS 1.

    The session is persistent (MQTT 5, clean start off, one hour expiry) and paho reconnects by
    itself, so a broker that restarts with persistence delivers what it queued meanwhile.
    Redeliveries are expected after a broker or camera restart; :attr:`thickness` keeps one
    payload per frame and :attr:`duplicates` counts the rest.

    Parameters
    ----------
    host, port
        The broker.
    prefix
        The camera's topic prefix.
    on_thickness
        Called (on paho's thread) with each new ``slag.thickness/1`` payload.
    on_measurement
        Called with each ``slag.measurement/1`` payload.
    client_id
        MQTT client id (default: ``steelsight-demo-subscriber``).
    """

    def __init__(
        self,
        host: str,
        port: int,
        prefix: str,
        *,
        on_thickness: Callable[[dict[str, Any]], None] | None = None,
        on_measurement: Callable[[dict[str, Any]], None] | None = None,
        client_id: str = "steelsight-demo-subscriber",
    ) -> None:
        self.topics = Topics(prefix)
        self.thickness: dict[int, dict[str, Any]] = {}
        self.measurements: list[dict[str, Any]] = []
        self.duplicates = 0
        self.malformed = 0
        self._on_thickness = on_thickness
        self._on_measurement = on_measurement
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._host, self._port = host, port
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self._client.reconnect_delay_set(min_delay=1, max_delay=2)
        self._client.on_connect = self._connected
        self._client.on_message = self._message

    def start(self, timeout_s: float = 10.0) -> ThicknessSubscriber:
        """Connect and wait until the subscriptions are in place.

        Raises
        ------
        ConnectionError
            When the broker does not accept the connection within ``timeout_s``.
        """
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 3600
        try:
            self._client.connect(
                self._host, self._port, keepalive=10, clean_start=False, properties=properties
            )
        except OSError as exc:
            raise ConnectionError(
                f"subscriber cannot reach the broker at {self._host}:{self._port}: {exc}; "
                "is it running? (without --broker the demo starts its own)"
            ) from exc
        self._client.loop_start()
        if not self._subscribed.wait(timeout_s):
            self.stop()
            raise ConnectionError(
                f"subscriber got no subscription at {self._host}:{self._port} within {timeout_s:g} s"
            )
        return self

    def stop(self) -> None:
        """Disconnect and stop paho's thread."""
        self._client.disconnect()
        self._client.loop_stop()

    def frames(self) -> set[int]:
        """The frame numbers received so far."""
        with self._lock:
            return set(self.thickness)

    def wait_for(self, frames: int, timeout_s: float) -> bool:
        """Wait until ``frames`` distinct frames have arrived (``False`` on timeout)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.thickness) >= frames:
                    return True
            time.sleep(0.05)
        return False

    def _connected(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.warning("subscriber: broker refused the connection: %s", reason)
            return
        client.subscribe([(self.topics.thickness, 1), (self.topics.measurement, 1)])
        self._subscribed.set()

    def _message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            payload = json.loads(message.payload)
        except (ValueError, UnicodeDecodeError):
            self.malformed += 1
            log.warning("subscriber: a message on %s is not JSON; ignored", message.topic)
            return
        if message.topic == self.topics.measurement:
            with self._lock:
                self.measurements.append(payload)
            if self._on_measurement is not None:
                self._on_measurement(payload)
            return
        frame = payload.get("frame")
        if not isinstance(frame, int):
            self.malformed += 1
            log.warning("subscriber: a thickness message without a frame number; ignored")
            return
        with self._lock:
            if frame in self.thickness:
                self.duplicates += 1
                return
            self.thickness[frame] = payload
        if self._on_thickness is not None:
            self._on_thickness(payload)
