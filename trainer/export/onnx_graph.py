"""Export a network to an ONNX graph that TensorRT and ONNX Runtime accept.

We use PyTorch's TorchScript-based exporter (``dynamo=False``): with torch 2.13
the dynamo exporter cannot lower these graphs to opset 17 (its version
converter fails on the Resize/ReduceMean axes) and is much slower.
The graph is then cleaned by onnxscript's optimizer (constant folding, dead
Identity/Constant removal), given a static class dimension on ``logits``,
and checked with ``onnx.checker`` and strict shape inference.
"""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

import onnx
import onnxscript.optimizer
import torch
from torch import nn

# The tensor names are the bundle contract's, defined once on the consumer side.
from edge.bundle.loader import INPUT_NAME, OUTPUT_NAME

log = logging.getLogger(__name__)

OPSET = 17
DYNAMIC_AXES = {
    INPUT_NAME: {0: "batch", 2: "height", 3: "width"},
    OUTPUT_NAME: {0: "batch", 2: "height", 3: "width"},
}


class OnnxExportError(RuntimeError):
    """The network could not be exported or the exported graph failed its checks."""


def export_onnx(
    model: nn.Module,
    path: str | Path,
    sample_size: tuple[int, int] = (256, 256),
    opset: int = OPSET,
) -> onnx.ModelProto:
    """Export ``model`` in eval mode to ``path`` as an FP32 ONNX graph.

    The graph has one input ``image`` ``[N, 3, H, W]`` float32 (normalized RGB)
    and one output ``logits`` ``[N, C, H, W]``; N, H and W are dynamic. In eval
    mode training-only branches (SHDM's detail head) are not traced, so they
    are absent from the graph.

    Parameters
    ----------
    model
        A network from :func:`trainer.models.build_model` (its training mode is
        restored afterwards).
    path
        Output ``.onnx`` file; its folder is created.
    sample_size
        ``(height, width)`` of the tracing input; any size works afterwards.
    opset
        ONNX opset (17 is the contract with the edge runtime).

    Returns
    -------
    onnx.ModelProto
        The checked graph that was written.

    Raises
    ------
    OnnxExportError
        If tracing, the checker or shape inference fails.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    buffer = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The legacy exporter is chosen on purpose (see the module docstring); the
            # tracer's warning concerns GroupNorm's training-only batch-size check.
            warnings.filterwarnings("ignore", "You are using the legacy TorchScript", DeprecationWarning)
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            torch.onnx.export(
                model,
                (torch.zeros(1, 3, *sample_size),),
                buffer,
                dynamo=False,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes=DYNAMIC_AXES,
                do_constant_folding=True,
            )
    except Exception as exc:
        raise OnnxExportError(f"tracing {type(model).__name__} for ONNX failed: {exc}") from exc
    finally:
        model.train(was_training)
    graph = onnxscript.optimizer.optimize(onnx.load_from_string(buffer.getvalue()))
    num_classes = getattr(model, "num_classes", None)
    if num_classes is not None:
        # The Resize output's class dimension is symbolic after tracing; pin it.
        graph.graph.output[0].type.tensor_type.shape.dim[1].dim_value = num_classes
    try:
        onnx.checker.check_model(graph, full_check=True)
        graph = onnx.shape_inference.infer_shapes(graph, check_type=True, strict_mode=True)
    except Exception as exc:
        raise OnnxExportError(
            f"exported graph of {type(model).__name__} failed the ONNX checks: {exc}"
        ) from exc
    onnx.save(graph, path)
    log.info(
        "exported %s to %s (opset %d, %d nodes)", type(model).__name__, path, opset, len(graph.graph.node)
    )
    return graph
