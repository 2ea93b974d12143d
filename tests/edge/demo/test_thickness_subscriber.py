"""The SCADA-side subscriber against a real Mosquitto: one payload per frame, duplicates counted."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from edge.demo import ThicknessSubscriber
from tests.mosquitto import Mosquitto, require_mosquitto


def _publish(broker: Mosquitto, topic: str, payload: str) -> None:
    subprocess.run(
        ["mosquitto_pub", "-p", str(broker.port), "-h", "127.0.0.1", "-q", "1", "-t", topic, "-m", payload],
        check=True,
        timeout=10,
    )


def test_collects_frames_once_and_counts_the_rest(tmp_path: Path) -> None:
    require_mosquitto()
    broker = Mosquitto(tmp_path / "broker").start()
    seen: list[int] = []
    subscriber = ThicknessSubscriber(
        "127.0.0.1", broker.port, "plant/cam", on_thickness=lambda p: seen.append(p["frame"])
    ).start()
    try:
        for frame in (0, 1, 1, 2):
            _publish(broker, "plant/cam/slag/thickness", json.dumps({"frame": frame, "thickness_mm": 10.0}))
        _publish(broker, "plant/cam/slag/thickness", "not json")
        _publish(broker, "plant/cam/slag/thickness", json.dumps({"thickness_mm": 1.0}))
        _publish(broker, "plant/cam/slag/measurement", json.dumps({"cycle": 1, "thickness_mm": 10.0}))
        _publish(broker, "plant/other/slag/thickness", json.dumps({"frame": 9}))
        assert subscriber.wait_for(3, timeout_s=10)
        assert subscriber.wait_for(4, timeout_s=1.0) is False  # the other camera's frame 9 is not ours
    finally:
        subscriber.stop()
        broker.stop()
    assert seen == [0, 1, 2] and subscriber.frames() == {0, 1, 2}
    assert subscriber.duplicates == 1 and subscriber.malformed == 2
    assert subscriber.measurements == [{"cycle": 1, "thickness_mm": 10.0}]


def test_unreachable_broker_is_a_connection_error_naming_it(tmp_path: Path) -> None:
    from tests.mosquitto import free_port

    port = free_port()
    with pytest.raises(ConnectionError, match=f"127.0.0.1:{port}"):
        ThicknessSubscriber("127.0.0.1", port, "plant/cam").start(timeout_s=1)
