"""One camera's chain built from its runtime config: source -> preprocessing -> engine -> post.

:func:`run_camera` is what ``steelsight-edge run --config camera.toml`` calls. It opens the
source and checks the bundle before anything runs (a typo or a missing file stops it with a
message naming the key or the path), installs SIGTERM/SIGINT handlers that drain the queues, and
tells systemd when it is ready.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from calibration.calibration_file import Calibration, load_calibration
from edge.bundle.loader import Bundle, load_bundle
from edge.config import RuntimeConfig
from edge.engines.base import Engine, EngineOutput
from edge.engines.select import open_engine
from edge.frame import Frame
from edge.measure_stage import MeasurementStage
from edge.metrics import PipelineMetrics
from edge.overlay import OverlayWriter
from edge.pipeline import InferenceStep, Pipeline, PipelineSummary, PostHandler, Result, cpu_inference_step
from edge.preprocess import PreprocessSpec, UndistortMaps
from edge.publish.payloads import ModelInfo
from edge.publish.publisher import make_publisher
from edge.sources import open_source
from edge.systemd_notify import SystemdNotifier

__all__ = [
    "make_step_factory",
    "measurement_stage",
    "measurement_text",
    "overlay_handler",
    "preprocess_spec",
    "run_camera",
    "undistortion",
]

log = logging.getLogger(__name__)


def preprocess_spec(
    config: RuntimeConfig, bundle: Bundle, calibration: Calibration | None = None
) -> PreprocessSpec:
    """The preprocessing the bundle's manifest asks for, at the configured size.

    The ROI is the bounding box of the calibration's ROI polygon when there is one, else
    ``camera.roi`` (``None``: the whole frame).
    """
    height, width = config.model.input_size or (bundle.manifest.input.height, bundle.manifest.input.width)
    bundle.check_input_size(height, width, config.model.precision)
    roi = config.camera.roi
    if calibration is not None and calibration.roi is not None:
        roi = calibration.roi_bounds()
    return PreprocessSpec.from_input_spec(
        bundle.manifest.input, roi=roi, dtype="float32", height=height, width=width
    )


def undistortion(calibration: Calibration | None) -> UndistortMaps | None:
    """The frames' undistortion maps, when the calibration's scale was fitted on undistorted points.

    A scale fitted on raw pixels (``scale.undistorted`` false) is applied to raw frames, so the
    frames are then left as they are even when the file holds the intrinsics.
    """
    if calibration is None or not calibration.scale.undistorted or calibration.camera_matrix is None:
        return None
    return UndistortMaps.from_calibration(
        calibration.camera_matrix, calibration.dist_coeffs, calibration.image_size
    )


def _cuda_step(
    engine: Engine, spec: PreprocessSpec, probabilities: bool, undistort: UndistortMaps | None = None
) -> InferenceStep:
    """The fused CUDA preprocessing writing straight into a TensorRT engine's input buffer."""
    import time

    from edge.preprocess.cuda import CudaPreprocessor

    state: dict[str, CudaPreprocessor] = {}

    def step(frame: Frame) -> EngineOutput:
        height, width = frame.image.shape[:2]
        pre = state.get("pre")
        if pre is None or (pre.frame_height, pre.frame_width) != (height, width):
            if pre is not None:
                pre.close()
            maps = undistort if undistort is not None and undistort.image_size == (height, width) else None
            pre = state["pre"] = CudaPreprocessor(spec, height, width, stream=engine.stream, undistort=maps)  # type: ignore[attr-defined]
        start = time.perf_counter()
        pre(frame.image, engine.input_device_ptr())  # type: ignore[attr-defined]
        middle = time.perf_counter()
        output = engine.infer_from_device(1, probabilities=probabilities)  # type: ignore[attr-defined]
        frame.timings["preprocess"] = middle - start  # enqueue time; the GPU work is in "infer"
        frame.timings["infer"] = time.perf_counter() - middle
        return output

    return step


def measurement_stage(
    config: RuntimeConfig,
    bundle: Bundle,
    metrics: PipelineMetrics | None = None,
    calibration: Calibration | None = None,
) -> MeasurementStage | None:
    """The measurement post handler, or ``None`` (logged) when no scale is configured.

    ``calibration`` is the already loaded ``measure.calibration`` file (read here when omitted).
    """
    section = config.measure
    if section.calibration is None and section.mm_per_px is None and not section.scale_from_truth:
        log.warning(
            "camera %s has no scale (measure.calibration, measure.mm_per_px or measure.scale_from_truth): "
            "masks only, no measurements",
            config.camera.id,
        )
        return None
    return MeasurementStage(section, bundle.manifest, metrics, calibration)


def make_step_factory(
    config: RuntimeConfig,
    bundle: Bundle,
    spec: PreprocessSpec,
    probabilities: bool = False,
    undistort: UndistortMaps | None = None,
) -> Callable[[], tuple[InferenceStep, Engine]]:
    """A factory the engine thread calls: opens the backend and pairs it with its preprocessing.

    TensorRT gets the fused CUDA kernel; ONNX Runtime gets the numpy/OpenCV path.
    """

    def factory() -> tuple[InferenceStep, Engine]:
        engine, reason = open_engine(
            bundle,
            config.model.precision,
            config.model.backend,
            device=config.model.device,
            intra_threads=config.model.threads,
            height=spec.height,
            width=spec.width,
        )
        log.info("inference: %s (%s)", engine.description, reason)
        if config.model.warmup:
            engine.warmup(config.model.warmup)
        if engine.backend == "tensorrt":
            return _cuda_step(engine, spec, probabilities, undistort), engine
        return cpu_inference_step(engine, spec, probabilities, undistort), engine

    return factory


def overlay_handler(folder: Path, class_names: Sequence[str], every: int = 1) -> PostHandler:
    """A post handler writing each frame with its class map blended in (JPEG per frame)."""
    writer = OverlayWriter(folder, every=every)

    def write_overlay(result: Result) -> None:
        frame = result.frame
        classes = result.classes
        counts = {name: int((classes == index).sum()) for index, name in enumerate(class_names) if index > 0}
        verdict = frame.quality
        quality = "image ok" if verdict is None or verdict.ok else "; ".join(verdict.reasons)
        lines = [
            f"#{frame.seq}  {frame.timings.get('infer', 0) * 1000:.0f} ms  {quality}",
            "  ".join(f"{name} {count} px" for name, count in counts.items()),
        ]
        text = measurement_text(result)
        if text:
            lines.append(text)
        writer.write(frame.seq, frame.image, classes, lines)

    return write_overlay


def measurement_text(result: Result) -> str:
    """One line describing the result's measurement (empty without one)."""
    m = result.measurement
    if m is None:
        return ""
    q = m.quality
    why = f" ({q.reason})" if q.reason else ""
    if hasattr(m, "thickness_mm"):
        value = "no thickness" if m.thickness_mm != m.thickness_mm else f"slag {m.thickness_mm:.1f} mm"
        truth = result.frame.truth or {}
        true = f" (true {truth['thickness_mm']:.1f})" if "thickness_mm" in truth else ""
        return f"{value}{true}  {q.code}{why}"
    if m.found:
        return (
            f"weld {m.area_mm2:.1f} mm2, width {m.width_mm:.2f} mm, depth {m.depth_mm:.2f} mm  {q.code}{why}"
        )
    return f"no weld  {q.code}{why}"


def run_camera(
    config: RuntimeConfig,
    *,
    max_frames: int | None = None,
    overlay_dir: Path | None = None,
    post: Sequence[PostHandler] = (),
    handle_signals: bool = True,
    metrics: PipelineMetrics | None = None,
) -> PipelineSummary:
    """Run the camera described by ``config`` until its source ends, ``max_frames``, or a signal.

    Parameters
    ----------
    config
        The checked runtime config.
    max_frames
        Stop after this many frames (``None``: run until the source ends or SIGTERM/SIGINT).
    overlay_dir
        Write each frame with its mask blended in to this folder.
    post
        More post handlers, called after the measurement, the MQTT publisher (unless
        ``mqtt.enabled`` is false) and the overlay writer.
    handle_signals
        Install SIGTERM/SIGINT handlers that drain and stop (only from the main thread).

    Raises
    ------
    edge.bundle.manifest.BundleError, edge.sources.SourceError, OSError
        Before anything runs, for a bad bundle, source or overlay folder (the message names it).
    """
    bundle = load_bundle(config.model.bundle, precision=config.model.precision)
    calibration = load_calibration(config.measure.calibration) if config.measure.calibration else None
    spec = preprocess_spec(config, bundle, calibration)
    undistort = undistortion(calibration)
    class_names = [c.name for c in bundle.manifest.classes]
    metrics = metrics or PipelineMetrics()
    handlers: list[PostHandler] = []
    stage = measurement_stage(config, bundle, metrics, calibration)
    if stage is not None:
        handlers.append(stage)
    publisher = make_publisher(
        config, model=ModelInfo(bundle.manifest.name, bundle.manifest.version), metrics=metrics
    )
    if publisher is not None:
        handlers.append(publisher)
        if stage is not None:
            publisher.set_reload_calibration(stage.reload_calibration)
    if overlay_dir is not None:
        handlers.append(overlay_handler(Path(overlay_dir), class_names))
    handlers.extend(post)
    notifier = SystemdNotifier()
    source = open_source(
        config.camera.source, width=config.camera.width, height=config.camera.height, fps=config.camera.fps
    )
    policy = config.pipeline.drop_policy
    pipeline = Pipeline(
        source,
        make_step_factory(
            config,
            bundle,
            spec,
            probabilities=stage is not None and stage.wants_probabilities,
            undistort=undistort,
        ),
        spec,
        post=handlers,
        drop_oldest=None if policy == "auto" else policy == "drop-oldest",
        capture_queue=config.pipeline.capture_queue,
        post_queue=config.pipeline.post_queue,
        rate_hz=config.pipeline.rate_hz,
        quality=config.pipeline.quality,
        max_frames=max_frames,
        metrics=metrics,
        notifier=notifier,
        on_ready=lambda engine: notifier.ready(f"running {bundle.name} on {engine.backend}"),
    )
    log.info(
        "camera %s: %s -> %s %s (%s) at %dx%d",
        config.camera.id,
        config.camera.source,
        bundle.name,
        bundle.manifest.version,
        config.model.precision,
        spec.height,
        spec.width,
    )
    previous: dict[int, object] = {}
    if handle_signals and threading.current_thread() is threading.main_thread():

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("%s received: finishing the queued frames, then stopping", signal.Signals(signum).name)
            notifier.stopping("draining queues")
            pipeline.stop()

        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, on_signal)
        if stage is not None:

            def on_hangup(_signum: int, _frame: FrameType | None) -> None:
                # Not from the handler itself: file I/O and logging belong on a normal thread.
                threading.Thread(target=stage.reload_calibration, name="reload-calibration").start()

            previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hangup)
    try:
        if publisher is not None:
            publisher.start()
        summary = pipeline.run()
    finally:
        if publisher is not None:
            publisher.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        notifier.close()
    return summary
