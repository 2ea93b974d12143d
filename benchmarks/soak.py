"""Soak run of the demo camera: RSS, fps and outbox depth every minute for 30 minutes (JSON).

The camera runs as its own process, exactly as deployed (``steelsight-edge run --config``), on the
demo's furnace video looped at the demo's frame rate, publishing to a private Mosquitto. This script
is the SCADA side: it subscribes to the thickness topic (to check nothing is lost) and to the
camera's metrics topic (fps, outbox depth), and reads the camera's RSS from ``/proc``. Every minute
it records one row; at the end it reports the RSS growth after the warm-up minutes, the slowest
minute's fps, the deepest outbox and whether every frame's thickness arrived.

Not part of CI (it takes the full duration):

    python benchmarks/soak.py --minutes 30 --fps 5 > reports/soak.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.demo import LocalBroker, ThicknessSubscriber, default_demo_bundle, demo_camera_config, furnace_video

PREFIX = "soak/rh1/slagcam-soak"


def rss_mib(pid: int) -> float | None:
    """Resident set size of a process in MiB (``None`` once it has exited)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


class MetricsListener:
    """Keeps the camera's latest ``metrics/1`` payload."""

    def __init__(self, port: int) -> None:
        self.latest: dict[str, Any] | None = None
        self.count = 0
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="soak-metrics")
        self._client.on_connect = lambda c, *_: c.subscribe(f"{PREFIX}/metrics", 0)
        self._client.on_message = self._message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def _message(self, _client: Any, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.latest = json.loads(message.payload)
        self.count += 1

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bundle", type=Path, default=default_demo_bundle(), help="(bundles/demo_slag)")
    parser.add_argument("--minutes", type=float, default=30.0, help="duration (30)")
    parser.add_argument("--fps", type=float, default=5.0, help="camera frame rate: the demo's (5)")
    parser.add_argument("--video-frames", type=int, default=100, help="frames in the looped video (100)")
    parser.add_argument("--work", type=Path, default=Path("reports/soak_work"), help="working folder")
    parser.add_argument("--interval-s", type=float, default=60.0, help="seconds between rows (60)")
    args = parser.parse_args()
    if args.bundle is None:
        parser.error("no --bundle given and bundles/demo_slag not found")
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    for stale in work.glob("outbox.sqlite*"):
        stale.unlink()
    video = furnace_video(work, args.video_frames, seed=2026)
    broker = LocalBroker(work / "broker", persistence=True).start()
    subscriber = ThicknessSubscriber("127.0.0.1", broker.port, PREFIX, client_id="soak-scada").start()
    metrics = MetricsListener(broker.port)
    config = work / "camera.toml"
    config.write_text(
        demo_camera_config(
            source=f"{video.source_uri}&loop=1",
            bundle=args.bundle,
            port=broker.port,
            outbox=work / "outbox.sqlite",
            camera_id="slagcam-soak",
            prefix=PREFIX,
            fps=args.fps,
            synchronous="full",
        )
    )
    camera_log = (work / "camera.log").open("wb")
    camera = subprocess.Popen(
        [
            *(sys.executable, "-m", "edge", "--log-level", "INFO", "run"),
            *("--config", str(config), "--summary-json", str(work / "camera_summary.json")),
        ],
        stdout=camera_log,
        stderr=subprocess.STDOUT,
    )
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        minute = 0
        while time.monotonic() - started < args.minutes * 60:
            minute += 1
            target = started + minute * args.interval_s
            while time.monotonic() < target and camera.poll() is None:
                time.sleep(0.5)
            if camera.poll() is not None:
                break
            latest = metrics.latest or {}
            pipeline = latest.get("pipeline") or {}
            outbox = latest.get("outbox") or {}
            row = {
                "minute": minute,
                "elapsed_s": round(time.monotonic() - started, 1),
                "rss_mib": rss_mib(camera.pid),
                "frames": pipeline.get("frames"),
                "fps_recent": pipeline.get("fps_recent"),
                "dropped": (pipeline.get("counters") or {}).get("dropped", 0),
                "outbox_rows": outbox.get("rows"),
                "received": len(subscriber.frames()),
                "received_in_row": len(subscriber.frames()) - (rows[-1]["received"] if rows else 0),
                "infer_p50_ms": ((pipeline.get("latency_ms") or {}).get("infer") or {}).get("p50_ms"),
            }
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    finally:
        if camera.poll() is None:
            camera.send_signal(signal.SIGTERM)
            camera.wait(60)
        camera_log.close()
    try:
        frames_done = int(json.loads((work / "camera_summary.json").read_text())["frames"])
    except (OSError, ValueError, KeyError):
        frames_done = 0  # the camera died without a summary; its log says why
    subscriber.wait_for(frames_done, timeout_s=30)
    received = subscriber.frames()
    subscriber.stop()
    metrics.stop()
    broker.stop()
    warm = [r["rss_mib"] for r in rows[2:] if r["rss_mib"] is not None]
    fps_rows = [r["fps_recent"] for r in rows if r["fps_recent"] is not None]
    result = {
        "benchmark": "soak",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "bundle": str(args.bundle),
        "fps_asked": args.fps,
        "minutes": len(rows),
        "camera_exit_code": camera.returncode,
        "rows": rows,
        "rss_mib_minute3": warm[0] if warm else None,
        "rss_mib_last": warm[-1] if warm else None,
        "rss_growth_mib_after_warmup": round(warm[-1] - warm[0], 1) if len(warm) > 1 else None,
        "rss_spread_mib_after_warmup": round(max(warm) - min(warm), 1) if warm else None,
        "fps_min_minute": min(fps_rows) if fps_rows else None,
        "fps_median": statistics.median(fps_rows) if fps_rows else None,
        "outbox_rows_max": max((r["outbox_rows"] or 0) for r in rows) if rows else None,
        "frames_processed": frames_done,
        "frames_received": len(received),
        "frames_missing": sorted(set(range(frames_done)) - received)[:20],
        # a stall: a whole row (minute) in which no thickness reached the subscriber
        "stalled_rows": [r["minute"] for r in rows if r["received_in_row"] == 0],
        "metrics_messages": metrics.count,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
