"""End to end: slag scenes of known thickness through the real camera chain to a SCADA subscriber.

``synthetic://slag`` (each frame carries its scene's truth) -> preprocessing -> the committed demo
bundle on ONNX Runtime -> slag measurement -> SQLite outbox -> a real Mosquitto -> a subscriber.
Mid-run the broker is frozen (SIGSTOP: in-flight messages stay unacknowledged) and killed
(SIGKILL), then restarted a few seconds later while frames keep coming.

What is asserted:

* nothing is lost: every frame's thickness reaches the subscriber, exactly as the camera
  measured it (value, quality, reason), and the outbox is empty at the end;
* the thickness matches the scene's truth. The measurement's own tolerance, max(1 px, 1 %), holds
  on exact masks (tests/edge/measure); here the network's masks limit the accuracy, so the bound is
  the demo network's accuracy as measured on the synthetic test set (README, "The demo bundle"):
  GOOD frames' median error within 5 %, and at least half of the frames GOOD.
"""

from __future__ import annotations

import sqlite3
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import jsonschema

from edge.camera import run_camera
from edge.config import load_runtime_config
from edge.demo import ThicknessSubscriber, default_demo_bundle, demo_camera_config
from edge.pipeline import PipelineSummary, Result
from edge.publish.payloads import load_schema
from tests.mosquitto import Mosquitto, require_mosquitto

FRAMES = 60
FPS = 6.0
PREFIX = "test/rh1/slagcam-e2e"


def _config(tmp_path: Path, port: int, bundle: Path) -> Path:
    path = tmp_path / "camera.toml"
    text = demo_camera_config(
        source=f"synthetic://slag?seed=2026&count={FRAMES}",
        bundle=bundle,
        port=port,
        outbox=tmp_path / "outbox.sqlite",
        camera_id="slagcam-e2e",
        prefix=PREFIX,
        fps=FPS,
        synchronous="full",
        mqtt_extra="reconnect_min_s = 0.2\nreconnect_max_s = 1.0\n",
    )
    path.write_text(text)
    return path


def _wait(condition: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_known_thickness_reaches_the_subscriber_through_a_broker_kill(tmp_path: Path) -> None:
    require_mosquitto()
    bundle = default_demo_bundle()
    assert bundle is not None, "the committed demo bundle bundles/demo_slag is missing"
    broker = Mosquitto(tmp_path / "broker", persistence=True, autosave_interval=1).start()
    subscriber = ThicknessSubscriber("127.0.0.1", broker.port, PREFIX, client_id="e2e-scada").start()
    time.sleep(1.5)  # the subscriber's session is saved (autosave every second) before the kill
    config = load_runtime_config(_config(tmp_path, broker.port, bundle))

    measured: dict[int, tuple[Any, float]] = {}

    def collect(result: Result) -> None:
        measured[result.frame.seq] = (result.measurement, result.frame.truth["thickness_mm"])

    summaries: list[PipelineSummary] = []
    camera = threading.Thread(
        target=lambda: summaries.append(run_camera(config, post=[collect], handle_signals=False)),
        name="camera",
    )
    camera.start()
    try:
        assert subscriber.wait_for(8, timeout_s=90), "no thickness arrived before the broker kill"
        broker.freeze()
        time.sleep(0.3)
        broker.kill()
        at_kill = len(measured)
        assert _wait(lambda: len(measured) >= at_kill + 10, 30), "the camera stalled without its broker"
        waiting = len(measured) - len(subscriber.frames())
        assert waiting >= 10, f"only {waiting} measured frames were waiting in the outbox during the outage"
        broker.start()
        camera.join(timeout=180)
        assert not camera.is_alive(), "the camera did not finish"
        assert subscriber.wait_for(FRAMES, timeout_s=60), (
            f"missing frames: {sorted(set(range(FRAMES)) - subscriber.frames())}"
        )
    finally:
        subscriber.stop()
        if camera.is_alive():  # a failed assertion above: do not leave the camera running
            camera.join(timeout=60)
        broker.stop()

    (summary,) = summaries
    assert summary.error is None and summary.frames == FRAMES
    with sqlite3.connect(tmp_path / "outbox.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0

    schema = load_schema("thickness")
    errors_pct: list[float] = []
    for frame in range(FRAMES):
        payload = subscriber.thickness[frame]
        jsonschema.validate(payload, schema)
        measurement, truth_mm = measured[frame]
        sent = measurement.as_payload()
        for key in ("thickness_mm", "quality", "quality_code", "quality_reason", "p10_mm", "p90_mm"):
            assert payload[key] == sent[key], (frame, key)
        if payload["quality"] == "GOOD":
            errors_pct.append(100.0 * abs(payload["thickness_mm"] - truth_mm) / truth_mm)
    assert len(errors_pct) >= FRAMES // 2, f"only {len(errors_pct)} of {FRAMES} frames GOOD"
    assert statistics.median(errors_pct) <= 5.0, sorted(errors_pct)
