"""The demo exports real graphs and ONNX Runtime agrees with PyTorch on them."""

from __future__ import annotations

from pathlib import Path

import onnx

from trainer.demo import DEMO_NETWORKS, demo


def test_demo_exports_and_agrees(tmp_path: Path) -> None:
    results = demo(tmp_path, size=(96, 128), repeats=1)
    assert [r.arch for r in results] == list(DEMO_NETWORKS)
    for result in results:
        onnx.checker.check_model(onnx.load(result.onnx_path))
        assert result.max_abs_diff < 1e-4
        assert result.argmax_agreement > 0.999
        assert result.torch_ms > 0 and result.onnxruntime_ms > 0
