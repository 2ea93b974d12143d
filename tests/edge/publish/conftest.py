"""Fixtures of the MQTT tests: a real Mosquitto broker per test, publishers on a real outbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from edge.config import MqttSection
from edge.publish.outbox import Outbox
from edge.publish.payloads import ModelInfo
from edge.publish.publisher import Publisher
from tests.edge.publish.helpers import DEVICE, PREFIX, Collector
from tests.mosquitto import Mosquitto, require_mosquitto


@pytest.fixture
def make_broker(tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    """Make (not start) brokers in ``tmp_path``; every one is killed at the end of the test."""
    require_mosquitto()
    brokers: list[Mosquitto] = []

    def make(name: str = "broker", **kwargs: Any) -> Mosquitto:
        broker = Mosquitto(tmp_path / name, **kwargs)
        brokers.append(broker)
        return broker

    yield make
    for broker in brokers:
        broker.kill()


@pytest.fixture
def broker(make_broker: Callable[..., Mosquitto]) -> Mosquitto:
    """A started broker (persistence on, anonymous access)."""
    return make_broker().start()


@pytest.fixture
def section(tmp_path: Path) -> Callable[..., MqttSection]:
    """An ``[mqtt]`` section for a test broker: fast reconnects, files in ``tmp_path``."""

    def make(port: int, **kwargs: Any) -> MqttSection:
        values: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": port,
            "topic_prefix": PREFIX,
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 0.5,
            "metrics_interval_s": 3600.0,
            "keepalive_s": 5,
            "image_dir": tmp_path / "images",
            "snapshot_dir": tmp_path / "snapshots",
        }
        values.update(kwargs)
        return MqttSection(**values)

    return make


@pytest.fixture
def make_publisher(tmp_path: Path) -> Iterator[Callable[..., Publisher]]:
    """Make publishers on a real outbox in ``tmp_path``; each is stopped at the end of the test."""
    made: list[Publisher] = []

    def make(section: MqttSection, *, outbox: Outbox | None = None, **kwargs: Any) -> Publisher:
        if outbox is None:
            outbox = Outbox(
                tmp_path / f"outbox{len(made)}.sqlite",
                max_bytes=64 * 1024 * 1024,
                max_age_s=3600,
                synchronous="NORMAL",
            )
        kwargs.setdefault("device", DEVICE)
        kwargs.setdefault("task", "slag")
        kwargs.setdefault("model", ModelInfo("slagnet", "1.2.0"))
        publisher = Publisher(section, outbox, own_outbox=True, **kwargs)
        made.append(publisher)
        return publisher

    yield make
    for publisher in made:
        publisher.stop(drain_s=0.0, offline_timeout_s=0.5)


@pytest.fixture
def start_publisher(
    broker: Mosquitto, section: Callable[..., MqttSection], make_publisher: Callable[..., Publisher]
) -> Callable[..., Publisher]:
    """Make a publisher for the started test broker and start it.

    ``mqtt`` holds ``[mqtt]`` keys over the test section's; the other keywords go to ``make_publisher``.
    """

    def start(mqtt: Mapping[str, Any] | None = None, **kwargs: Any) -> Publisher:
        publisher = make_publisher(section(broker.port, **(mqtt or {})), **kwargs)
        publisher.start()
        return publisher

    return start


@pytest.fixture
def collector(broker: Mosquitto) -> Iterator[Collector]:
    """A subscriber to everything under the test prefix."""
    sub = Collector(broker.port, (f"{PREFIX}/#",))
    sub.wait_subscribed()
    yield sub
    sub.close()
