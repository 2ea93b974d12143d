"""Backend selection on this machine: real ONNX Runtime sessions on tiny real bundles."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from edge.bundle.manifest import BundleError
from edge.engines.onnxruntime_engine import OnnxRuntimeEngine
from edge.engines.select import (
    BackendUnavailableError,
    choose_backend,
    onnxruntime_cuda_problem,
    open_engine,
    tensorrt_problem,
)
from tests.edge.bundle.test_loader import HEIGHT, WIDTH, make_bundle

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None
HAS_CUDA_PROVIDER = "CUDAExecutionProvider" in ort.get_available_providers()
no_tensorrt = pytest.mark.skipif(
    HAS_TENSORRT, reason="TensorRT is installed here, so the missing-TensorRT path cannot run"
)
no_cuda_provider = pytest.mark.skipif(HAS_CUDA_PROVIDER, reason="this onnxruntime has the CUDA provider")


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("select") / "slag")


@no_tensorrt
def test_tensorrt_problem_names_the_missing_package() -> None:
    assert tensorrt_problem() == ("tensorrt is not installed", None)


@no_cuda_provider
def test_onnxruntime_cuda_problem_lists_the_providers() -> None:
    problem = onnxruntime_cuda_problem()
    assert problem is not None
    assert problem.startswith("onnxruntime has no CUDAExecutionProvider (it has ")
    assert "CPUExecutionProvider" in problem


@no_tensorrt
@no_cuda_provider
def test_auto_picks_onnxruntime_on_the_cpu_and_says_why(
    bundle_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert choose_backend()[:2] == ("onnxruntime", "cpu")
    with caplog.at_level(logging.INFO, logger="edge.engines.select"):
        engine, reason = open_engine(bundle_dir, "fp32", intra_threads=1)
    try:
        assert isinstance(engine, OnnxRuntimeEngine)
        assert engine.backend == "onnxruntime"
        assert engine.device == "cpu"
        assert reason.startswith("backend onnxruntime (CPU): tensorrt is not installed; ")
        assert "onnxruntime has no CUDAExecutionProvider" in reason
        assert reason in [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
        assert engine.session_options.intra_op_num_threads == 1
        assert engine.infer(_zeros()).classes.shape == (1, HEIGHT, WIDTH)
    finally:
        engine.close()


@no_tensorrt
def test_explicit_tensorrt_without_it_names_what_is_missing(bundle_dir: Path) -> None:
    for call in (lambda: choose_backend("tensorrt"), lambda: open_engine(bundle_dir, "fp16", "tensorrt")):
        with pytest.raises(BackendUnavailableError) as info:
            call()
        message = str(info.value)
        assert "backend 'tensorrt' was requested, but tensorrt is not installed" in message
        assert "JetPack 6" in message
        assert "pip install 'steelsight[jetson]'" in message
        assert 'backend = "onnxruntime"' in message
        assert isinstance(info.value, ValueError)  # reported like a bad config value
    assert not (bundle_dir / "engines").exists()


def test_explicit_onnxruntime_and_the_precision_pass_through(bundle_dir: Path) -> None:
    engine, reason = open_engine(bundle_dir, "int8", "onnxruntime", device="cpu", intra_threads=1)
    try:
        assert isinstance(engine, OnnxRuntimeEngine)
        assert engine.model_path.name == "model.int8.onnx"
        assert reason == "backend onnxruntime (CPU): backend onnxruntime configured"
    finally:
        engine.close()
    assert choose_backend("auto", "cpu") == (
        "onnxruntime",
        "cpu",
        "backend onnxruntime (CPU): device cpu configured",
    )


@pytest.mark.parametrize(
    ("backend", "device", "expected"),
    [
        ("tensorflow", "auto", "unknown backend 'tensorflow'; choose one of auto, tensorrt, onnxruntime"),
        ("auto", "gpu", "unknown device 'gpu'; choose one of auto, cpu, cuda"),
        ("tensorrt", "cpu", "backend 'tensorrt' runs on the GPU"),
    ],
)
def test_bad_names_are_value_errors_listing_the_choices(
    bundle_dir: Path, backend: str, device: str, expected: str
) -> None:
    with pytest.raises(ValueError, match=expected) as info:
        open_engine(bundle_dir, "fp32", backend, device=device)
    assert not isinstance(info.value, BackendUnavailableError)


@no_cuda_provider
def test_device_cuda_without_the_provider_is_an_error(bundle_dir: Path) -> None:
    with pytest.raises(
        BackendUnavailableError, match=r"device 'cuda' was requested .* no CUDAExecutionProvider"
    ):
        open_engine(bundle_dir, "fp32", "onnxruntime", device="cuda")


def test_the_bundle_errors_come_through(tmp_path: Path, bundle_dir: Path) -> None:
    with pytest.raises(BundleError, match="model bundle folder does not exist"):
        open_engine(tmp_path / "nowhere", "fp32", "onnxruntime", device="cpu")
    static = make_bundle(tmp_path / "static", precisions=("fp32",), size=(HEIGHT, WIDTH), batch=1)
    with pytest.raises(BundleError, match=r"static input size 64x96 \(HxW\), but 128x96 was requested"):
        open_engine(static, "fp32", "onnxruntime", device="cpu", height=128)
    engine, _ = open_engine(static, "fp32", "onnxruntime", device="cpu", height=HEIGHT, width=WIDTH)
    engine.close()


def _zeros() -> np.ndarray:
    return np.zeros((1, 3, HEIGHT, WIDTH), np.float32)
