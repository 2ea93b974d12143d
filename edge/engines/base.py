"""The inference backend protocol: what the pipeline needs from ONNX Runtime and TensorRT alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Engine", "EngineOutput", "TensorSpec"]


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape and element type of one engine input or output.

    ``shape`` holds ints for fixed dimensions and ``None`` (or the symbol name) for dynamic ones.
    ``dtype`` is a numpy dtype name, e.g. ``"float32"``.
    """

    name: str
    shape: tuple[int | str | None, ...]
    dtype: str


@dataclass(frozen=True)
class EngineOutput:
    """What one inference call returns for a batch of ``N`` images of ``H x W``.

    Attributes
    ----------
    classes
        ``[N, H, W]`` uint8 class map (argmax over classes).
    probabilities
        ``[N, C, H, W]`` float32 softmax probabilities when they were asked for, else ``None``
        (backends that fold the argmax into the GPU copy only bring them back on request).
    """

    classes: np.ndarray
    probabilities: np.ndarray | None = None


@runtime_checkable
class Engine(Protocol):
    """An inference backend loaded from a model bundle.

    Implementations: :class:`edge.engines.onnxruntime_engine.OnnxRuntimeEngine` and
    :class:`edge.engines.tensorrt_engine.TensorRTEngine`. All calls of one engine are made from
    one thread (the pipeline's inference thread).
    """

    backend: str
    """``"onnxruntime"`` or ``"tensorrt"``."""
    description: str
    """One line for the log: backend, provider or GPU, precision, model file."""
    input_spec: TensorSpec
    output_spec: TensorSpec

    def infer(self, batch: np.ndarray, probabilities: bool = False) -> EngineOutput:
        """Run ``batch`` (``[N, 3, H, W]``, the input dtype) and return its class map.

        Raises ``ValueError`` naming the expected shape when ``batch`` does not fit the engine.
        """
        ...

    def infer_logits(self, batch: np.ndarray) -> np.ndarray:
        """Run ``batch`` and return the raw logits ``[N, C, H, W]`` as float32."""
        ...

    def warmup(self, iterations: int = 3) -> None:
        """Run ``iterations`` inferences on zeros so the first real frame is not slow."""
        ...

    def close(self) -> None:
        """Release the session or engine, its buffers and its CUDA stream."""
        ...
