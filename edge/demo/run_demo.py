"""``steelsight-edge demo``: a synthetic furnace video through the demo bundle to a local broker.

What it does, in order (everything lands in ``--out``):

1. renders a synthetic furnace video, ``furnace.mp4``, with each frame's true slag thickness in
   ``furnace.truth.jsonl`` (:func:`edge.demo.furnace_video.furnace_video`);
2. starts a private Mosquitto on a free loopback port (or uses ``--broker HOST:PORT``);
3. subscribes to the camera's ``slag/thickness`` and ``slag/measurement`` topics like a SCADA
   client would and prints each thickness as it arrives, beside the truth;
4. writes ``demo_camera.toml``, an ordinary camera config (``steelsight-edge run --config`` runs
   it again), and runs the camera: file source -> preprocessing -> ONNX Runtime -> slag
   measurement -> SQLite outbox -> MQTT, saving an overlay of every frame;
5. tiles the overlays into ``overlay_strip.png``, joins them into ``overlay.mp4`` and prints a
   summary (fps, latency, messages received, measured vs true thickness), also as
   ``summary.json``.

The scale of each frame comes from the scene's own truth (``measure.scale_from_truth``): every
synthetic dip is seen from a different camera pose, so there is no single calibration file.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge.atomic_file import atomic_write
from edge.config import load_runtime_config
from edge.demo.furnace_video import furnace_video
from edge.demo.local_broker import MOSQUITTO, LocalBroker
from edge.demo.overlay_reel import overlay_reel
from edge.demo.thickness_subscriber import ThicknessSubscriber

__all__ = ["DemoReport", "default_demo_bundle", "demo_camera_config", "format_report", "run_demo"]

log = logging.getLogger(__name__)

DEMO_PREFIX = "demo/rh1/slagcam-demo"
"""The demo camera's topic prefix."""

_BUNDLE_NAME = "demo_slag"


def default_demo_bundle() -> Path | None:
    """The committed demo bundle: ``bundles/demo_slag`` in the working folder or the source tree."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidate = root / "bundles" / _BUNDLE_NAME
        if (candidate / "manifest.json").is_file():
            return candidate
    return None


@dataclass
class DemoReport:
    """The demo's outcome, as printed and written to ``summary.json``."""

    frames: int
    fps: float
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    infer_p50_ms: float | None
    received: int
    duplicates: int
    missing_frames: list[int]
    measurements: int
    quality_counts: dict[str, int]
    mae_mm: float | None
    mae_pct: float | None
    good_mae_pct: float | None
    good_median_pct: float | None
    render_s: float
    run_s: float
    total_s: float
    bundle: str
    broker: str
    files: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Every processed frame's thickness reached the subscriber."""
        return not self.missing_frames and self.received >= self.frames


def demo_camera_config(
    *,
    source: str,
    bundle: Path,
    port: int,
    outbox: Path,
    host: str = "127.0.0.1",
    camera_id: str = "slagcam-demo",
    prefix: str = DEMO_PREFIX,
    fps: float | None = 5.0,
    synchronous: str = "normal",
    mqtt_extra: str = "",
) -> str:
    """The TOML of a slag camera on ONNX Runtime (CPU) scaled by its scenes' truth.

    The demo writes it as ``demo_camera.toml``; the end-to-end test and the soak benchmark run
    the same camera with their own source, broker, outbox and, in ``mqtt_extra``, more
    ``[mqtt]`` lines (e.g. a faster reconnect).
    """
    pacing = f"fps = {fps:g}  # paced like a furnace camera" if fps else "# fps: unpaced, as fast as it runs"
    return f"""# A slag camera on ONNX Runtime, written by SteelSight's demo tooling; run it with
#   steelsight-edge run --config THIS_FILE
# (keys as in examples/slagcam01.toml; the scale comes from each synthetic scene's truth)

[camera]
id = "{camera_id}"
source = "{source}"
{pacing}

[model]
bundle = "{Path(bundle).resolve()}"
precision = "fp32"
backend = "onnxruntime"
device = "cpu"
warmup = 2

[measure]
task = "slag"
scale_from_truth = true
confidence = true

[mqtt]
host = "{host}"
port = {port}
topic_prefix = "{prefix}"
metrics_interval_s = 5.0
{mqtt_extra}
[outbox]
path = "{Path(outbox).resolve()}"
synchronous = "{synchronous}"

[pipeline]
capture_queue = 2
post_queue = 8
"""


def _percent(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _compare(
    received: dict[int, dict[str, Any]], truth: tuple[float, ...]
) -> tuple[dict[str, int], float | None, float | None, float | None, float | None]:
    """Quality counts, MAE (mm, %) over frames with a thickness, and MAE/median % of the GOOD ones."""
    counts: dict[str, int] = {}
    errors_mm: list[float] = []
    errors_pct: list[float] = []
    good_pct: list[float] = []
    for frame, payload in received.items():
        quality = str(payload.get("quality"))
        counts[quality] = counts.get(quality, 0) + 1
        value = payload.get("thickness_mm")
        if value is None or not 0 <= frame < len(truth):
            continue
        error = abs(float(value) - truth[frame])
        errors_mm.append(error)
        errors_pct.append(100.0 * error / truth[frame])
        if quality == "GOOD":
            good_pct.append(100.0 * error / truth[frame])
    return (
        counts,
        _percent(errors_mm),
        _percent(errors_pct),
        _percent(good_pct),
        statistics.median(good_pct) if good_pct else None,
    )


def _line(payload: dict[str, Any], truth: tuple[float, ...]) -> str:
    frame = payload.get("frame")
    value = payload.get("thickness_mm")
    true = truth[frame] if isinstance(frame, int) and 0 <= frame < len(truth) else math.nan
    measured = f"{value:7.1f} mm" if value is not None else "     -- mm"
    known = value is not None and math.isfinite(true)
    error = f"{100.0 * (value - true) / true:+6.1f} %" if known else "     -- "
    reason = f"  ({payload['quality_reason']})" if payload.get("quality_reason") else ""
    quality = payload.get("quality")
    return f"  frame {frame:>4}  slag {measured}   true {true:6.1f} mm   error {error}   {quality}{reason}"


def run_demo(
    out: Path,
    *,
    bundle: Path | None = None,
    frames: int = 40,
    seed: int = 2026,
    fps: float | None = 5.0,
    broker: tuple[str, int] | None = None,
    echo: Callable[[str], None] = print,
) -> DemoReport:
    """Run the demo (see the module docstring) and return its report.

    Parameters
    ----------
    out
        Output folder (created; earlier demo output in it is replaced).
    bundle
        The model bundle (default: :func:`default_demo_bundle`).
    frames
        Frames in the furnace video.
    seed
        Scene seed of the video (the demo bundle never saw seeds other than 1).
    fps
        Pace the camera to this rate, like a furnace camera (``None``: as fast as the machine runs it).
    broker
        ``(host, port)`` of a running broker instead of a private Mosquitto.
    echo
        Where the progress and the thickness stream are printed.

    Raises
    ------
    FileNotFoundError
        No bundle given and none found, or Mosquitto is not installed (the message says what to install).
    ConnectionError
        The broker cannot be reached.
    edge.config_loader.ConfigError, edge.bundle.manifest.BundleError, edge.sources.SourceError
        A bad bundle or generated config (a defect; the message names it).
    """
    started = time.monotonic()
    out = Path(out)
    bundle = bundle if bundle is not None else default_demo_bundle()
    if bundle is None:
        raise FileNotFoundError(
            f"the demo bundle bundles/{_BUNDLE_NAME} was not found from {Path.cwd()}; "
            "run the demo from the repository folder or pass --bundle DIR"
        )
    if not (Path(bundle) / "manifest.json").is_file():
        raise FileNotFoundError(f"{bundle} is not a model bundle (no manifest.json in it); pass --bundle DIR")
    if broker is None and MOSQUITTO is None:
        raise FileNotFoundError(
            "the demo starts its own Mosquitto broker, but mosquitto is not installed: "
            "sudo apt-get install mosquitto (or pass --broker HOST:PORT of a running broker)"
        )
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("overlays", "broker"):
        shutil.rmtree(out / stale, ignore_errors=True)
    for stale in out.glob("outbox.sqlite*"):
        stale.unlink()  # a previous demo's rows would be published again, under old frame numbers

    echo(f"1/4 rendering a synthetic furnace video: {frames} frames (seed {seed}) ...")
    video = furnace_video(out, frames, seed=seed)
    echo(f"    {video.video} and {video.truth.name} in {video.seconds:.1f} s")

    local: LocalBroker | None = None
    if broker is None:
        local = LocalBroker(out / "broker", persistence=True).start()
        host, port = "127.0.0.1", local.port
        echo(f"2/4 started a private Mosquitto on {host}:{port} (log: {local.log_path})")
    else:
        host, port = broker
        echo(f"2/4 using the broker at {host}:{port}")
    subscriber = ThicknessSubscriber(
        host,
        port,
        DEMO_PREFIX,
        on_thickness=lambda payload: echo(_line(payload, video.thickness_mm)),
        on_measurement=lambda payload: echo(
            f"  dip cycle {payload.get('cycle')}: {payload.get('thickness_mm')} mm over "
            f"{payload.get('frames')} frames"
        ),
    )
    try:
        subscriber.start()
        config_path = out / "demo_camera.toml"
        text = demo_camera_config(
            source=video.source_uri,
            bundle=bundle,
            host=host,
            port=port,
            outbox=out / "outbox.sqlite",
            fps=fps,
        )
        atomic_write(config_path, text.encode())
        config = load_runtime_config(config_path)
        echo(f"3/4 running the camera ({config_path}) with {bundle}; the subscriber prints what it receives:")
        from edge.camera import run_camera

        run_started = time.monotonic()
        summary = run_camera(config, overlay_dir=out / "overlays")
        run_s = time.monotonic() - run_started
        if not subscriber.wait_for(summary.frames, timeout_s=15.0):
            log.warning("the subscriber is missing frames 15 s after the run ended")
    finally:
        subscriber.stop()
        if local is not None:
            local.stop()

    echo("4/4 writing the overlay strip and video ...")
    strip, reel = out / "overlay_strip.png", out / "overlay.mp4"
    overlay_reel(out / "overlays", strip, reel)
    received = dict(subscriber.thickness)
    counts, mae_mm, mae_pct, good_mae, good_median = _compare(received, video.thickness_mm)
    e2e = summary.metrics.get("latency_ms", {}).get("end_to_end") or {}
    report = DemoReport(
        frames=summary.frames,
        fps=round(summary.fps, 2),
        latency_p50_ms=e2e.get("p50_ms"),
        latency_p99_ms=e2e.get("p99_ms"),
        infer_p50_ms=(summary.metrics.get("latency_ms", {}).get("infer") or {}).get("p50_ms"),
        received=len(received),
        duplicates=subscriber.duplicates,
        missing_frames=sorted(set(range(summary.frames)) - set(received)),
        measurements=len(subscriber.measurements),
        quality_counts=counts,
        mae_mm=mae_mm,
        mae_pct=mae_pct,
        good_mae_pct=good_mae,
        good_median_pct=good_median,
        render_s=round(video.seconds, 1),
        run_s=round(run_s, 1),
        total_s=round(time.monotonic() - started, 1),
        bundle=str(bundle),
        broker=f"{host}:{port}",
        files={
            "video": str(video.video),
            "truth": str(video.truth),
            "config": str(config_path),
            "overlays": str(out / "overlays"),
            "strip": str(strip),
            "overlay_video": str(reel),
            "summary": str(out / "summary.json"),
        },
    )
    atomic_write(out / "summary.json", json.dumps(asdict(report), indent=2).encode())
    return report


def format_report(report: DemoReport) -> list[str]:
    """The summary lines the CLI prints."""

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1f} %"

    latency = (
        f"; end-to-end latency p50 {report.latency_p50_ms:.0f} ms, p99 {report.latency_p99_ms:.0f} ms"
        if report.latency_p50_ms is not None and report.latency_p99_ms is not None
        else ""
    )
    capacity = (
        f"; inference p50 {report.infer_p50_ms:.0f} ms per frame" if report.infer_p50_ms is not None else ""
    )
    qualities = ", ".join(f"{count} {name}" for name, count in sorted(report.quality_counts.items()))
    missing = f"; MISSING frames {report.missing_frames}" if report.missing_frames else ""
    mae = "n/a" if report.mae_mm is None else f"{report.mae_mm:.1f} mm ({pct(report.mae_pct)})"
    return [
        "summary",
        f"  camera    {report.frames} frames at {report.fps:.2f} fps{latency}{capacity}",
        f"  mqtt      {report.received}/{report.frames} thickness messages received "
        f"({report.duplicates} duplicates){missing}",
        f"  quality   {qualities}",
        f"  accuracy  mean abs error {mae} over all frames with a thickness; GOOD frames: "
        f"mean {pct(report.good_mae_pct)}, median {pct(report.good_median_pct)}",
        f"  time      {report.total_s:.0f} s in all "
        f"(rendering {report.render_s:.0f} s, camera {report.run_s:.0f} s)",
        f"  look at   {report.files['strip']} and {report.files['overlay_video']}",
        f"  details   {report.files['summary']}",
    ]
