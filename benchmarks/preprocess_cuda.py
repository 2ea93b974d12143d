"""Per-frame time of the fused CUDA preprocessing (kernel only, and with the host-to-device copy) and of
the CPU path on the same 1080p frames. Needs pycuda, nvcc and a CUDA GPU. Prints JSON.

    python benchmarks/preprocess_cuda.py --output 512x512 --frames 8 --repeats 100
    python benchmarks/preprocess_cuda.py --roi 300,120,1200,800 --dtype float16 --undistort

Figures are medians in milliseconds: ``kernel_ms`` (CUDA events around the kernel, frame already on
the GPU), ``h2d_kernel_ms`` (events around the async copy from the page-locked buffer plus the
kernel), ``call_ms`` (wall clock of one ``preprocessor(frame)`` call including the copy into the
page-locked buffer, until the stream is idle) and ``cpu_ms`` (``preprocess_cpu``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

from edge.preprocess import CudaPreprocessor, PreprocessSpec, UndistortMaps, preprocess_cpu

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

log = logging.getLogger("benchmarks.preprocess_cuda")


def _size(text: str) -> tuple[int, int]:
    """``HxW`` -> ``(height, width)``."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW, e.g. 512x512, got {text!r}") from None
    return height, width


def _roi(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected x,y,w,h, e.g. 300,120,1200,800, got {text!r}") from None
    return x, y, w, h


def _frames(count: int, height: int, width: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    return [
        (rng.integers(0, 256, (height, width, 3)).astype(np.float32) * 0.6 + ramp * 0.4).astype(np.uint8)
        for _ in range(count)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frame", type=_size, default=(1080, 1920), help="frame HxW (1080x1920)")
    parser.add_argument("--output", type=_size, default=(512, 512), help="network input HxW (512x512)")
    parser.add_argument("--roi", type=_roi, default=None, help="x,y,w,h in frame pixels (whole frame)")
    parser.add_argument("--dtype", choices=("float32", "float16"), default="float32")
    parser.add_argument("--undistort", action="store_true", help="also undistort (a plausible lens)")
    parser.add_argument("--frames", type=int, default=8, help="distinct frames, cycled (8)")
    parser.add_argument("--repeats", type=int, default=100, help="timed runs per figure (100)")
    parser.add_argument("--cpu-repeats", type=int, default=20, help="timed CPU runs (20)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)

    try:
        import pycuda.autoprimaryctx as primary
        import pycuda.driver as cuda
    except Exception as exc:  # not installed, or no driver / GPU
        log.error("this benchmark needs pycuda and a CUDA GPU: %s", exc)
        return 2

    frame_h, frame_w = args.frame
    height, width = args.output
    spec = PreprocessSpec(height, width, IMAGENET_MEAN, IMAGENET_STD, roi=args.roi, dtype=args.dtype)
    maps = None
    if args.undistort:
        focal = 0.9 * frame_w
        matrix = np.array([[focal, 0, frame_w / 2], [0, focal, frame_h / 2], [0, 0, 1]])
        maps = UndistortMaps.from_calibration(matrix, (-0.28, 0.09, 0.001, -0.0005, -0.01), args.frame)
    frames = _frames(max(1, args.frames), frame_h, frame_w)

    with CudaPreprocessor(spec, frame_h, frame_w, undistort=maps) as gpu:
        start, stop = cuda.Event(), cuda.Event()

        def timed(action: Callable[[], object]) -> float:
            start.record(gpu.stream)
            action()
            stop.record(gpu.stream)
            stop.synchronize()
            return float(stop.time_since(start))

        for frame in frames:  # warm-up: module load, first launches
            gpu(frame)
        gpu.synchronize()
        check = max(
            float(np.abs(_download(gpu, frame) - preprocess_cpu(frame, spec, maps).astype(np.float32)).max())
            for frame in frames[:2]
        )

        kernel_ms = [timed(gpu.launch) for _ in range(args.repeats)]
        staged: list[float] = []
        for i in range(args.repeats):
            np.copyto(gpu.staging_buffer(), frames[i % len(frames)])
            staged.append(timed(lambda: (gpu.upload(gpu.staging), gpu.launch())))
        call_ms = []
        for i in range(args.repeats):
            begin = time.perf_counter()
            gpu(frames[i % len(frames)])
            gpu.synchronize()
            call_ms.append((time.perf_counter() - begin) * 1e3)

    out = np.empty(spec.shape, spec.dtype)
    preprocess_cpu(frames[0], spec, maps, out=out)
    cpu_ms = []
    for i in range(args.cpu_repeats):
        begin = time.perf_counter()
        preprocess_cpu(frames[i % len(frames)], spec, maps, out=out)
        cpu_ms.append((time.perf_counter() - begin) * 1e3)

    result = {
        "benchmark": "preprocess_cuda",
        "device": str(primary.device.name()),
        "cpus": os.cpu_count(),
        "frame": [frame_h, frame_w],
        "output": [height, width],
        "roi": list(args.roi) if args.roi else None,
        "dtype": args.dtype,
        "undistort": bool(args.undistort),
        "repeats": args.repeats,
        "kernel_ms": round(statistics.median(kernel_ms), 4),
        "h2d_kernel_ms": round(statistics.median(staged), 4),
        "call_ms": round(statistics.median(call_ms), 4),
        "cpu_ms": round(statistics.median(cpu_ms), 4),
        "max_abs_diff_vs_cpu": check,
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def _download(gpu: CudaPreprocessor, frame: np.ndarray) -> np.ndarray:
    gpu(frame)
    return gpu.download().astype(np.float32)


if __name__ == "__main__":
    sys.exit(main())
