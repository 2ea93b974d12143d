"""The sender thread against a real broker: the in-flight window, QoS 0 rows, acks after reconnects."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from edge.config import MqttSection
from edge.publish.publisher import Publisher
from tests.edge.publish.helpers import PREFIX, Collector, wait_until
from tests.mosquitto import Mosquitto


def test_window_follows_the_brokers_receive_maximum_and_order_is_kept(
    make_broker: Callable[..., Mosquitto],
    section: Callable[..., MqttSection],
    make_publisher: Callable[..., Publisher],
) -> None:
    broker = make_broker(extra=("max_inflight_messages 3",)).start()
    sub = Collector(broker.port, (f"{PREFIX}/events",))
    sub.wait_subscribed()
    publisher = make_publisher(section(broker.port, inflight=20))
    for i in range(300):
        publisher.store(f"{PREFIX}/events", {"schema": "x", "seq": None, "i": i}, kind="event")
    most = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal most
        while not stop.is_set():
            most = max(most, publisher.sender.inflight)
            time.sleep(0.0005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        publisher.start()
        messages = sub.wait_for(lambda ms: len(ms) >= 300, timeout=30)
    finally:
        stop.set()
        watcher.join()
        sub.close()
    assert publisher.client.receive_maximum == 3 and publisher.sender.effective_window() == 3
    assert 1 <= most <= 3, most
    assert [m.json()["i"] for m in messages] == list(range(300))


def test_qos0_and_qos1_rows_are_deleted_once_handed_over_or_acknowledged(
    start_publisher: Callable[..., Publisher],
) -> None:
    publisher = start_publisher()
    assert publisher.client.wait_connected(10)
    for i in range(200):
        publisher.store(f"{PREFIX}/a", {"schema": "x", "seq": None, "i": i}, kind="metrics", qos=0)
        publisher.store(f"{PREFIX}/b", {"schema": "x", "seq": None, "i": i}, kind="measurement")
    assert wait_until(lambda: publisher.outbox.depth().rows == 0, 20)
    stats = publisher.sender.stats
    assert stats.published == stats.acked == 400 and publisher.sender.inflight == 0


def test_rows_in_flight_when_the_broker_dies_are_sent_after_it_returns(
    broker: Mosquitto, start_publisher: Callable[..., Publisher]
) -> None:
    sub = Collector(broker.port, (f"{PREFIX}/b",), client_id="keeper", persistent=True)
    sub.wait_subscribed()
    publisher = start_publisher()
    assert publisher.client.wait_connected(10)
    try:
        for i in range(100):
            publisher.store(f"{PREFIX}/b", {"schema": "x", "seq": None, "i": i}, kind="measurement")
        sub.wait_for(lambda ms: len(ms) >= 100)
        time.sleep(1.5)  # the broker saves the subscriber's session
        # Frozen, the broker reads our next rows into its socket buffer and acknowledges none; the
        # SIGKILL then throws them away. They are in flight: only a resend can bring them.
        broker.freeze()
        for i in range(100, 200):
            publisher.store(f"{PREFIX}/b", {"schema": "x", "seq": None, "i": i}, kind="measurement")
        wait_until(lambda: publisher.sender.inflight >= 20, 5, 0.01)
        assert publisher.sender.inflight == 20, "the window is full of unacknowledged rows"
        broker.kill()
        broker.start()
        messages = sub.wait_for(lambda ms: {m.json()["i"] for m in ms} >= set(range(200)), timeout=30)
        wait_until(lambda: publisher.outbox.depth().rows == 0, 10)
    finally:
        sub.close()
    unique = list(dict.fromkeys(m.json()["i"] for m in messages))
    assert unique == list(range(200)), "everything arrives, in order after dedupe"
    assert publisher.outbox.depth().rows == 0 and publisher.sender.stats.connections == 2
