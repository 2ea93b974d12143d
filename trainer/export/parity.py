"""Compare a network's PyTorch output with its ONNX Runtime output."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from trainer.export.onnx_graph import INPUT_NAME


@dataclass(frozen=True)
class ParityReport:
    """Agreement of two implementations over a set of inputs.

    Attributes
    ----------
    max_abs_diff
        Largest absolute logit difference over all inputs.
    argmax_agreement
        Fraction of pixels whose predicted class is the same.
    images
        How many inputs were compared.
    """

    max_abs_diff: float
    argmax_agreement: float
    images: int


def parity(model: nn.Module, onnx_path: str | Path, images: list[np.ndarray]) -> ParityReport:
    """Run ``model`` (eval mode) and the ONNX graph at ``onnx_path`` on the same inputs.

    Parameters
    ----------
    model
        The PyTorch network the graph was exported from.
    onnx_path
        The exported graph, run with ONNX Runtime's CPU provider.
    images
        Normalized inputs, each ``[N, 3, H, W]`` float32; sizes may differ.
    """
    if not images:
        raise ValueError("parity needs at least one input array of shape [N, 3, H, W]")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    was_training = model.training
    model.eval()
    worst, agree, total = 0.0, 0, 0
    try:
        for batch in images:
            if batch.ndim != 4 or batch.shape[1] != 3:
                raise ValueError(f"parity inputs must be [N, 3, H, W], got shape {batch.shape}")
            with torch.no_grad():
                expected = model(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))).numpy()
            actual = session.run(None, {INPUT_NAME: batch.astype(np.float32)})[0]
            if actual.shape != expected.shape:
                raise ValueError(f"ONNX output shape {actual.shape} differs from PyTorch {expected.shape}")
            worst = max(worst, float(np.abs(actual - expected).max()))
            agree += int((actual.argmax(1) == expected.argmax(1)).sum())
            total += expected.shape[0] * expected.shape[2] * expected.shape[3]
    finally:
        model.train(was_training)
    return ParityReport(worst, agree / total, len(images))
