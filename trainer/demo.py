"""A short end-to-end smoke run: build, export, and run each shipped network.

Until the trainer ships trained bundles this runs untrained (seeded) weights,
so the class maps are meaningless; what it shows is that every network builds,
exports to ONNX opset 17, runs in ONNX Runtime at the camera's input size and
agrees with PyTorch, and how long each takes on this machine.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from trainer.export import export_onnx, parity
from trainer.models import build_model, complexity

log = logging.getLogger(__name__)

DEMO_NETWORKS = ("slag_mnv2_dlv3p_ema", "shdm_mnv2")


@dataclass(frozen=True)
class DemoResult:
    """What the demo measured for one network."""

    arch: str
    params: int
    onnx_path: Path
    max_abs_diff: float
    argmax_agreement: float
    torch_ms: float
    onnxruntime_ms: float


def _median_ms(run, repeats: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times))


def demo(out_dir: str | Path, size: tuple[int, int] = (512, 512), repeats: int = 3) -> list[DemoResult]:
    """Export each demo network to ``out_dir`` and compare PyTorch with ONNX Runtime.

    Parameters
    ----------
    out_dir
        Folder for the ``<arch>.onnx`` files (created).
    size
        ``(height, width)`` of the test frame.
    repeats
        Timed runs per backend (after one warm-up run); the median is reported.
    """
    import onnxruntime as ort

    out_dir = Path(out_dir)
    rng = np.random.default_rng(0)
    frame = rng.standard_normal((1, 3, *size)).astype(np.float32)
    results = []
    for arch in DEMO_NETWORKS:
        torch.manual_seed(0)
        model = build_model(arch).eval()
        onnx_path = out_dir / f"{arch}.onnx"
        export_onnx(model, onnx_path)
        report = parity(model, onnx_path, [frame])
        session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        tensor = torch.from_numpy(frame)
        with torch.no_grad():
            torch_ms = _median_ms(lambda model=model, tensor=tensor: model(tensor), repeats)
        ort_ms = _median_ms(lambda session=session: session.run(None, {"image": frame}), repeats)
        results.append(
            DemoResult(
                arch,
                complexity(model, None).params,
                onnx_path,
                report.max_abs_diff,
                report.argmax_agreement,
                torch_ms,
                ort_ms,
            )
        )
        log.info("demo: %s done", arch)
    return results
