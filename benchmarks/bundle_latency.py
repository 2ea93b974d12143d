"""ONNX Runtime CPU latency of a bundle's FP32, FP16 and INT8 models, side by side, with file sizes.

The three sessions are timed in alternating runs on the same random frame, so
the ratios hold even on a noisy machine. Prints JSON.

    python benchmarks/bundle_latency.py bundles/slag --size 512x512 --repeats 10
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge.bundle.loader import load_bundle
from trainer.cli import parse_size


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("bundle", type=Path, help="model bundle folder")
    parser.add_argument("--size", type=parse_size, default=(512, 512), help="input HxW (512x512)")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per model (10)")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: default)")
    args = parser.parse_args()
    bundle = load_bundle(args.bundle)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    sessions = {
        precision: ort.InferenceSession(
            str(bundle.model_path(precision)), options, providers=["CPUExecutionProvider"]
        )
        for precision in bundle.precisions
    }
    frame = np.random.default_rng(0).standard_normal((1, 3, *args.size)).astype(np.float32)
    for session in sessions.values():
        session.run(None, {"image": frame})  # warm-up
    times: dict[str, list[float]] = {precision: [] for precision in sessions}
    for _ in range(args.repeats):
        for precision, session in sessions.items():
            start = time.perf_counter()
            session.run(None, {"image": frame})
            times[precision].append((time.perf_counter() - start) * 1e3)
    medians = {precision: statistics.median(values) for precision, values in times.items()}
    result = {
        "benchmark": "bundle_latency",
        "bundle": bundle.name,
        "input_size": list(args.size),
        "cpus": os.cpu_count(),
        "onnxruntime": ort.__version__,
        "repeats": args.repeats,
        "models": {
            precision: {
                "file": bundle.model_path(precision).name,
                "size_mib": round(bundle.model_path(precision).stat().st_size / 2**20, 2),
                "median_ms": round(medians[precision], 1),
                "fp32_over_this": round(medians["fp32"] / medians[precision], 2),
            }
            for precision in sessions
        },
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
