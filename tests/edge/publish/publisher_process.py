"""A camera's publishing side in its own process, for tests that kill it (``SIGKILL``).

Runs the real :class:`~edge.publish.outbox.Outbox` and :class:`~edge.publish.publisher.Publisher`
(sender thread, paho client) and stores ``slag.thickness/1`` payloads for frames ``0..count-1`` at
``rate`` per second. Each stored frame is appended to ``<outbox>.progress`` as ``"<frame> <seq>"``
once ``put`` returned, so a restarted process resumes after the last frame it stored (a frame
stored just before a kill, and not yet logged, is stored again: same frame, new seq).

When every frame is stored it waits until the outbox is empty (all acknowledged), writes
``<outbox>.done``, and with ``--stop`` stops cleanly (offline status, clean disconnect); without it
it idles until killed.

    python -m tests.edge.publish.publisher_process --port 1883 --outbox /tmp/o.sqlite --count 100
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from pathlib import Path

from edge.config import MqttSection
from edge.measure.quality import MeasureQuality
from edge.measure.slag import SlagMeasurement
from edge.publish import payloads
from edge.publish.outbox import Outbox
from edge.publish.publisher import Publisher

log = logging.getLogger("publisher_process")

DEVICE = "slagcam01"
PREFIX = "plant1/meltshop/rh1/slagcam01"


def thickness_of(frame: int) -> float:
    """The thickness the process reports for ``frame`` (so a receiver can check the payload)."""
    return round(10.0 + (frame % 1000) * 0.01, 3)


def measurement(frame: int) -> SlagMeasurement:
    """A GOOD slag measurement whose thickness encodes the frame number."""
    value = thickness_of(frame)
    return SlagMeasurement(
        value, value - 0.5, value + 0.5, 40, 0.95, 0.9, 0.0, "calibration", MeasureQuality.good()
    )


def last_logged(progress: Path) -> int:
    """The last frame in the progress log (-1 when none)."""
    if not progress.exists():
        return -1
    last = -1
    for line in progress.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            last = max(last, int(parts[0]))
    return last


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--outbox", type=Path, required=True)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--inflight", type=int, default=20)
    parser.add_argument("--protocol", default="5")
    parser.add_argument("--stop", action="store_true", help="stop cleanly once everything is acknowledged")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(process)d %(threadName)s %(name)s %(levelname)s %(message)s",
    )
    stop_now = False

    def on_term(_signum: int, _frame: object) -> None:
        nonlocal stop_now
        stop_now = True

    signal.signal(signal.SIGTERM, on_term)
    section = MqttSection(
        host="127.0.0.1",
        port=args.port,
        protocol=args.protocol,
        topic_prefix=PREFIX,
        reconnect_min_s=0.2,
        reconnect_max_s=1.0,
        inflight=args.inflight,
        metrics_interval_s=3600.0,
        keepalive_s=5,
    )
    outbox = Outbox(args.outbox, max_bytes=256 * 1024 * 1024, max_age_s=3600.0, synchronous="NORMAL")
    publisher = Publisher(
        section, outbox, device=DEVICE, task="slag", model=payloads.ModelInfo("slagnet", "1.0")
    )
    publisher.start()
    progress_path = args.outbox.with_suffix(".progress")
    start = last_logged(progress_path) + 1
    log.info("storing frames %d..%d at %.0f/s", start, args.count - 1, args.rate)
    with progress_path.open("a", buffering=1) as progress:
        t0 = time.monotonic()
        for n, frame in enumerate(range(start, args.count)):
            if stop_now:
                break
            due = t0 + n / args.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            payload = payloads.thickness_payload(
                publisher.ctx, measurement(frame), 1_700_000_000_000 + frame, frame=frame
            )
            seq = publisher.store(publisher.topics.thickness, payload, kind="measurement")
            progress.write(f"{frame} {seq}\n")
    while not stop_now and outbox.depth().rows > 0:
        time.sleep(0.1)
    args.outbox.with_suffix(".done").write_text(str(publisher.counters()))
    log.info("all stored rows acknowledged: %s", publisher.counters())
    while not args.stop and not stop_now:
        time.sleep(0.2)
    publisher.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
