"""Pipeline efficiency, per-stage latency and memory of the camera runtime on ONNX Runtime (JSON).

Three ways to push the same 1080p video through the same model, measured in alternating rounds
in one run so their ratios hold on a noisy machine:

``raw``
    the backend alone on frames decoded and preprocessed beforehand (the model's own speed);
``pipeline``
    :class:`edge.pipeline.Pipeline` on the ``file://`` source: decode, quality gate, preprocess,
    infer and the post stage (mask back to 1080p) on three threads;
``naive``
    the same work in one thread: read, preprocess, infer, post, one frame after another.

``efficiency = pipeline fps / raw fps`` (the issue asks >= 0.90) and ``pipeline / naive``.
Then, unless ``--rss-frames 0``, one long pipeline run at ``--rss-size`` records the RSS after
1,000 frames and after ``--rss-frames`` frames (a leak shows as growth).

    python benchmarks/pipeline_efficiency.py bundles/slag_synthetic --size 512x512 --frames 40
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from edge.bundle.loader import load_bundle
from edge.engines.onnxruntime_engine import OnnxRuntimeEngine
from edge.metrics import PipelineMetrics, rss_bytes
from edge.pipeline import Pipeline, Result, cpu_inference_step
from edge.preprocess import PreprocessSpec, preprocess_cpu, restore_mask
from edge.quality import QualityConfig, assess_quality
from edge.sources import open_source
from edge.synth import render_slag


def _size(text: str) -> tuple[int, int]:
    height, _, width = text.lower().partition("x")
    return int(height), int(width)


def write_video(path: Path, count: int, size: tuple[int, int]) -> Path:
    """Render ``count`` synthetic furnace scenes at ``size`` (HxW) into an MP4 (kept for reuse)."""
    if path.is_file():
        capture = cv2.VideoCapture(str(path))
        ok = (
            capture.get(cv2.CAP_PROP_FRAME_COUNT) >= count
            and int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)) == size[1]
        )
        capture.release()
        if ok:
            return path
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 25.0, (size[1], size[0]))
    for index in range(count):
        writer.write(cv2.cvtColor(render_slag(7, index, size=size).image, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def make_factory(bundle, spec: PreprocessSpec, threads: int | None):
    def factory():
        engine = OnnxRuntimeEngine(bundle, "fp32", intra_threads=threads)
        engine.warmup(2)
        return cpu_inference_step(engine, spec), engine

    return factory


def restore(result: Result) -> None:
    """The post stage's share of work in every mode: the class map back in 1080p coordinates."""
    _ = result.classes


def run_raw(engine: OnnxRuntimeEngine, inputs: list[np.ndarray]) -> float:
    start = time.perf_counter()
    for batch in inputs:
        engine.infer(batch)
    return len(inputs) / (time.perf_counter() - start)


def run_pipeline(
    bundle, spec, video: Path, frames: int, threads, metrics=None, post=()
) -> tuple[float, dict]:
    source = open_source(f"file://{video}", loop=True)
    pipeline = Pipeline(
        source,
        make_factory(bundle, spec, threads),
        spec,
        post=[restore, *post],
        quality=QualityConfig(),
        max_frames=frames,
        metrics=metrics,
    )
    summary = pipeline.run()
    if summary.error is not None:
        raise summary.error
    # Steady-state throughput, first to last finished frame (engine load and warm-up excluded,
    # as they are from the raw figure).
    return summary.fps, summary.metrics


def run_naive(engine: OnnxRuntimeEngine, spec: PreprocessSpec, video: Path, frames: int) -> float:
    capture = cv2.VideoCapture(str(video))
    batch = np.empty((1, 3, spec.height, spec.width), np.float32)
    quality = QualityConfig()
    start = time.perf_counter()
    for _ in range(frames):
        ok, image = capture.read()
        if not ok:
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = capture.read()
        assess_quality(image, quality)
        preprocess_cpu(image, spec, out=batch[0])
        classes = engine.infer(batch).classes[0]
        restore_mask(classes, spec, image.shape[:2])
    elapsed = time.perf_counter() - start
    capture.release()
    return frames / elapsed


def rss_run(bundle, video: Path, size: tuple[int, int], frames: int, threads) -> dict:
    spec = PreprocessSpec.from_input_spec(bundle.manifest.input, height=size[0], width=size[1])
    marks: dict[int, int] = {}

    def sample(result: Result) -> None:
        done = result.frame.seq + 1
        if done in (1000, frames) or done % 2000 == 0:
            marks[done] = rss_bytes()

    metrics = PipelineMetrics()
    start = time.perf_counter()
    run_pipeline(bundle, spec, video, frames, threads, metrics, post=[sample])
    at_1k, at_end = marks.get(1000), marks.get(frames)
    return {
        "input_size": list(size),
        "frames": frames,
        "seconds": round(time.perf_counter() - start, 1),
        "rss_mib": {str(k): round(v / 2**20, 1) for k, v in sorted(marks.items())},
        "growth_1k_to_end": round(at_end / at_1k - 1, 4) if at_1k and at_end else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("bundle", type=Path, help="model bundle folder")
    parser.add_argument("--size", type=_size, default=(512, 512), help="network input HxW (512x512)")
    parser.add_argument("--video-size", type=_size, default=(1080, 1920), help="source video HxW (1080x1920)")
    parser.add_argument("--frames", type=int, default=40, help="frames per timed run (40)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of the three modes (2)")
    parser.add_argument(
        "--threads", type=int, default=None, help="ONNX Runtime intra-op threads (default: all)"
    )
    parser.add_argument("--rss-frames", type=int, default=10_000, help="frames of the memory run (0: skip)")
    parser.add_argument("--rss-size", type=_size, default=(128, 128), help="input size of the memory run")
    parser.add_argument("--work", type=Path, default=Path("reports/bench"), help="where the video is kept")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()

    bundle = load_bundle(args.bundle)
    spec = PreprocessSpec.from_input_spec(bundle.manifest.input, height=args.size[0], width=args.size[1])
    video = write_video(args.work / f"slag_{args.video_size[0]}p.mp4", 24, args.video_size)

    capture = cv2.VideoCapture(str(video))
    inputs = []
    while len(inputs) < args.frames:
        ok, image = capture.read()
        if not ok:
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            continue
        batch = np.empty((1, 3, spec.height, spec.width), np.float32)
        preprocess_cpu(image, spec, out=batch[0])
        inputs.append(batch)
    capture.release()

    engine = OnnxRuntimeEngine(bundle, "fp32", intra_threads=args.threads)
    engine.warmup(2)
    fps: dict[str, list[float]] = {"raw": [], "pipeline": [], "naive": []}
    latency = None
    for _ in range(args.rounds):
        fps["raw"].append(run_raw(engine, inputs))
        value, metrics = run_pipeline(bundle, spec, video, args.frames, args.threads)
        fps["pipeline"].append(value)
        latency = metrics["latency_ms"]
        fps["naive"].append(run_naive(engine, spec, video, args.frames))
    engine.close()
    medians = {mode: statistics.median(values) for mode, values in fps.items()}
    result = {
        "benchmark": "pipeline_efficiency",
        "bundle": bundle.name,
        "input_size": list(args.size),
        "video_size": list(args.video_size),
        "frames_per_run": args.frames,
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "onnxruntime": ort.__version__,
        "fps": {mode: [round(v, 3) for v in values] for mode, values in fps.items()},
        "fps_median": {mode: round(v, 3) for mode, v in medians.items()},
        "efficiency_pipeline_over_raw": round(medians["pipeline"] / medians["raw"], 3),
        "speedup_pipeline_over_naive": round(medians["pipeline"] / medians["naive"], 3),
        "pipeline_latency_ms_last_round": latency,
    }
    if args.rss_frames:
        result["memory"] = rss_run(bundle, video, args.rss_size, args.rss_frames, args.threads)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
