"""The fused CUDA preprocessing on a real GPU against the CPU path (skipped without pycuda or a GPU)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from edge.preprocess import CudaPreprocessor, PreprocessSpec, preprocess_cpu
from tests.edge.preprocess.helpers import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    camera,
    kernel_reference,
    random_frame,
)

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cuda() -> Iterator[Any]:
    """``pycuda.driver`` with the primary context current, or skip with the reason."""
    pytest.importorskip("pycuda.driver", reason="pycuda is not installed (pip install 'steelsight[jetson]')")
    try:
        import pycuda.autoprimaryctx  # noqa: F401
    except Exception as exc:  # no driver or no GPU
        pytest.skip(f"pycuda cannot open a CUDA GPU: {exc}")
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc is not on the PATH, so pycuda cannot compile the kernel")
    from pycuda import driver

    yield driver


# (frame height, frame width, roi, output height, output width)
SIZES = [
    (1080, 1920, None, 512, 512),
    (1080, 1920, (300, 120, 1200, 800), 384, 640),
    (721, 1283, (13, 7, 1001, 555), 257, 333),
    (37, 53, (1, 2, 50, 33), 16, 24),
    (480, 640, None, 480, 640),
]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[1]}x{s[0]}-roi{s[2]}-{s[4]}x{s[3]}")
@pytest.mark.parametrize(("color", "dtype"), [("RGB", "float32"), ("BGR", "float32"), ("RGB", "float16")])
def test_gpu_matches_the_cpu_path(cuda: Any, size: tuple, color: str, dtype: str) -> None:
    frame_h, frame_w, roi, height, width = size
    spec = PreprocessSpec(height, width, IMAGENET_MEAN, IMAGENET_STD, color, roi=roi, dtype=dtype)
    with CudaPreprocessor(spec, frame_h, frame_w) as gpu:
        for seed in (1, 2):  # a second frame through the same buffers
            frame = random_frame(frame_h, frame_w, seed=seed)
            gpu(frame)
            result = gpu.download()
            expected = preprocess_cpu(frame, spec)
            assert result.shape == spec.shape
            assert result.dtype == np.dtype(dtype)
            assert np.abs(result.astype(np.float32) - expected.astype(np.float32)).max() <= 1e-3
            assert np.array_equal(result, expected)  # by design the same numbers


@pytest.mark.parametrize(
    ("frame_h", "frame_w", "roi", "k1", "dtype", "resize"),
    [
        (1080, 1920, None, -0.28, "float32", "bilinear"),
        (1080, 1920, (300, 120, 1200, 800), -0.28, "float16", "bilinear"),
        (721, 1283, (13, 7, 1001, 555), 0.25, "float32", "bilinear"),
        (240, 320, (10, 20, 200, 150), 0.25, "float16", "nearest"),
    ],
)
def test_gpu_undistortion_matches_the_cpu_path(
    cuda: Any, frame_h: int, frame_w: int, roi: tuple | None, k1: float, dtype: str, resize: str
) -> None:
    maps = camera(frame_h, frame_w, k1)
    spec = PreprocessSpec(256, 320, IMAGENET_MEAN, IMAGENET_STD, resize=resize, roi=roi, dtype=dtype)
    frame = random_frame(frame_h, frame_w, seed=5)
    with CudaPreprocessor(spec, frame_h, frame_w, undistort=maps) as gpu:
        gpu(frame)
        result = gpu.download()
    expected = kernel_reference(frame, spec, maps)
    assert np.abs(result.astype(np.float32) - expected.astype(np.float32)).max() <= 1e-3


def test_gpu_writes_into_a_given_device_buffer_on_a_given_stream(cuda: Any) -> None:
    spec = PreprocessSpec(96, 128, IMAGENET_MEAN, IMAGENET_STD, roi=(20, 10, 400, 300))
    stream = cuda.Stream()
    batch = cuda.mem_alloc(2 * 3 * 96 * 128 * 4)  # an engine input of batch 2
    try:
        with CudaPreprocessor(spec, 480, 640, stream=stream) as gpu:
            assert gpu.stream is stream
            frames = [random_frame(480, 640, seed=s) for s in (7, 8)]
            for index, frame in enumerate(frames):
                gpu(frame, dest_ptr=int(batch) + index * 3 * 96 * 128 * 4)
            stream.synchronize()
            host = np.empty((2, 3, 96, 128), np.float32)
            cuda.memcpy_dtoh(host, batch)
            for index, frame in enumerate(frames):
                assert np.array_equal(host[index], preprocess_cpu(frame, spec))
            assert np.array_equal(gpu.download(), host[1])  # download reads the last destination
    finally:
        batch.free()


def test_the_staging_buffer_skips_the_host_copy(cuda: Any) -> None:
    spec = PreprocessSpec(64, 64, IMAGENET_MEAN, IMAGENET_STD)
    frame = random_frame(120, 160, seed=9)
    with CudaPreprocessor(spec, 120, 160) as gpu:
        staging = gpu.staging_buffer()
        staging[...] = frame
        gpu(staging)
        assert np.array_equal(gpu.download(), preprocess_cpu(frame, spec))


def test_gpu_refuses_other_sizes_other_threads_and_use_after_close(cuda: Any) -> None:
    spec = PreprocessSpec(64, 64, IMAGENET_MEAN, IMAGENET_STD)
    gpu = CudaPreprocessor(spec, 120, 160)
    with pytest.raises(ValueError, match=r"made for 160x120 frames, got 161x120"):
        gpu(random_frame(120, 161))
    with pytest.raises(ValueError, match=r"uint8 array of shape \(H, W, 3\)"):
        gpu(np.zeros((120, 160, 3), np.float32))
    errors: list[BaseException] = []

    def other_thread() -> None:
        try:
            gpu(random_frame(120, 160))
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    assert len(errors) == 1
    assert isinstance(errors[0], RuntimeError)
    assert "created on thread" in str(errors[0])
    gpu.close()
    gpu.close()  # twice is fine
    assert gpu.closed
    with pytest.raises(RuntimeError, match="closed"):
        gpu(random_frame(120, 160))
