"""The fused CUDA kernel without a GPU: its tap tables, its source, and its arithmetic run on the CPU.

The tables are checked against ``cv2.resize`` bit for bit. The kernel source is compiled by nvcc
where the CUDA toolkit exists, and compiled by g++ with a few lines of CUDA stand-ins and run
thread by thread on the CPU, so the kernel's own arithmetic is compared with the CPU path on
machines without a GPU (the GPU run is in ``test_cuda.py``).
"""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.preprocess import CudaPreprocessor, PreprocessSpec, UndistortMaps, preprocess_cpu
from edge.preprocess.cuda import KERNEL_ARG_TYPES, KERNEL_NAME, KERNEL_RESOURCE, kernel_source
from edge.preprocess.tables import WEIGHT_ONE, linear_taps, nearest_taps, resize_tables
from tests.edge.preprocess.helpers import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    camera,
    emulate_kernel,
    kernel_reference,
    opencv_remap_is_float,
    random_frame,
)

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[3]

# (frame height, frame width, roi, output height, output width)
SIZES = [
    (1080, 1920, None, 512, 512),
    (1080, 1920, (300, 120, 1200, 800), 384, 640),
    (721, 1283, (13, 7, 1001, 555), 257, 333),
    (480, 640, None, 480, 640),
    (480, 640, (100, 50, 256, 256), 512, 512),
    (37, 53, (1, 2, 50, 33), 16, 24),
    (600, 800, None, 300, 400),
    (5, 7, None, 3, 2),
    (1, 1, None, 4, 4),
]


# ---------------------------------------------------------------------------- tap tables


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[1]}x{s[0]}-roi{s[2]}-{s[4]}x{s[3]}")
def test_the_tables_reproduce_cv2_resize_bit_for_bit(size: tuple) -> None:
    frame_h, frame_w, roi, height, width = size
    frame = random_frame(frame_h, frame_w, seed=frame_w)
    roi = roi or (0, 0, frame_w, frame_h)
    x, y, w, h = roi
    for mode, flag in (("bilinear", cv2.INTER_LINEAR), ("nearest", cv2.INTER_NEAREST_EXACT)):
        xtab, ytab = resize_tables(roi, height, width, mode)
        assert xtab.shape == (width, 4)
        assert ytab.shape == (height, 4)
        assert xtab.dtype == ytab.dtype == np.int32
        assert xtab.flags.c_contiguous
        expected = cv2.resize(frame[y : y + h, x : x + w], (width, height), interpolation=flag)
        assert np.array_equal(emulate_kernel(frame, xtab, ytab), expected), mode


def test_random_sizes_reproduce_cv2_resize() -> None:
    rng = np.random.default_rng(1)
    for _ in range(60):
        src_h, src_w, height, width = (int(v) for v in rng.integers(1, 200, 4))
        frame = random_frame(src_h, src_w, seed=int(rng.integers(1000)))
        xtab, ytab = resize_tables((0, 0, src_w, src_h), height, width)
        expected = cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)
        assert np.array_equal(emulate_kernel(frame, xtab, ytab), expected), (src_h, src_w, height, width)


def test_tap_tables_stay_inside_the_source() -> None:
    for src, dst in ((1920, 512), (53, 200), (1, 7), (7, 1)):
        for axis in ("x", "y"):
            taps = linear_taps(src, dst, axis)
            assert taps[:, :2].min() >= 0
            assert taps[:, :2].max() <= src - 1
            assert np.all(np.abs(taps[:, 2] + taps[:, 3] - WEIGHT_ONE) <= 1)
        near = nearest_taps(src, dst)
        assert np.array_equal(near[:, 0], near[:, 1])
        assert set(near[:, 2]) == {WEIGHT_ONE}
    with pytest.raises(ValueError, match="no tap table"):
        resize_tables((0, 0, 4, 4), 2, 2, "area")


def test_undistorted_tables_reproduce_remap_then_resize() -> None:
    if not opencv_remap_is_float():
        pytest.skip(
            f"OpenCV {cv2.__version__} remaps in fixed point; the kernel follows OpenCV 5's float remap"
        )
    for frame_h, frame_w, roi, k1 in ((1080, 1920, (300, 120, 1200, 800), -0.28), (240, 320, None, 0.25)):
        maps = camera(frame_h, frame_w, k1)
        frame = random_frame(frame_h, frame_w, seed=4)
        x, y, w, h = roi or (0, 0, frame_w, frame_h)
        xtab, ytab = resize_tables((x, y, w, h), 256, 320)
        undistorted = cv2.remap(
            frame, maps.map_x, maps.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )
        expected = cv2.resize(undistorted[y : y + h, x : x + w], (320, 256), interpolation=cv2.INTER_LINEAR)
        assert np.array_equal(emulate_kernel(frame, xtab, ytab, maps), expected)


# ---------------------------------------------------------------------------- the source


def test_the_kernel_ships_as_package_data() -> None:
    resource = resources.files("edge.preprocess").joinpath(KERNEL_RESOURCE)
    assert resource.is_file()
    assert kernel_source() == resource.read_text(encoding="utf-8")
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "kernels/*.cu" in data["tool"]["setuptools"]["package-data"]["edge.preprocess"]


def test_the_kernel_signature_matches_the_launch() -> None:
    code = re.sub(r"/\*.*?\*/", "", kernel_source(), flags=re.DOTALL)
    match = re.search(rf'extern "C" __global__ void {KERNEL_NAME}\(([^)]*)\)', code)
    assert match is not None
    params = [p.strip() for p in match.group(1).split(",")]
    assert len(params) == len(KERNEL_ARG_TYPES)
    for param, char in zip(params, KERNEL_ARG_TYPES, strict=True):
        assert ("*" in param) == (char == "P"), param
        if char != "P":
            assert param.split()[0] == {"i": "int", "f": "float"}[char], param


@pytest.mark.parametrize("half", [0, 1])
@pytest.mark.parametrize("undistort", [0, 1])
def test_nvcc_compiles_every_variant(tmp_path: Path, half: int, undistort: int) -> None:
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc (the CUDA toolkit) is not on the PATH")
    source = tmp_path / "preprocess.cu"
    source.write_text(kernel_source(), encoding="utf-8")
    ptx = tmp_path / "preprocess.ptx"
    done = subprocess.run(
        [nvcc, "--ptx", f"-DSS_OUT_HALF={half}", f"-DSS_UNDISTORT={undistort}", "-o", str(ptx), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    match = re.search(rf"\.visible \.entry {KERNEL_NAME}\(([^)]*)\)", ptx.read_text())
    assert match is not None
    params = re.findall(r"\.param (\.\w+) ", match.group(1))
    ptx_types = {"P": ".u64", "i": ".u32", "f": ".f32"}
    assert params == [ptx_types[char] for char in KERNEL_ARG_TYPES]


# ---------------------------------------------------------------------------- the kernel run on the CPU

_SHIM = """
#pragma once
#include <math.h>
#include <algorithm>
#include <cstddef>
#define __global__
#define __device__
#define __forceinline__ inline
struct int4 { int x, y, z, w; };
struct uint3 { unsigned x, y, z; };
static uint3 blockIdx, threadIdx, blockDim;
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline int __float2int_rn(float v) { return (int)nearbyintf(v); }
struct __half { _Float16 v; };
static inline __half __float2half_rn(float f) { __half h; h.v = (_Float16)f; return h; }
using std::max;
using std::min;
"""

_HARNESS = """
#include "shim.h"
#include "preprocess.cu"
extern "C" void run(const unsigned char* src, int src_w, int src_h, const int* xtab, const int* ytab,
                    const float* map_x, const float* map_y, void* dst, int out_w, int out_h,
                    const float* mean, const float* stdv, int swap_rb) {
    blockDim = {32, 8, 1};
    for (unsigned by = 0; by < (unsigned)(out_h + 7) / 8; ++by)
        for (unsigned bx = 0; bx < (unsigned)(out_w + 31) / 32; ++bx)
            for (unsigned ty = 0; ty < 8; ++ty)
                for (unsigned tx = 0; tx < 32; ++tx) {
                    blockIdx = {bx, by, 0};
                    threadIdx = {tx, ty, 0};
                    steelsight_preprocess(src, src_w, src_h, (const int4*)xtab, (const int4*)ytab, map_x,
                                          map_y, (ss_out_t*)dst, out_w, out_h, mean[0], mean[1], mean[2],
                                          stdv[0], stdv[1], stdv[2], swap_rb);
                }
}
"""


@pytest.fixture(scope="module")
def cpu_kernels(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[int, int], Any]:
    """The kernel source compiled by g++ for the CPU, per (half output, undistortion)."""
    compiler = shutil.which("g++")
    if compiler is None:
        pytest.skip("g++ is not installed, so the kernel cannot be run on the CPU")
    folder = tmp_path_factory.mktemp("kernel")
    (folder / "shim.h").write_text(_SHIM, encoding="utf-8")
    (folder / "cuda_fp16.h").write_text("#pragma once\n", encoding="utf-8")
    (folder / "preprocess.cu").write_text(kernel_source(), encoding="utf-8")
    (folder / "harness.cpp").write_text(_HARNESS, encoding="utf-8")
    kernels = {}
    for half in (0, 1):
        for undistort in (0, 1):
            library = folder / f"kernel{half}{undistort}.so"
            command = [compiler, "-O2", "-std=c++17", "-ffp-contract=off", "-shared", "-fPIC"]
            command += [f"-DSS_OUT_HALF={half}", f"-DSS_UNDISTORT={undistort}", f"-I{folder}"]
            command += [str(folder / "harness.cpp"), "-o", str(library)]
            done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
            if done.returncode != 0 and "_Float16" in done.stderr:
                pytest.skip(f"this g++ has no _Float16: {done.stderr[:200]}")
            assert done.returncode == 0, done.stderr
            kernels[(half, undistort)] = ctypes.CDLL(str(library))
    return kernels


def _run_on_cpu(
    kernels: dict[tuple[int, int], Any], frame: np.ndarray, spec: PreprocessSpec, maps: UndistortMaps | None
) -> np.ndarray:
    roi = spec.roi_in(*frame.shape[:2])
    xtab, ytab = resize_tables(roi, spec.height, spec.width, spec.resize)
    out = np.full(spec.shape, np.nan, dtype=spec.dtype)
    mean = np.asarray(spec.mean, np.float32)
    std = np.asarray(spec.std, np.float32)
    frame = np.ascontiguousarray(frame)
    keep = [frame, xtab, ytab, out, mean, std]
    if maps is not None:
        keep += [maps.map_x, maps.map_y]

    def ptr(array: np.ndarray | None) -> ctypes.c_void_p:
        return ctypes.c_void_p(0 if array is None else array.ctypes.data)

    kernels[(int(spec.dtype == "float16"), int(maps is not None))].run(
        ptr(frame),
        frame.shape[1],
        frame.shape[0],
        ptr(xtab),
        ptr(ytab),
        ptr(None if maps is None else maps.map_x),
        ptr(None if maps is None else maps.map_y),
        ptr(out),
        spec.width,
        spec.height,
        ptr(mean),
        ptr(std),
        int(spec.color == "RGB"),
    )
    del keep
    return out


@pytest.mark.parametrize("size", SIZES[1:8], ids=lambda s: f"{s[1]}x{s[0]}-{s[4]}x{s[3]}")
@pytest.mark.parametrize(("color", "dtype"), [("RGB", "float32"), ("BGR", "float16")])
def test_the_kernel_run_on_the_cpu_equals_the_cpu_path(
    cpu_kernels: dict, size: tuple, color: str, dtype: str
) -> None:
    frame_h, frame_w, roi, height, width = size
    spec = PreprocessSpec(height, width, IMAGENET_MEAN, IMAGENET_STD, color, roi=roi, dtype=dtype)
    frame = random_frame(frame_h, frame_w, seed=21)
    result = _run_on_cpu(cpu_kernels, frame, spec, None)
    assert np.array_equal(result, preprocess_cpu(frame, spec))


@pytest.mark.parametrize(
    ("frame_h", "frame_w", "roi", "k1", "dtype", "resize"),
    [
        (1080, 1920, (300, 120, 1200, 800), -0.28, "float32", "bilinear"),
        (721, 1283, None, 0.25, "float16", "bilinear"),
        (240, 320, (10, 20, 200, 150), 0.25, "float32", "nearest"),
    ],
)
def test_the_kernel_run_on_the_cpu_undistorts_like_the_cpu_path(
    cpu_kernels: dict, frame_h: int, frame_w: int, roi: tuple | None, k1: float, dtype: str, resize: str
) -> None:
    maps = camera(frame_h, frame_w, k1)
    spec = PreprocessSpec(256, 320, IMAGENET_MEAN, IMAGENET_STD, resize=resize, roi=roi, dtype=dtype)
    frame = random_frame(frame_h, frame_w, seed=22)
    result = _run_on_cpu(cpu_kernels, frame, spec, maps)
    assert np.array_equal(result, kernel_reference(frame, spec, maps))


# ---------------------------------------------------------------------------- checks before the GPU


def test_the_cuda_preprocessor_checks_its_arguments_before_opening_the_gpu() -> None:
    spec = PreprocessSpec(64, 64, IMAGENET_MEAN, IMAGENET_STD, resize="area")
    with pytest.raises(ValueError, match=r"resize 'area' has no CUDA kernel.*preprocess_cpu"):
        CudaPreprocessor(spec, 480, 640)
    spec = PreprocessSpec(64, 64, IMAGENET_MEAN, IMAGENET_STD, roi=(600, 0, 100, 100))
    with pytest.raises(ValueError, match=r"roi \(x=600, y=0, w=100, h=100\).*outside the 640x480 frame"):
        CudaPreprocessor(spec, 480, 640)
    spec = PreprocessSpec(64, 64, IMAGENET_MEAN, IMAGENET_STD)
    with pytest.raises(ValueError, match="frame_width must be a positive integer"):
        CudaPreprocessor(spec, 480, 0)
    with pytest.raises(ValueError, match=r"maps are for 160x120 frames but this preprocessor gets 640x480"):
        CudaPreprocessor(spec, 480, 640, undistort=camera(120, 160))


def test_without_pycuda_the_cuda_preprocessor_says_what_is_missing() -> None:
    try:
        import pycuda.driver  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("pycuda is installed here")
    from edge.preprocess import GpuPreprocessError

    spec = PreprocessSpec(64, 64, IMAGENET_MEAN, IMAGENET_STD)
    with pytest.raises(GpuPreprocessError, match=r"needs pycuda.*steelsight\[jetson\]"):
        CudaPreprocessor(spec, 480, 640)
