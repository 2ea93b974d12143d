"""The TensorRT backend: its shipped CUDA kernel everywhere; real engines where TensorRT and a GPU exist.

The GPU tests build real engines from the tiny real bundles and compare their class maps with ONNX
Runtime's; they skip with the reason on machines without TensorRT, pycuda or a CUDA GPU.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import threading
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.bundle.manifest import BundleError
from edge.engines.base import Engine, TensorSpec
from edge.engines.onnxruntime_engine import OnnxRuntimeEngine, softmax
from edge.engines.select import BackendUnavailableError
from edge.engines.tensorrt_engine import (
    KERNEL_ARG_TYPES,
    KERNEL_NAMES,
    KERNEL_RESOURCE,
    TensorRTEngine,
    kernel_name,
    kernel_source,
)
from tests.edge.bundle.test_loader import HEIGHT, WIDTH, make_bundle
from tests.edge.engines.test_onnxruntime_engine import _set_postprocess

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None
ROOT = Path(__file__).resolve().parents[3]


def _batch(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-2.0, 2.0, size=(n, 3, HEIGHT, WIDTH)).astype(np.float32)


# ---------------------------------------------------------------------------- the kernel source (no GPU)


def test_the_kernel_ships_as_package_data() -> None:
    resource = resources.files("edge.engines").joinpath(KERNEL_RESOURCE)
    assert resource.is_file()
    assert kernel_source() == resource.read_text(encoding="utf-8")
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "kernels/*.cu" in data["tool"]["setuptools"]["package-data"]["edge.engines"]


def test_the_kernel_source_declares_every_kernel_the_engine_launches() -> None:
    source = kernel_source()
    assert "#include <cuda_fp16.h>" in source
    code = re.sub(r"//[^\n]*", "", source)  # comments may hold anything
    for pair in ("{}", "()", "[]"):
        assert code.count(pair[0]) == code.count(pair[1]), f"unbalanced {pair}"
    extern_c = code[code.index('extern "C"') :]
    for (kind, dtype), name in KERNEL_NAMES.items():
        match = re.search(rf"__global__ void {name}\(([^)]*)\)", extern_c)
        assert match is not None, f'{name} is not an extern "C" __global__ kernel'
        params = [p.strip() for p in match.group(1).split(",")]
        types = KERNEL_ARG_TYPES[kind]
        assert len(params) == len(types), f"{name}: {params} vs prepare({types!r})"
        element = "float" if dtype == "float32" else "__half"
        assert params[0] == f"const {element}* logits"
        assert params[1] == "unsigned char* classes"
        for param, code_char in zip(params[2:], types[2:], strict=True):
            assert param.split()[0] == {"i": "int", "f": "float"}[code_char], (name, param)


def test_nvcc_compiles_the_kernels_with_the_launch_signatures(tmp_path: Path) -> None:
    """Compile to PTX (no GPU needed) and check each entry's parameters against ``prepare``."""
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc (the CUDA toolkit) is not on the PATH")
    source = tmp_path / "argmax.cu"
    source.write_text(kernel_source(), encoding="utf-8")
    ptx = tmp_path / "argmax.ptx"
    done = subprocess.run(
        [nvcc, "--ptx", "-o", str(ptx), str(source)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    text = ptx.read_text()
    ptx_types = {"P": ".u64", "i": ".u32", "f": ".f32"}
    for (kind, _), name in KERNEL_NAMES.items():
        match = re.search(rf"\.visible \.entry {name}\(([^)]*)\)", text)
        assert match is not None, f"{name} is not an entry point of the compiled module"
        params = re.findall(r"\.param (\.\w+) ", match.group(1))
        assert params == [ptx_types[code] for code in KERNEL_ARG_TYPES[kind]], (name, params)


def test_kernel_name() -> None:
    assert kernel_name("argmax", "float32") == "argmax_f32"
    assert kernel_name("threshold", "float16") == "threshold2_f16"
    with pytest.raises(ValueError, match="no GPU post-processing kernel for 'argmax' on int8 logits"):
        kernel_name("argmax", "int8")


# ---------------------------------------------------------------------------- without TensorRT


def test_a_bad_max_batch_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_batch must be a positive integer, got 0"):
        TensorRTEngine(tmp_path, max_batch=0)


@pytest.mark.skipif(
    HAS_TENSORRT, reason="TensorRT is installed here, so the missing-TensorRT path cannot run"
)
def test_without_tensorrt_the_engine_names_what_is_missing(tmp_path: Path) -> None:
    folder = make_bundle(tmp_path / "b", precisions=("fp32",))
    with pytest.raises(BackendUnavailableError) as info:
        TensorRTEngine(folder, "fp16")
    message = str(info.value)
    assert "needs the 'tensorrt' package" in message
    assert "JetPack 6" in message
    assert "pip install 'steelsight[jetson]'" in message
    assert not (folder / "engines").exists()


# ---------------------------------------------------------------------------- on a GPU


def _gpu() -> Any:
    """pycuda's driver with the primary context current, or skip with the reason."""
    pytest.importorskip("pycuda.driver", reason="pycuda is not installed (pip install 'steelsight[jetson]')")
    try:
        import pycuda.autoprimaryctx  # noqa: F401
    except Exception as exc:  # no driver or no GPU
        pytest.skip(f"pycuda cannot open a CUDA GPU: {exc}")
    import pycuda.driver as cuda

    return cuda


def _tensorrt_gpu() -> Any:
    pytest.importorskip(
        "tensorrt", reason="TensorRT is not installed (JetPack 6 or pip install steelsight[jetson])"
    )
    return _gpu()


@pytest.mark.gpu
def test_the_kernels_match_numpy_on_the_gpu() -> None:
    cuda = _gpu()
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc is not on the PATH, so pycuda cannot compile the kernel")
    from pycuda.compiler import SourceModule

    module = SourceModule(kernel_source(), no_extern_c=True)
    rng = np.random.default_rng(3)
    n, height, width = 2, 37, 53
    pixels = height * width
    for dtype in (np.float32, np.float16):
        for kind, classes in (("argmax", 5), ("threshold", 2)):
            logits = rng.normal(0, 2, size=(n, classes, height, width)).astype(dtype)
            d_logits = cuda.to_device(logits)
            d_classes = cuda.mem_alloc(n * pixels)
            function = module.get_function(kernel_name(kind, np.dtype(dtype).name))
            function.prepare(KERNEL_ARG_TYPES[kind])
            args = (n, classes, pixels) if kind == "argmax" else (n, pixels, 0.6)
            # a small grid: the grid-stride loop must still cover every pixel
            function.prepared_call((3, 1), (128, 1, 1), int(d_logits), int(d_classes), *args)
            got = np.empty((n, height, width), np.uint8)
            cuda.memcpy_dtoh(got, d_classes)
            wide = logits.astype(np.float64)
            if kind == "argmax":
                np.testing.assert_array_equal(got, np.argmax(wide, axis=1))
            else:
                p1 = softmax(wide)[:, 1]
                decided = np.abs(p1 - 0.6) > 1e-4
                np.testing.assert_array_equal(got[decided], (p1 >= 0.6)[decided])
            d_logits.free()
            d_classes.free()


@pytest.fixture(scope="module")
def gpu_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _tensorrt_gpu()
    return make_bundle(tmp_path_factory.mktemp("trt") / "slag")


@pytest.fixture(scope="module")
def fp32_engine(gpu_bundle: Path) -> Any:
    engine = TensorRTEngine(gpu_bundle, "fp32", max_batch=2, workspace_mib=256)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def reference(gpu_bundle: Path) -> Any:
    engine = OnnxRuntimeEngine(gpu_bundle, "fp32", intra_threads=1)
    yield engine
    engine.close()


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_the_tensorrt_class_map_matches_onnxruntime(
    fp32_engine: Any, reference: Any, gpu_bundle: Path
) -> None:
    assert isinstance(fp32_engine, Engine)
    assert fp32_engine.backend == "tensorrt"
    assert fp32_engine.engine_path.parent == gpu_bundle / "engines"
    assert fp32_engine.input_spec == TensorSpec("image", (None, 3, HEIGHT, WIDTH), "float32")
    assert fp32_engine.output_spec.shape == (None, 3, HEIGHT, WIDTH)
    assert (fp32_engine.height, fp32_engine.width, fp32_engine.max_batch) == (HEIGHT, WIDTH, 2)
    fp32_engine.warmup(2)
    for n in (1, 2):
        batch = _batch(n, seed=n)
        expected = reference.infer(batch, probabilities=True)
        output = fp32_engine.infer(batch, probabilities=True)
        assert output.classes.dtype == np.uint8
        assert output.classes.shape == (n, HEIGHT, WIDTH)
        assert float(np.mean(output.classes == expected.classes)) >= 0.99  # TF32 may flip near-ties
        assert output.probabilities is not None
        np.testing.assert_allclose(output.probabilities, expected.probabilities, atol=5e-3)
        np.testing.assert_allclose(fp32_engine.infer_logits(batch), reference.infer_logits(batch), atol=2e-2)
        plain = fp32_engine.infer(batch)
        assert plain.probabilities is None
        np.testing.assert_array_equal(plain.classes, output.classes)


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_infer_from_device_runs_what_the_input_buffer_holds(fp32_engine: Any) -> None:
    cuda = _gpu()
    batch = _batch(1, seed=9)
    cuda.memcpy_htod(fp32_engine.input_device_ptr(), batch)
    from_device = fp32_engine.infer_from_device(1)
    np.testing.assert_array_equal(from_device.classes, fp32_engine.infer(batch).classes)
    assert fp32_engine.stream is not None
    with pytest.raises(ValueError, match="n must be an integer from 1 to 2, got 3"):
        fp32_engine.infer_from_device(3)


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_the_engine_refuses_bad_batches_and_other_threads(fp32_engine: Any) -> None:
    with pytest.raises(ValueError, match=r"expected a float32 array of shape \[N,3,64,96\] with N <= 2"):
        fp32_engine.infer(_batch(3))
    with pytest.raises(ValueError, match=r"height is fixed at 64"):
        fp32_engine.infer(np.zeros((1, 3, 32, WIDTH), np.float32))
    errors: list[BaseException] = []

    def elsewhere() -> None:
        try:
            fp32_engine.infer(_batch(1))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert len(errors) == 1
    assert isinstance(errors[0], RuntimeError)
    assert "its CUDA work must stay there" in str(errors[0])


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_an_fp16_engine_agrees_with_fp32(gpu_bundle: Path, reference: Any) -> None:
    batch = _batch(1, seed=4)
    with TensorRTEngine(gpu_bundle, "fp16", workspace_mib=256) as fp16:
        assert "fp16" in fp16.description
        classes = fp16.infer(batch).classes
    assert fp16.closed
    with pytest.raises(RuntimeError, match="is closed"):
        fp16.infer(batch)
    assert float(np.mean(classes == reference.infer(batch).classes)) >= 0.97


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_the_threshold_postprocess_on_the_gpu(tmp_path: Path) -> None:
    _tensorrt_gpu()
    folder = make_bundle(tmp_path / "weld", precisions=("fp32",), classes=2)
    _set_postprocess(folder, {"kind": "threshold", "threshold": 0.6})
    batch = _batch(1, seed=21)
    with OnnxRuntimeEngine(folder, intra_threads=1) as cpu:
        expected = cpu.infer(batch).classes
    with TensorRTEngine(folder, "fp32", workspace_mib=256) as gpu:
        got = gpu.infer(batch).classes
    assert np.any(expected == 1)
    assert float(np.mean(got == expected)) >= 0.99


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_a_threshold_on_three_classes_is_refused_before_building(tmp_path: Path) -> None:
    _tensorrt_gpu()
    folder = make_bundle(tmp_path / "b", precisions=("fp32",))
    _set_postprocess(folder, {"kind": "threshold", "threshold": 0.5})
    with pytest.raises(BundleError, match="needs a two-class model"):
        TensorRTEngine(folder, "fp32")
    assert not (folder / "engines").exists()
