"""The three-thread pipeline on real sources, a real ONNX Runtime engine and real files."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.bundle.loader import load_bundle
from edge.engines.onnxruntime_engine import OnnxRuntimeEngine
from edge.frame import Frame
from edge.pipeline import FrameQueue, Pipeline, Result, cpu_inference_step
from edge.preprocess import PreprocessSpec
from edge.quality import QualityConfig
from edge.sources import open_source
from tests.edge.bundle.test_loader import make_bundle


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory):
    return load_bundle(make_bundle(tmp_path_factory.mktemp("b") / "bundle", precisions=("fp32",)))


def _spec(bundle, roi=None) -> PreprocessSpec:
    return PreprocessSpec.from_input_spec(bundle.manifest.input, roi=roi)


def _factory(bundle, spec: PreprocessSpec, delay_s: float = 0.0, probabilities: bool = False):
    """The real ONNX Runtime engine; ``delay_s`` makes it as slow as a big model on a small CPU."""

    def factory():
        engine = OnnxRuntimeEngine(bundle, "fp32", intra_threads=1)
        step = cpu_inference_step(engine, spec, probabilities)

        def slow_step(frame: Frame):
            output = step(frame)
            time.sleep(delay_s)
            return output

        return (slow_step if delay_s else step), engine

    return factory


class Collect:
    def __init__(self) -> None:
        self.results: list[Result] = []

    def __call__(self, result: Result) -> None:
        self.results.append(result)


def _write_frames(folder: Path, count: int, size=(90, 120)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        cv2.imwrite(str(folder / f"f{i:03d}.png"), rng.integers(0, 255, (*size, 3), np.uint8))


def test_every_frame_of_a_file_source_comes_out_in_order_with_its_mask(bundle, tmp_path: Path) -> None:
    spec = _spec(bundle)
    collect = Collect()
    source = open_source("synthetic://slag?seed=3&count=6", width=128, height=128)
    summary = Pipeline(source, _factory(bundle, spec), spec, post=[collect], quality=QualityConfig()).run()
    assert summary.reason == "end of source" and summary.error is None
    assert summary.frames == 6 and summary.dropped == 0
    assert [r.frame.seq for r in collect.results] == list(range(6))
    direct = OnnxRuntimeEngine(bundle, "fp32")
    for result in collect.results:
        assert result.net_classes.shape == (spec.height, spec.width)
        assert result.classes.shape == (128, 128)
        assert result.frame.quality is not None and result.frame.truth is not None
        batch = np.empty((1, 3, spec.height, spec.width), np.float32)
        from edge.preprocess import preprocess_cpu

        preprocess_cpu(result.frame.image, spec, out=batch[0])
        assert np.array_equal(direct.infer(batch).classes[0], result.net_classes)
    latency = summary.metrics["latency_ms"]
    assert set(latency) >= {"preprocess", "infer", "post", "end_to_end", "queue_wait", "capture"}
    assert latency["end_to_end"]["p99_ms"] >= latency["infer"]["p50_ms"] > 0


def test_a_roi_maps_the_mask_back_into_the_frame(bundle) -> None:
    spec = _spec(bundle, roi=(10, 20, 64, 48))
    collect = Collect()
    source = open_source("synthetic://weld?seed=1&count=2", width=100, height=80)
    Pipeline(source, _factory(bundle, spec), spec, post=[collect]).run()
    classes = collect.results[0].classes
    assert classes.shape == (80, 100)
    outside = np.ones_like(classes, bool)
    outside[20:68, 10:74] = False
    assert (classes[outside] == 255).all() and (classes[~outside] < 3).all()


def test_a_corrupt_frame_in_a_folder_is_reported_and_the_rest_processed(bundle, tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    _write_frames(folder, 5)
    (folder / "f002.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    spec = _spec(bundle)
    collect = Collect()
    summary = Pipeline(open_source(f"dir://{folder}"), _factory(bundle, spec), spec, post=[collect]).run()
    assert summary.frames == 4 and summary.error is None
    skipped = summary.source_stats.skipped
    assert [Path(s.name).name for s in skipped] == ["f002.png"]


def test_a_live_source_drops_the_oldest_frames_when_the_engine_is_busy(bundle, tmp_path: Path) -> None:
    folder = tmp_path / "hot"
    _write_frames(folder, 12)
    spec = _spec(bundle)
    collect = Collect()
    source = open_source(f"dir://{folder}?live=1")
    assert source.live
    pipeline = Pipeline(
        source, _factory(bundle, spec, delay_s=0.1), spec, post=[collect], capture_queue=2, max_frames=12
    )
    summary = pipeline.run()
    assert summary.dropped > 0
    assert summary.frames + summary.dropped == 12
    seqs = [r.frame.seq for r in collect.results]
    assert seqs == sorted(seqs) and seqs[-1] == 11  # the newest frame is never the one dropped


def test_a_file_source_blocks_instead_of_dropping(bundle, tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    _write_frames(folder, 8)
    spec = _spec(bundle)
    source = open_source(f"dir://{folder}")
    summary = Pipeline(source, _factory(bundle, spec, delay_s=0.05), spec, capture_queue=1).run()
    assert summary.frames == 8 and summary.dropped == 0


def test_a_vanishing_live_source_is_reopened_and_the_gap_reported(bundle, tmp_path: Path) -> None:
    folder = tmp_path / "cam"
    _write_frames(folder, 3)
    spec = _spec(bundle)
    collect = Collect()
    source = open_source(f"dir://{folder}?live=1")
    # Blocking, so a slow engine on a loaded machine cannot drop one of the three new frames:
    # this test is about the reopen, not the drop policy.
    pipeline = Pipeline(source, _factory(bundle, spec), spec, post=[collect], max_frames=6, drop_oldest=False)

    def unplug_and_replug() -> None:
        while len(collect.results) < 3:
            time.sleep(0.02)
        hidden = tmp_path / "unplugged"
        folder.rename(hidden)
        time.sleep(1.0)
        hidden.rename(folder)
        _write_frames(tmp_path / "new", 3)
        for i, path in enumerate(sorted((tmp_path / "new").iterdir())):
            path.rename(folder / f"g{i:03d}.png")

    helper = threading.Thread(target=unplug_and_replug)
    helper.start()
    summary = pipeline.run()
    helper.join()
    assert summary.frames == 6 and summary.error is None
    assert [r.frame.seq for r in collect.results] == list(range(6))
    stats = summary.source_stats
    assert stats.reopens >= 1 and len(stats.gaps) >= 1
    assert stats.gaps[0].length_s >= 0.5


def test_stop_drains_the_queued_frames(bundle) -> None:
    spec = _spec(bundle)
    collect = Collect()
    pipeline = Pipeline(
        open_source("synthetic://slag?seed=2", width=96, height=96),
        _factory(bundle, spec),
        spec,
        post=[collect],
    )
    threading.Timer(1.0, pipeline.stop).start()
    summary = pipeline.run()
    assert summary.reason == "stopped" and summary.frames >= 1
    assert [r.frame.seq for r in collect.results] == list(range(summary.frames))


def test_a_failing_post_handler_is_counted_and_the_camera_goes_on(bundle) -> None:
    spec = _spec(bundle)
    collect = Collect()

    def broken(result: Result) -> None:
        raise ZeroDivisionError("measurement bug")

    source = open_source("synthetic://slag?seed=4&count=3", width=96, height=96)
    summary = Pipeline(source, _factory(bundle, spec), spec, post=[broken, collect]).run()
    assert summary.frames == 3 and len(collect.results) == 3
    assert summary.metrics["counters"]["post_errors"] == 3


def test_an_engine_that_cannot_open_ends_the_run_with_its_error(bundle) -> None:
    spec = _spec(bundle)

    def factory():
        raise ValueError("bundle exploded")

    source = open_source("synthetic://slag?seed=4", width=96, height=96)
    summary = Pipeline(source, factory, spec).run()
    assert summary.frames == 0 and isinstance(summary.error, ValueError)
    assert "engine failed: bundle exploded" in summary.reason


def test_the_quality_gate_verdict_travels_with_the_frame(bundle, tmp_path: Path) -> None:
    folder = tmp_path / "dark"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((64, 64, 3), 3, np.uint8))
    spec = _spec(bundle)
    collect = Collect()
    summary = Pipeline(
        open_source(f"dir://{folder}"), _factory(bundle, spec), spec, post=[collect], quality=QualityConfig()
    ).run()
    verdict = collect.results[0].frame.quality
    assert not verdict.ok and "too dark" in verdict.reasons[0]
    assert summary.metrics["counters"]["quality_failed"] == 1


def test_rate_cap_paces_a_file_source(bundle) -> None:
    spec = _spec(bundle)
    source = open_source("synthetic://slag?seed=5&count=4", width=64, height=64)
    start = time.monotonic()
    summary = Pipeline(source, _factory(bundle, spec), spec, rate_hz=5.0).run()
    assert summary.frames == 4 and time.monotonic() - start >= 0.55


def test_frame_queue_drops_the_oldest_or_blocks() -> None:
    dropping = FrameQueue(2, drop_oldest=True)
    assert dropping.put(1) is None and dropping.put(2) is None
    assert dropping.put(3) == 1 and [dropping.get(), dropping.get()] == [2, 3]
    with pytest.raises(TimeoutError):
        dropping.get(timeout=0.01)
    blocking = FrameQueue(1, drop_oldest=False)
    blocking.put("a")
    done = threading.Event()
    threading.Thread(target=lambda: (blocking.put("b"), done.set())).start()
    assert not done.wait(0.1)
    assert blocking.get() == "a" and done.wait(1.0) and blocking.get() == "b"
    with pytest.raises(ValueError, match="maxsize must be >= 1"):
        FrameQueue(0, drop_oldest=True)
