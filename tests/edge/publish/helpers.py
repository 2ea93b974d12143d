"""Test helpers for the MQTT tests: a real paho subscriber that records what arrives, schema checks,
pipeline results built from real measurements, polling and Python subprocesses of this repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import paho.mqtt.client as paho
from jsonschema import Draft202012Validator
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.engines.base import EngineOutput
from edge.frame import Frame
from edge.measure import SlagMeasurement, measure_slag
from edge.pipeline import Result
from edge.preprocess import PreprocessSpec
from edge.publish.payloads import load_schema
from edge.synth.slag import SlagScene, render_slag

PREFIX = "plant1/meltshop/rh1/slagcam01"
DEVICE = "slagcam01"
ROOT = Path(__file__).resolve().parents[3]
"""The repository root (where ``python -m tests...`` runs)."""


def validate(payload: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``payload`` matches the schema it names."""
    Draft202012Validator(load_schema(payload["schema"])).validate(payload)


@dataclass
class Message:
    """One received message."""

    topic: str
    payload: bytes
    retain: bool
    received: float
    properties: dict[str, Any] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        """The payload parsed as JSON."""
        return json.loads(self.payload)


class Collector:
    """A real MQTT client (paho, ours only in the test) that subscribes and records every message.

    Parameters
    ----------
    port
        The broker's port on 127.0.0.1.
    topics
        Topic filters subscribed at QoS 1 after every connect.
    client_id
        Fixed id (with ``persistent``: the broker keeps the session while it is away).
    persistent
        MQTT 5 clean start off with a one-hour session expiry.
    """

    def __init__(
        self,
        port: int,
        topics: tuple[str, ...],
        *,
        client_id: str = "test-collector",
        persistent: bool = False,
        on_message: Callable[[Message], None] | None = None,
    ) -> None:
        self.messages: list[Message] = []
        self._cond = threading.Condition()
        self.topics = topics
        self.connected = threading.Event()
        self._on_message = on_message
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
        self.client.reconnect_delay_set(0.05, 0.2)  # type: ignore[arg-type]
        self.client.on_connect = self._connected
        self.client.on_message = self._message
        self.client.on_disconnect = lambda *_args: self.connected.clear()
        properties = None
        if persistent:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = 3600
        self.client.connect_async(
            "127.0.0.1", port, keepalive=5, clean_start=not persistent, properties=properties
        )
        self.client.loop_start()

    def _connected(self, client: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            for topic in self.topics:
                client.subscribe(topic, qos=1)
            self.connected.set()

    def _message(self, _client: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        props = message.properties.json() if getattr(message, "properties", None) is not None else {}
        item = Message(message.topic, bytes(message.payload), bool(message.retain), time.monotonic(), props)
        if self._on_message is not None:
            self._on_message(item)
        with self._cond:
            self.messages.append(item)
            self._cond.notify_all()

    def wait_subscribed(self, timeout: float = 10.0) -> None:
        """Wait for the connection and give the SUBACK a moment."""
        assert self.connected.wait(timeout), "the test subscriber could not connect"
        time.sleep(0.2)

    def wait_for(self, predicate: Callable[[list[Message]], bool], timeout: float = 10.0) -> list[Message]:
        """Wait until ``predicate(messages)`` holds; return the messages (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.messages):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    topics = [m.topic for m in self.messages[-10:]]
                    raise AssertionError(
                        f"timed out after {timeout} s; {len(self.messages)} messages, last {topics}"
                    )
                self._cond.wait(remaining)
            return list(self.messages)

    def on(self, topic: str) -> list[Message]:
        """The messages received on ``topic`` so far."""
        with self._cond:
            return [m for m in self.messages if m.topic == topic]

    def publish(self, topic: str, payload: bytes | str, properties: Properties | None = None) -> None:
        """Publish (QoS 1) as this client."""
        self.client.publish(topic, payload, qos=1, properties=properties).wait_for_publish(5)

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


def make_result(
    *,
    seq: int = 0,
    ts_ms: int = 1_700_000_000_000,
    image: np.ndarray | None = None,
    classes: np.ndarray | None = None,
    measurement: Any = None,
    cycle: Any = None,
    weld_mask: np.ndarray | None = None,
) -> Result:
    """A pipeline ``Result`` with a real frame and class map (network size = frame size)."""
    if image is None:
        image = np.full((64, 96, 3), 80, np.uint8)
    height, width = image.shape[:2]
    if classes is None:
        classes = np.zeros((height, width), np.uint8)
    frame = Frame(image=image, seq=seq, ts_ms=ts_ms, source="synthetic://test")
    spec = PreprocessSpec(height=height, width=width, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    output = EngineOutput(classes=classes[None].astype(np.uint8))
    return Result(frame, output, spec, measurement=measurement, cycle=cycle, weld_mask=weld_mask)


def measure_scene(scene: SlagScene) -> SlagMeasurement:
    """The measurement of a rendered slag scene's true mask, through its true geometry."""
    truth = scene.truth
    return measure_slag(
        scene.mask,
        homography=np.asarray(truth.homography_image_to_plane),
        axis_angle_deg=truth.axis_angle_deg,
        tube_diameter_mm=truth.tube_diameter_mm,
    )


def slag_result(seq: int = 0, *, cycle: Any = None) -> Result:
    """A pipeline ``Result`` of frame ``seq``: a rendered slag scene (one of 7) and its real measurement."""
    scene = render_slag(0, seq % 7 + 1, (128, 128))
    return make_result(
        seq=seq,
        ts_ms=1_700_000_000_000 + seq,
        image=np.ascontiguousarray(scene.image[:, :, ::-1]),
        classes=scene.mask,
        measurement=measure_scene(scene),
        cycle=cycle,
    )


def wait_until(condition: Callable[[], object], timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; return whether it held."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def python_process(
    *args: str, stdout: int | IO[bytes] = subprocess.DEVNULL, stderr: int | IO[bytes] = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    """Start ``python args...`` in the repository root, with the repository on ``PYTHONPATH``."""
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        stdout=stdout,
        stderr=stderr,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
