"""The ONNX Runtime backend on real tiny bundles: real sessions, real model files, no mocks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from edge.bundle.loader import load_bundle
from edge.bundle.manifest import BundleError
from edge.engines.base import Engine, EngineOutput, TensorSpec
from edge.engines.onnxruntime_engine import OnnxRuntimeEngine, check_batch, classes_from_logits, softmax
from edge.engines.select import BackendUnavailableError
from tests.edge.bundle.test_loader import HEIGHT, WIDTH, make_bundle, make_model

HAS_CUDA_PROVIDER = "CUDAExecutionProvider" in ort.get_available_providers()


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("ort") / "slag")


@pytest.fixture(scope="module")
def engine(bundle_dir: Path) -> OnnxRuntimeEngine:
    return OnnxRuntimeEngine(bundle_dir, intra_threads=1)


def _batch(n: int, seed: int = 0, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-2.0, 2.0, size=(n, 3, height, width)).astype(np.float32)


def _direct_logits(model: Path, batch: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"image": batch})
    return logits


def _set_postprocess(folder: Path, postprocess: dict[str, object]) -> None:
    path = folder / "manifest.json"
    data = json.loads(path.read_text())
    data["postprocess"] = postprocess
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("n", [1, 3])
def test_the_class_map_is_the_argmax_of_a_direct_session(
    engine: OnnxRuntimeEngine, bundle_dir: Path, n: int
) -> None:
    batch = _batch(n, seed=n)
    logits = _direct_logits(bundle_dir / "model.onnx", batch)
    output = engine.infer(batch)
    assert isinstance(output, EngineOutput)
    assert output.classes.dtype == np.uint8
    assert output.classes.shape == (n, HEIGHT, WIDTH)
    assert output.probabilities is None
    np.testing.assert_array_equal(output.classes, np.argmax(logits, axis=1))
    assert set(np.unique(output.classes)) == {0, 1, 2}  # the random model uses every class
    np.testing.assert_allclose(engine.infer_logits(batch), logits, rtol=1e-5, atol=1e-5)


def test_probabilities_are_the_softmax_of_the_logits(engine: OnnxRuntimeEngine, bundle_dir: Path) -> None:
    batch = _batch(2, seed=5)
    logits = _direct_logits(bundle_dir / "model.onnx", batch).astype(np.float64)
    output = engine.infer(batch, probabilities=True)
    probs = output.probabilities
    assert probs is not None
    assert probs.dtype == np.float32
    assert probs.shape == (2, 3, HEIGHT, WIDTH)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    np.testing.assert_array_equal(np.argmax(probs, axis=1), output.classes)


def test_softmax_is_stable_for_huge_logits() -> None:
    logits = np.array([[[[1000.0]], [[0.0]], [[-1000.0]]]], np.float32)  # [1, 3, 1, 1]
    probs = softmax(logits)
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs[0, :, 0, 0], [1.0, 0.0, 0.0])


@pytest.mark.parametrize(("precision", "agreement"), [("fp16", 0.98), ("int8", 0.9)])
def test_fp16_and_int8_models_agree_with_fp32(
    engine: OnnxRuntimeEngine, bundle_dir: Path, precision: str, agreement: float
) -> None:
    batch = _batch(2, seed=11)
    reference = engine.infer(batch).classes
    with OnnxRuntimeEngine(bundle_dir, precision=precision, intra_threads=1) as low:
        assert low.precision == precision
        assert low.model_path.name == f"model.{precision}.onnx"
        assert precision in low.description
        assert f"model.{precision}.onnx" in low.description
        classes = low.infer(batch).classes
    assert classes.shape == reference.shape
    assert float(np.mean(classes == reference)) >= agreement


def test_session_options_follow_the_config(bundle_dir: Path) -> None:
    with OnnxRuntimeEngine(bundle_dir, intra_threads=1) as one:
        options = one.session_options
        assert options.intra_op_num_threads == 1
        assert options.inter_op_num_threads == 1
        assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
        assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        assert options.enable_mem_pattern
        assert one.providers == ("CPUExecutionProvider",)
        assert "intra-op threads 1" in one.description
    with OnnxRuntimeEngine(bundle_dir) as default:
        assert default.session_options.intra_op_num_threads == 0  # ONNX Runtime's own default
        assert "intra-op threads default" in default.description
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="intra_threads must be a positive integer"):
            OnnxRuntimeEngine(bundle_dir, intra_threads=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="inter_threads must be a positive integer"):
        OnnxRuntimeEngine(bundle_dir, inter_threads=0)


def test_it_is_an_engine_with_specs(engine: OnnxRuntimeEngine) -> None:
    assert isinstance(engine, Engine)
    assert engine.backend == "onnxruntime"
    assert engine.input_spec == TensorSpec("image", ("batch", 3, "height", "width"), "float32")
    assert engine.output_spec == TensorSpec("logits", ("batch", 3, "height", "width"), "float32")
    assert engine.expected_shape == "[N,3,H,W]"
    assert engine.description.startswith(f"onnxruntime {ort.__version__} CPU")
    assert "fp32, model.onnx of slag-mnv2 1.2.0" in engine.description


def test_a_loaded_bundle_is_accepted(bundle_dir: Path) -> None:
    bundle = load_bundle(bundle_dir, precision="fp16")
    with OnnxRuntimeEngine(bundle, precision="fp16", intra_threads=1) as from_bundle:
        assert from_bundle.bundle is bundle
        assert from_bundle.infer(_batch(1)).classes.shape == (1, HEIGHT, WIDTH)


@pytest.mark.parametrize(
    ("batch", "expected"),
    [
        (np.zeros((1, 1, HEIGHT, WIDTH), np.float32), r"has 1 channels .*\[N,3,H,W\]"),
        (np.zeros((3, HEIGHT, WIDTH), np.float32), r"shape \[3, 64, 96\] \(3-D\).*\[N,3,H,W\]"),
        (np.zeros((1, HEIGHT, WIDTH, 3), np.float32), r"has 64 channels"),
        (np.zeros((0, 3, HEIGHT, WIDTH), np.float32), r"the batch is empty"),
        (
            np.zeros((1, 3, HEIGHT, WIDTH), np.uint8),
            r"dtype uint8; expected a float32 array of shape \[N,3,H,W\]",
        ),
        (np.zeros((1, 3, HEIGHT, WIDTH), np.float64), r"dtype float64"),
        ([[[[0.0]]]], r"must be a numpy array; got list"),
    ],
)
def test_a_bad_batch_is_refused_naming_the_expected_shape(
    engine: OnnxRuntimeEngine, batch: object, expected: str
) -> None:
    with pytest.raises(ValueError, match=expected):
        engine.infer(batch)  # type: ignore[arg-type]


def test_a_float16_batch_is_converted(engine: OnnxRuntimeEngine) -> None:
    batch = _batch(1, seed=3).astype(np.float16)
    np.testing.assert_array_equal(engine.infer(batch).classes, engine.infer(batch.astype(np.float32)).classes)
    strided = np.asfortranarray(_batch(1, seed=4))  # not C-contiguous: copied, same answer
    np.testing.assert_array_equal(
        engine.infer(strided).classes, engine.infer(np.ascontiguousarray(strided)).classes
    )


def test_any_size_runs_on_a_dynamic_graph(engine: OnnxRuntimeEngine) -> None:
    assert engine.infer(_batch(1, height=40, width=24)).classes.shape == (1, 40, 24)


def test_a_static_graph_takes_only_its_size_and_batch(tmp_path: Path) -> None:
    folder = make_bundle(tmp_path / "static", precisions=("fp32",), size=(HEIGHT, WIDTH), batch=1)
    with OnnxRuntimeEngine(folder, intra_threads=1) as static:
        assert static.expected_shape == "[1,3,64,96]"
        assert static.infer(_batch(1)).classes.shape == (1, HEIGHT, WIDTH)
        with pytest.raises(
            ValueError, match=r"height is fixed at 64; expected a float32 array of shape \[1,3,64,96\]"
        ):
            static.infer(_batch(1, height=32, width=32))
        with pytest.raises(ValueError, match=r"batch size is fixed at 1.*\[1,3,64,96\]"):
            static.infer(_batch(2))
        static.warmup(1)


def test_a_missing_bundle_or_model_is_the_loaders_error(tmp_path: Path, bundle_dir: Path) -> None:
    with pytest.raises(BundleError, match="model bundle folder does not exist"):
        OnnxRuntimeEngine(tmp_path / "nowhere")
    partial = make_bundle(tmp_path / "partial", precisions=("fp32",))
    with pytest.raises(BundleError, match=r"has no int8 model \(it ships fp32\)"):
        OnnxRuntimeEngine(partial, precision="int8")
    with pytest.raises(BundleError, match="unknown precision 'fp64'"):
        OnnxRuntimeEngine(bundle_dir, precision="fp64")


def test_a_damaged_model_is_refused_unless_hashes_are_skipped(tmp_path: Path) -> None:
    folder = make_bundle(tmp_path / "b", precisions=("fp32",))
    path = folder / "model.onnx"
    size = path.stat().st_size
    make_model(path, seed=7)  # same structure and size, other weights
    assert path.stat().st_size == size
    with pytest.raises(BundleError, match="sha256 mismatch"):
        OnnxRuntimeEngine(folder)
    with OnnxRuntimeEngine(folder, verify_hashes=False, intra_threads=1) as unchecked:
        assert unchecked.infer(_batch(1)).classes.shape == (1, HEIGHT, WIDTH)


@pytest.mark.skipif(HAS_CUDA_PROVIDER, reason="this onnxruntime has the CUDA provider")
def test_device_cuda_without_the_cuda_provider_is_a_clear_error(bundle_dir: Path) -> None:
    with pytest.raises(BackendUnavailableError) as info:
        OnnxRuntimeEngine(bundle_dir, device="cuda")
    message = str(info.value)
    assert "CUDAExecutionProvider" in message
    assert "CPUExecutionProvider" in message  # what it has
    assert "onnxruntime-gpu" in message
    assert isinstance(info.value, ValueError)


def test_an_unknown_device_is_refused(bundle_dir: Path) -> None:
    with pytest.raises(ValueError, match="unknown ONNX Runtime device 'gpu'; choose one of cpu, cuda"):
        OnnxRuntimeEngine(bundle_dir, device="gpu")


def test_the_threshold_postprocess_of_a_two_class_bundle(tmp_path: Path) -> None:
    folder = make_bundle(tmp_path / "weld", precisions=("fp32",), classes=2)
    _set_postprocess(folder, {"kind": "threshold", "threshold": 0.6})
    batch = _batch(2, seed=21)
    logits = _direct_logits(folder / "model.onnx", batch).astype(np.float64)
    p1 = 1.0 / (1.0 + np.exp(logits[:, 0] - logits[:, 1]))
    with OnnxRuntimeEngine(folder, intra_threads=1) as weld:
        assert weld.postprocess.kind == "threshold"
        output = weld.infer(batch, probabilities=True)
        plain = weld.infer(batch)
    assert output.probabilities is not None
    np.testing.assert_allclose(output.probabilities[:, 1], p1, atol=1e-5)
    decided = np.abs(p1 - 0.6) > 1e-4  # away from the rounding boundary
    np.testing.assert_array_equal(output.classes[decided], (p1 >= 0.6)[decided])
    np.testing.assert_array_equal(plain.classes, output.classes)
    argmax = np.argmax(logits, axis=1)
    assert np.any((argmax == 1) & (output.classes == 0))  # 0.5 < p1 < 0.6: argmax says 1, threshold 0
    assert np.any(output.classes == 1)


def test_a_threshold_on_three_classes_is_refused(tmp_path: Path) -> None:
    folder = make_bundle(tmp_path / "b", precisions=("fp32",), classes=3)
    _set_postprocess(folder, {"kind": "threshold", "threshold": 0.5})
    with pytest.raises(BundleError, match=r"'threshold' needs a two-class model.*lists 3 classes"):
        OnnxRuntimeEngine(folder)


def test_classes_from_logits_and_check_batch_directly() -> None:
    from edge.bundle.manifest import PostprocessSpec

    logits = np.array([[[[0.0, 2.0]], [[1.0, 1.0]]]], np.float32)  # [1, 2, 1, 2]
    np.testing.assert_array_equal(classes_from_logits(logits, PostprocessSpec("argmax")), [[[1, 0]]])
    np.testing.assert_array_equal(classes_from_logits(logits, PostprocessSpec("threshold", 0.6)), [[[1, 0]]])
    np.testing.assert_array_equal(classes_from_logits(logits, PostprocessSpec("threshold", 0.8)), [[[0, 0]]])
    ok = check_batch(np.zeros((2, 3, 4, 5), np.float32), (None, 3, 4, None), max_batch=2)
    assert ok.flags.c_contiguous
    with pytest.raises(
        ValueError, match=r"3 images .* more than the engine takes; .*\[N,3,4,W\] with N <= 2"
    ):
        check_batch(np.zeros((3, 3, 4, 5), np.float32), (None, 3, 4, None), max_batch=2)


def test_warmup_close_and_use_after_close(bundle_dir: Path) -> None:
    closing = OnnxRuntimeEngine(bundle_dir, intra_threads=1)
    closing.warmup(2)
    assert not closing.closed
    closing.close()
    closing.close()  # twice is fine
    assert closing.closed
    with pytest.raises(RuntimeError, match="is closed"):
        closing.infer(_batch(1))
