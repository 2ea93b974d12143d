"""Convert the FP32 bundle graph to FP16 weights and compute with float32 inputs and outputs.

The edge runtime builds ``model.fp16.onnx`` with TensorRT's strongly typed mode
(TensorRT 11 has no builder flag that lowers precision on its own), so the file
itself must say which ops run in half precision. We use onnxconverter-common's
float16 pass with ``keep_io_types=True``: the camera feeds a float32 ``image``
and reads float32 ``logits``, exactly as for the FP32 file.

Ops whose numerics are fragile in half precision stay float32 (Cast nodes are
inserted around them); see :data:`DEFAULT_KEEP_FP32_OPS` for the list and the
reasons. The converter's own block list (ML-domain ops and ops whose extra
inputs must stay float, such as ``Resize``'s scales) is always added.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnxconverter_common import float16

from trainer.export.probe import probe_logits

log = logging.getLogger(__name__)

DEFAULT_KEEP_FP32_OPS: tuple[str, ...] = (
    "Softmax",  # exp() of large logits overflows 65504
    "MatMul",  # long dot products (EMA's cross-spatial attention) lose precision
    "InstanceNormalization",  # GroupNorm's variance under- and overflows in half precision
    "LayerNormalization",
    "GroupNormalization",
    "Resize",  # its scales/sizes inputs must stay float32; interpolation is cheap in fp32
    "ReduceMean",  # global means over a whole 512x512 map can overflow a half-precision sum
)
"""Op types kept in float32 by :func:`convert_fp16` unless the caller passes another list."""

# Converter defaults that keep tiny magnitudes representable (float16's smallest
# subnormal is ~6e-8) and clamp huge ones below float16's maximum (65504).
_MIN_POSITIVE = 1e-7
_MAX_FINITE = 1e4


class Fp16ConversionError(RuntimeError):
    """The FP16 graph could not be made, failed the ONNX checks or did not run in ONNX Runtime."""


def convert_fp16(
    fp32_path: str | Path,
    out_path: str | Path,
    keep_fp32_ops: Iterable[str] = DEFAULT_KEEP_FP32_OPS,
    keep_fp32_nodes: Iterable[str] = (),
) -> onnx.ModelProto:
    """Write an FP16 copy of an FP32 ONNX graph with float32 inputs and outputs.

    Parameters
    ----------
    fp32_path
        The FP32 graph (``model.onnx`` of a bundle).
    out_path
        Where to write the FP16 graph; its folder is created.
    keep_fp32_ops
        Op types that stay float32. onnxconverter-common's default block list is
        always added to these.
    keep_fp32_nodes
        Individual node names that stay float32 in addition.

    Returns
    -------
    onnx.ModelProto
        The checked FP16 graph that was written.

    Raises
    ------
    FileNotFoundError
        If ``fp32_path`` does not exist.
    Fp16ConversionError
        If the input is not an FP32 graph, or the converted graph fails
        ``onnx.checker``, shape inference or loading and running in ONNX Runtime.
    """
    fp32_path, out_path = Path(fp32_path), Path(out_path)
    if not fp32_path.is_file():
        raise FileNotFoundError(f"FP32 model {fp32_path} not found; export it with export_onnx first")
    model = onnx.load(fp32_path)
    _require_float32_io(model, fp32_path)
    blocked_ops = sorted(set(float16.DEFAULT_OP_BLOCK_LIST) | set(keep_fp32_ops))
    blocked_nodes = sorted(set(keep_fp32_nodes))
    unknown = sorted(set(blocked_nodes) - {node.name for node in model.graph.node})
    if unknown:
        raise Fp16ConversionError(
            f"keep_fp32_nodes names nodes that are not in {fp32_path}: {', '.join(unknown)}; "
            "use node names as they appear in the FP32 graph"
        )
    _log_out_of_range(model, set(blocked_ops), set(blocked_nodes))
    # The converter (1.16) retypes every value_info to float16 before it decides which
    # initializers to keep; a value_info entry for a weight of a kept node would make it
    # round that weight to float16 and cast it back. Weights need no value_info: drop them.
    weights = {tensor.name for tensor in model.graph.initializer}
    for value in [value for value in model.graph.value_info if value.name in weights]:
        model.graph.value_info.remove(value)
    _split_shared_weights(model.graph, set(blocked_ops), set(blocked_nodes))
    with warnings.catch_warnings():
        # The converter warns once per clamped value; _log_out_of_range summarized them.
        warnings.filterwarnings("ignore", message="the float32 number", category=UserWarning)
        try:
            converted = float16.convert_float_to_float16(
                model,
                min_positive_val=_MIN_POSITIVE,
                max_finite_val=_MAX_FINITE,
                keep_io_types=True,
                op_block_list=blocked_ops,
                node_block_list=blocked_nodes,
            )
        except Exception as exc:
            raise Fp16ConversionError(f"float16 conversion of {fp32_path} failed: {exc}") from exc
    _restore_float32_outputs(converted.graph)
    try:
        onnx.checker.check_model(converted, full_check=True)
        converted = onnx.shape_inference.infer_shapes(converted, check_type=True, strict_mode=True)
    except Exception as exc:
        raise Fp16ConversionError(f"FP16 graph of {fp32_path} failed the ONNX checks: {exc}") from exc
    out_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(converted, out_path)
    _probe_session(out_path)
    kept = sorted({node.op_type for node in model.graph.node if node.op_type in blocked_ops})
    log.info(
        "wrote FP16 graph %s (%d nodes; kept in float32: %s)",
        out_path,
        len(converted.graph.node),
        ", ".join(kept) or "nothing",
    )
    return converted


def fp32_op_types(model: onnx.ModelProto) -> list[str]:
    """Op types of a converted graph that still compute in float32 (Casts not counted).

    A node counts when its first input and its first output are float32 tensors.

    Parameters
    ----------
    model
        A graph written by :func:`convert_fp16` (with shape information).
    """
    graph = model.graph
    types = {value.name: value.type.tensor_type.elem_type for value in graph.value_info}
    types.update({value.name: value.type.tensor_type.elem_type for value in [*graph.input, *graph.output]})
    types.update({tensor.name: tensor.data_type for tensor in graph.initializer})
    return sorted(
        {
            node.op_type
            for node in graph.node
            if node.op_type != "Cast"
            and node.input
            and types.get(node.input[0]) == TensorProto.FLOAT
            and types.get(node.output[0]) == TensorProto.FLOAT
        }
    )


def _cast_target(node: onnx.NodeProto) -> int | None:
    for attribute in node.attribute:
        if attribute.name == "to":
            return int(attribute.i)
    return None


def _require_float32_io(model: onnx.ModelProto, path: Path) -> None:
    for value in [*model.graph.input, *model.graph.output]:
        elem_type = value.type.tensor_type.elem_type
        if elem_type != TensorProto.FLOAT:
            raise Fp16ConversionError(
                f"{path}: {value.name!r} is {TensorProto.DataType.Name(elem_type)}, expected FLOAT; "
                "convert_fp16 takes the FP32 graph written by export_onnx"
            )


def _split_shared_weights(graph: onnx.GraphProto, blocked_ops: set[str], blocked_nodes: set[str]) -> None:
    """Give kept-float32 nodes their own copy of a float weight they share with converted nodes.

    The converter keeps a weight float32 when any kept node reads it, which would feed
    float32 into a float16 node; with a copy each side gets the type it computes in.
    """
    readers: dict[str, list[tuple[onnx.NodeProto, bool]]] = {}
    for node in graph.node:
        kept = node.op_type in blocked_ops or node.name in blocked_nodes
        for name in node.input:
            readers.setdefault(name, []).append((node, kept))
    for tensor in list(graph.initializer):
        users = readers.get(tensor.name, [])
        if tensor.data_type != TensorProto.FLOAT or len({kept for _, kept in users}) < 2:
            continue
        copy = onnx.TensorProto()
        copy.CopyFrom(tensor)
        copy.name = f"{tensor.name}_fp32"
        graph.initializer.append(copy)
        for node, kept in users:
            if kept:
                node.input[:] = [copy.name if name == tensor.name else name for name in node.input]


def _log_out_of_range(model: onnx.ModelProto, blocked_ops: set[str], blocked_nodes: set[str]) -> None:
    """Log how many weights of converted nodes float16 clamps (the converter would warn per value)."""
    kept_inputs = {
        name
        for node in model.graph.node
        if node.op_type in blocked_ops or node.name in blocked_nodes
        for name in node.input
    }
    tiny = huge = total = 0
    for tensor in model.graph.initializer:
        if tensor.data_type != TensorProto.FLOAT or tensor.name in kept_inputs:
            continue
        values = np.abs(numpy_helper.to_array(tensor))
        total += values.size
        tiny += int(np.count_nonzero((values > 0) & (values < _MIN_POSITIVE)))
        huge += int(np.count_nonzero(values > _MAX_FINITE))
    if huge:
        log.warning(
            "FP16: %d of %d weights exceed %g and are clamped; keep the nodes that use them in "
            "float32 (keep_fp32_nodes) if the FP16 model misses its accuracy",
            huge,
            total,
            _MAX_FINITE,
        )
    if tiny:
        log.info("FP16: %d of %d weights below %g are rounded up to it", tiny, total, _MIN_POSITIVE)


def _restore_float32_outputs(graph: onnx.GraphProto) -> None:
    """Make every graph output float32 again.

    When the node producing an output is on the block list, the converter (1.16)
    appends a Cast to float16 and retypes the output, ignoring ``keep_io_types``.
    Such a Cast is removed and the blocked node writes the output directly; any
    other float16 output gets a Cast to float32.
    """
    producers = {output: node for node in graph.node for output in node.output}
    for output in graph.output:
        tensor_type = output.type.tensor_type
        if tensor_type.elem_type != TensorProto.FLOAT16:
            continue
        producer = producers.get(output.name)
        source = producers.get(producer.input[0]) if producer is not None and producer.input else None
        consumers = [node for node in graph.node if producer is not None and producer.input[0] in node.input]
        if (
            producer is not None
            and producer.op_type == "Cast"
            and _cast_target(producer) == TensorProto.FLOAT16
            and source is not None
            and _value_type(graph, producer.input[0]) == TensorProto.FLOAT
            and consumers == [producer]
        ):
            float_name = producer.input[0]
            source.output[list(source.output).index(float_name)] = output.name
            graph.node.remove(producer)
            _drop_value_info(graph, float_name)
        else:
            half_name = f"{output.name}_fp16"
            for node in graph.node:
                node.output[:] = [half_name if name == output.name else name for name in node.output]
                node.input[:] = [half_name if name == output.name else name for name in node.input]
            graph.node.append(
                helper.make_node(
                    "Cast", [half_name], [output.name], name=f"{output.name}_to_fp32", to=TensorProto.FLOAT
                )
            )
        tensor_type.elem_type = TensorProto.FLOAT


def _value_type(graph: onnx.GraphProto, name: str) -> int | None:
    for value in [*graph.value_info, *graph.input, *graph.output]:
        if value.name == name:
            return int(value.type.tensor_type.elem_type)
    return None


def _drop_value_info(graph: onnx.GraphProto, name: str) -> None:
    for value in list(graph.value_info):
        if value.name == name:
            graph.value_info.remove(value)


def _probe_session(path: Path) -> None:
    """Load the graph in ONNX Runtime (CPU) and run one small zero image through it."""
    try:
        logits = probe_logits(path)
    except Exception as exc:
        raise Fp16ConversionError(f"ONNX Runtime cannot run the FP16 graph {path}: {exc}") from exc
    if logits.dtype != np.float32 or not np.isfinite(logits).all():
        raise Fp16ConversionError(
            f"FP16 graph {path} gave {logits.dtype} logits with non-finite values on a zero image; "
            "keep more ops in float32 (keep_fp32_ops)"
        )
