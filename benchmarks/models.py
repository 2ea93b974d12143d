"""Size and CPU speed of every registered network: PyTorch vs ONNX Runtime side by side.

Prints one JSON document: machine facts, then per network its true parameter
count, the FP32 MB figure, MACs at the input size, and the median latency of
PyTorch (eager, no grad) and of ONNX Runtime (CPU provider, the exported
opset-17 graph) measured in alternating runs, with their ratio.

    python benchmarks/models.py                      # all networks at 512x512
    python benchmarks/models.py --arch slag_mnv2_dlv3p_ema --repeats 20 --out slag.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from tqdm import tqdm

from trainer.cli import parse_size
from trainer.export import export_onnx
from trainer.models import REGISTRY, build_model, complexity


def _time_ms(run) -> float:
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) * 1e3


def benchmark(arch: str, size: tuple[int, int], repeats: int, workdir: Path) -> dict[str, object]:
    torch.manual_seed(0)
    model = build_model(arch).eval()
    figures = complexity(model, size)
    onnx_path = workdir / f"{arch}.onnx"
    export_onnx(model, onnx_path)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    frame = np.random.default_rng(0).standard_normal((1, 3, *size)).astype(np.float32)
    tensor = torch.from_numpy(frame)

    def run_torch() -> None:
        with torch.no_grad():
            model(tensor)

    def run_ort() -> None:
        session.run(None, {"image": frame})

    run_torch(), run_ort()  # warm-up
    torch_ms, ort_ms = [], []
    for _ in range(repeats):  # alternate so both see the same machine state
        torch_ms.append(_time_ms(run_torch))
        ort_ms.append(_time_ms(run_ort))
    torch_median, ort_median = statistics.median(torch_ms), statistics.median(ort_ms)
    return {
        "arch": arch,
        "params": figures.params,
        "train_params": figures.train_params,
        "params_mb_fp32": round(figures.megabytes, 2),
        "gmacs": round(figures.macs / 1e9, 2) if figures.macs is not None else None,
        "input_size": list(size),
        "torch_cpu_ms_median": round(torch_median, 1),
        "onnxruntime_cpu_ms_median": round(ort_median, 1),
        "torch_over_onnxruntime": round(torch_median / ort_median, 2),
        "repeats": repeats,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", action="append", choices=list(REGISTRY), help="only this network")
    parser.add_argument("--size", type=parse_size, default=(512, 512), help="input HxW (512x512)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per backend (5)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    results = {
        "benchmark": "models",
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "onnxruntime": ort.__version__,
        },
        "networks": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for arch in tqdm(args.arch or list(REGISTRY), desc="networks", file=sys.stderr):
            results["networks"].append(benchmark(arch, args.size, args.repeats, Path(tmp)))
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
