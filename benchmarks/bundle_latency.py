"""ONNX Runtime CPU latency of bundles' FP32, FP16 and INT8 models, side by side, with file sizes.

All sessions of all bundles given are timed in alternating runs on the same random frame, so the
ratios hold even on a noisy machine. Each model's ``fp32_over_this`` compares it with its own
bundle's FP32; ``first_fp32_over_this`` with the first bundle's FP32 (e.g. the paper-size slag
network against the compact demo network). Each bundle runs at its manifest's input size, so
bundles of different input sizes compare as the camera would run them; ``--size`` gives one
size for all (graphs with dynamic height and width only). Prints JSON.

    python benchmarks/bundle_latency.py bundles/slag --size 512x512 --repeats 10
    python benchmarks/bundle_latency.py bundles/slag_synthetic_512 bundles/demo_slag --repeats 20
    python benchmarks/bundle_latency.py bundles/demo_slag bundles/slag_compact_768 --repeats 20
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
from edge.bundle.manifest import BundleError
from trainer.cli import parse_size


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("bundles", type=Path, nargs="+", help="model bundle folders")
    parser.add_argument(
        "--size", type=parse_size, default=None, help="input HxW for every bundle (default: each manifest's)"
    )
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per model (10)")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: default)")
    args = parser.parse_args()
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    bundles = [load_bundle(path) for path in args.bundles]
    names = [bundle.dir.name for bundle in bundles]
    if len(set(names)) != len(names):
        parser.error(f"bundle folder names must differ, got {names}")
    sessions = {
        (bundle.dir.name, precision): ort.InferenceSession(
            str(bundle.model_path(precision)), options, providers=["CPUExecutionProvider"]
        )
        for bundle in bundles
        for precision in bundle.precisions
    }
    sizes = {
        bundle.dir.name: args.size or (bundle.manifest.input.height, bundle.manifest.input.width)
        for bundle in bundles
    }
    for bundle in bundles:
        try:
            bundle.check_input_size(*sizes[bundle.dir.name])
        except BundleError as error:
            parser.error(str(error))
    rng = np.random.default_rng(0)
    frames = {name: rng.standard_normal((1, 3, *size)).astype(np.float32) for name, size in sizes.items()}
    for (name, _), session in sessions.items():
        session.run(None, {"image": frames[name]})  # warm-up
    times: dict[tuple[str, str], list[float]] = {key: [] for key in sessions}
    for _ in range(args.repeats):
        for key, session in sessions.items():
            start = time.perf_counter()
            session.run(None, {"image": frames[key[0]]})
            times[key].append((time.perf_counter() - start) * 1e3)
    medians = {key: statistics.median(values) for key, values in times.items()}
    first_fp32 = medians[(names[0], "fp32")]
    result = {
        "benchmark": "bundle_latency",
        "cpus": os.cpu_count(),
        "onnxruntime": ort.__version__,
        "repeats": args.repeats,
        "bundles": {
            bundle.dir.name: {
                "name": bundle.name,
                "input_size": list(sizes[bundle.dir.name]),
                "models": {
                    precision: {
                        "file": bundle.model_path(precision).name,
                        "size_mib": round(bundle.model_path(precision).stat().st_size / 2**20, 2),
                        "median_ms": round(medians[(bundle.dir.name, precision)], 1),
                        "fp32_over_this": round(
                            medians[(bundle.dir.name, "fp32")] / medians[(bundle.dir.name, precision)], 2
                        ),
                        "first_fp32_over_this": round(first_fp32 / medians[(bundle.dir.name, precision)], 2),
                    }
                    for precision in bundle.precisions
                },
            }
            for bundle in bundles
        },
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
