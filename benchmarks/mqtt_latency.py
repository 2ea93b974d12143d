"""Latency from "publish requested" to subscriber receipt over MQTT on loopback (JSON).

What is timed, per message: from just before :meth:`edge.publish.publisher.Publisher.store` (the
post handler's outbox insert: the SQLite transaction, with an fsync when ``synchronous`` is FULL)
to the moment a subscriber's ``on_message`` runs. In between: the sender thread reads the row,
paho publishes it at QoS 1, Mosquitto routes it to the subscriber (QoS 1). Both ends run in this
process, so one clock serves both.

Rates 10 and 200 messages per second (``--rates``), each with the outbox in ``FULL`` and
``NORMAL`` synchronous mode (``--synchronous``), all in one run against one broker. A Mosquitto
is started on a free loopback port (persistence off) unless ``--port`` names a running one.

    python benchmarks/mqtt_latency.py                 # ~50 s
    python benchmarks/mqtt_latency.py --seconds 5     # shorter
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edge.config import MqttSection
from edge.measure.quality import MeasureQuality
from edge.measure.slag import SlagMeasurement
from edge.publish import payloads
from edge.publish.outbox import Outbox
from edge.publish.publisher import Publisher

PREFIX = "bench/rh1/slagcam01"


def start_broker(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A Mosquitto on a free loopback port, persistence off."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = folder / "mosquitto.conf"
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        "persistence false",
        "max_queued_messages 0",
    ]
    if os.geteuid() == 0:
        lines.append("user root")
    config.write_text("\n".join(lines) + "\n")
    process = subprocess.Popen(
        [binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("mosquitto did not start")


class Subscriber:
    """Records the receipt time of every thickness message by its frame number."""

    def __init__(self, port: int) -> None:
        self.received: dict[int, float] = {}
        self.duplicates = 0
        self.ready = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-sub", protocol=paho.MQTTv5)
        self.client.on_connect = self._connected
        self.client.on_subscribe = lambda *_a: self.ready.set()
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _connected(self, client: paho.Client, *_args: Any) -> None:
        client.subscribe(f"{PREFIX}/slag/thickness", qos=1)

    def _message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        now = time.perf_counter()
        frame = json.loads(message.payload)["frame"]
        if frame in self.received:
            self.duplicates += 1
        else:
            self.received[frame] = now

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def run(port: int, folder: Path, rate: float, seconds: float, synchronous: str, base: int) -> dict[str, Any]:
    """Publish ``rate`` messages per second for ``seconds``; the latency figures."""
    section = MqttSection(host="127.0.0.1", port=port, topic_prefix=PREFIX, metrics_interval_s=3600.0)
    outbox = Outbox(
        folder / f"outbox-{synchronous}-{rate:g}.sqlite", max_bytes=1 << 28, synchronous=synchronous
    )
    publisher = Publisher(
        section,
        outbox,
        device="slagcam01",
        task="slag",
        own_outbox=True,
        model=payloads.ModelInfo("slagnet", "bench"),
    )
    subscriber = Subscriber(port)
    assert subscriber.ready.wait(10), "the subscriber did not subscribe"
    publisher.start()
    assert publisher.client.wait_connected(10), publisher.client.last_error
    time.sleep(0.3)
    quality = MeasureQuality.good()
    count = max(1, round(rate * seconds))
    sent: dict[int, float] = {}
    put_ms: list[float] = []
    t0 = time.perf_counter()
    for n in range(count):
        frame = base + n
        due = t0 + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        measurement = SlagMeasurement(100.0 + n % 50, 99.0, 101.0, 40, 0.9, 0.95, 0.0, "calibration", quality)
        payload = payloads.thickness_payload(
            publisher.ctx, measurement, 1_700_000_000_000 + frame, frame=frame
        )
        start = time.perf_counter()
        sent[frame] = start
        publisher.store(publisher.topics.thickness, payload, kind="measurement")
        put_ms.append((time.perf_counter() - start) * 1000)
    elapsed = time.perf_counter() - t0
    deadline = time.monotonic() + 15
    while len(subscriber.received.keys() & sent.keys()) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    publisher.stop(drain_s=2.0)
    subscriber.close()
    latencies = np.array(
        [(subscriber.received[f] - t) * 1000 for f, t in sent.items() if f in subscriber.received]
    )
    p50, p90, p99 = np.percentile(latencies, [50, 90, 99]) if latencies.size else (np.nan,) * 3
    return {
        "rate_hz": rate,
        "synchronous": synchronous,
        "messages": count,
        "received": int(latencies.size),
        "duplicates": subscriber.duplicates,
        "achieved_rate_hz": round(count / elapsed, 1),
        "latency_ms": {
            "p50": round(float(p50), 2),
            "p90": round(float(p90), 2),
            "p99": round(float(p99), 2),
            "max": round(float(latencies.max()), 2) if latencies.size else None,
            "mean": round(float(latencies.mean()), 2) if latencies.size else None,
        },
        "outbox_put_ms": {
            "p50": round(float(np.percentile(put_ms, 50)), 2),
            "p99": round(float(np.percentile(put_ms, 99)), 2),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[10.0, 200.0])
    parser.add_argument("--synchronous", nargs="+", default=["FULL", "NORMAL"], choices=["FULL", "NORMAL"])
    parser.add_argument("--seconds", type=float, default=12.0, help="seconds of publishing per rate and mode")
    parser.add_argument("--port", type=int, default=None, help="use a running broker on 127.0.0.1:PORT")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mqtt-latency-") as tmp:
        folder = Path(tmp)
        broker = None
        port = args.port
        if port is None:
            broker, port = start_broker(folder)
        try:
            results = []
            base = 0
            for synchronous in args.synchronous:
                for rate in args.rates:
                    results.append(run(port, folder, rate, args.seconds, synchronous, base))
                    base += 1_000_000
        finally:
            if broker is not None:
                broker.terminate()
                broker.wait(10)
    version = subprocess.run(
        [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-h"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()[:1]
    print(
        json.dumps(
            {
                "benchmark": "mqtt_latency",
                "what": "outbox put (publish requested) -> subscriber on_message, QoS 1, loopback",
                "broker": version[0] if version else "mosquitto",
                "python": sys.version.split()[0],
                "paho_mqtt": metadata.version("paho-mqtt"),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "seconds_per_run": args.seconds,
                "results": results,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
