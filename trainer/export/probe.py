"""Prove that an exported graph loads and runs in ONNX Runtime before it joins a bundle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

PROBE_SIZE = 64


def probe_logits(path: str | Path) -> np.ndarray:
    """Run one zero image (batch 1, dynamic sides ``PROBE_SIZE``) through the graph on the CPU.

    Returns the first output; any ONNX Runtime error propagates for the caller to
    report in its own terms.
    """
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    first = session.get_inputs()[0]
    shape = [
        dim if isinstance(dim, int) else (1 if axis == 0 else PROBE_SIZE)
        for axis, dim in enumerate(first.shape)
    ]
    return session.run(None, {first.name: np.zeros(shape, np.float32)})[0]
