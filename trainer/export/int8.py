"""Post-training INT8 quantization of the FP32 bundle graph into a Q/DQ model for TensorRT.

TensorRT (10.x from the Q/DQ model, 11.x strongly typed only) builds INT8 engines
from explicit ``QuantizeLinear``/``DequantizeLinear`` pairs. Its rules, and the
ONNX Runtime settings that meet them:

* symmetric quantization only (zero points are 0): ``ActivationSymmetric`` and
  ``WeightSymmetric``, signed ``QInt8`` activations and weights;
* per-channel weight scales on the output-channel axis: ``per_channel=True``
  (weights are stored as INT8 initializers followed by a ``DequantizeLinear``);
* biases stay float (TensorRT fuses them itself and has no INT32 bias input):
  ``QuantizeBias=False``;
* standard ONNX ops only, opset 17 kept: no ``com.microsoft`` Q/DQ contrib ops.

The graph first goes through ONNX Runtime's ``quant_pre_process`` with ONNX
shape inference only: the FP32 graph is already optimized, and skipping the
optimizer keeps every node name of ``model.onnx``, so that node names from it
can be excluded.

Some nodes stay in float: every node of ``exclude_op_types`` (attention's
Softmax and MatMul, GroupNorm's InstanceNormalization, Resize), the final
classifier Conv (found from the graph output, see :func:`find_classifier`) and
any node named in ``exclude_nodes``. ONNX Runtime quantizes *tensors*, so a
tensor shared with a quantized neighbour would still reach an excluded node
through a Q/DQ pair; a clean-up pass rewires excluded nodes to the float
tensors on both sides, so no Q/DQ pair touches them.

Activation ranges come from calibration images run through ONNX Runtime
(entropy, percentile or min-max). Calibration runs in chunks so that memory
stays bounded by the chunk, not by the number of images.

When the INT8 model misses its accuracy target, :func:`sensitivity_sweep`
re-quantizes with one candidate node at a time left in float and ranks the
candidates by the metric the caller measures.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process
from tqdm import tqdm

from trainer.export.onnx_graph import INPUT_NAME
from trainer.export.probe import probe_logits

log = logging.getLogger(__name__)

DEFAULT_EXCLUDE_OP_TYPES: tuple[str, ...] = ("Softmax", "MatMul", "InstanceNormalization", "Resize")
"""Op types left in float by :func:`quantize_int8` unless the caller passes another list."""

METHODS: dict[str, CalibrationMethod] = {
    "entropy": CalibrationMethod.Entropy,
    "percentile": CalibrationMethod.Percentile,
    "minmax": CalibrationMethod.MinMax,
}
"""Calibration method names accepted by :func:`quantize_int8`."""

# Ops a classifier's logits may pass through on the way to the graph output.
_PASS_THROUGH = ("Resize", "Upsample", "Identity", "Cast")


class Int8QuantizationError(RuntimeError):
    """Quantization failed, its settings were invalid or the Q/DQ model does not run."""


class CalibrationInputError(ValueError):
    """A calibration input is not a float32 ``[N, 3, H, W]`` array."""


class ArrayCalibrationReader(CalibrationDataReader):
    """Feeds normalized images to ONNX Runtime's calibrator, one per inference.

    Supports the chunked calibration of :func:`quantize_int8` (``__len__`` and
    ``set_range``) and can be rewound. Images are fetched by index only when
    needed, so ``images`` may be a lazy sequence that loads from disk.

    Parameters
    ----------
    images
        float32 arrays ``[N, 3, H, W]`` (normalized RGB, as the graph's ``image`` input).
    input_name
        The graph input to feed.
    """

    @classmethod
    def __subclasshook__(cls, subclass: type) -> Any:
        # CalibrationDataReader's hook calls anything with get_next a subclass; keep isinstance exact.
        return NotImplemented

    def __init__(self, images: Sequence[np.ndarray], input_name: str = INPUT_NAME) -> None:
        if len(images) == 0:
            raise ValueError(
                "calibration needs at least one image; pass a non-empty list of [1, 3, H, W] arrays"
            )
        self.images = images
        self.input_name = input_name
        self._start, self._end, self._next = 0, len(images), 0

    def __len__(self) -> int:
        return len(self.images)

    def set_range(self, start_index: int, end_index: int) -> None:
        """Feed only images ``start_index`` to ``end_index - 1`` from now on."""
        self._start, self._end = max(0, start_index), min(len(self.images), end_index)
        self._next = self._start

    def rewind(self) -> None:
        """Start again from the first image of all of them."""
        self.set_range(0, len(self.images))

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= self._end:
            return None
        index = self._next
        self._next += 1
        return {self.input_name: self.image(index)}

    def image(self, index: int) -> np.ndarray:
        """Image ``index``, checked.

        Raises
        ------
        CalibrationInputError
            If it is not a float32 ``[N, 3, H, W]`` array.
        """
        image = np.asarray(self.images[index])
        if image.ndim != 4 or image.shape[1] != 3 or image.dtype != np.float32:
            raise CalibrationInputError(
                f"calibration image {index} is {image.dtype} {image.shape}; expected float32 [N, 3, H, W] "
                "(normalized RGB, e.g. from trainer.data.augment.normalize with a batch axis)"
            )
        return image


class _CountingReader(CalibrationDataReader):
    """Wraps a caller's reader and counts the inputs it hands out."""

    @classmethod
    def __subclasshook__(cls, subclass: type) -> Any:
        # CalibrationDataReader's hook calls anything with get_next a subclass; keep isinstance exact.
        return NotImplemented

    def __init__(self, reader: CalibrationDataReader) -> None:
        self.reader = reader
        self.count = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        item = self.reader.get_next()
        if item is not None:
            self.count += 1
        return item


Calibration = Sequence[np.ndarray] | CalibrationDataReader
"""Calibration inputs: a (possibly lazy) sequence of ``[1, 3, H, W]`` float32 arrays, or a reader."""


@dataclass(frozen=True)
class QuantizationReport:
    """What :func:`quantize_int8` did.

    Attributes
    ----------
    path
        The Q/DQ model written.
    method
        Calibration method name (``"entropy"``, ``"percentile"`` or ``"minmax"``).
    calibration_count
        Calibration inputs run (0 when the ranges came from a calibration cache).
    classifier
        Name of the final classifier Conv (always left in float).
    excluded_nodes
        Node name -> why it stays in float (``"op type Softmax"``, ``"classifier"``, ``"requested"``).
    quantized_ops
        Op type -> number of nodes with at least one input from a ``DequantizeLinear``.
    op_counts
        Op type -> number of nodes in the Q/DQ graph.
    """

    path: Path
    method: str
    calibration_count: int
    classifier: str
    excluded_nodes: dict[str, str] = field(default_factory=dict)
    quantized_ops: dict[str, int] = field(default_factory=dict)
    op_counts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary for the bundle manifest (the path is left out)."""
        return {
            "format": "QDQ",
            "activations": "int8 symmetric per-tensor",
            "weights": "int8 symmetric per-channel",
            "bias": "float",
            "method": self.method,
            "calibration_count": self.calibration_count,
            "classifier": self.classifier,
            "excluded_nodes": dict(self.excluded_nodes),
            "quantized_ops": dict(self.quantized_ops),
            "op_counts": dict(self.op_counts),
        }


def find_classifier(model: onnx.ModelProto) -> onnx.NodeProto:
    """The final classifier Conv: the Conv whose output reaches the graph output.

    Starting from the node that writes the (single) graph output, the search
    walks back through ops that only resample or retype the logits (Resize,
    Upsample, Identity, Cast) along their data input, and stops at a Conv.

    Parameters
    ----------
    model
        An FP32 segmentation graph (one output).

    Raises
    ------
    Int8QuantizationError
        If the graph has several outputs or no Conv is found that way.
    """
    graph = model.graph
    if len(graph.output) != 1:
        raise Int8QuantizationError(
            f"expected one graph output (logits), found {[o.name for o in graph.output]}; "
            "name the classifier in exclude_nodes instead"
        )
    producers = {output: node for node in graph.node for output in node.output}
    node = producers.get(graph.output[0].name)
    trail = []
    while node is not None and node.op_type in _PASS_THROUGH:
        trail.append(f"{node.op_type} {node.name}")
        node = producers.get(node.input[0])
    if node is None or node.op_type != "Conv":
        found = "the graph input" if node is None else f"{node.op_type} {node.name!r}"
        raise Int8QuantizationError(
            f"no classifier Conv before the output {graph.output[0].name!r}: walking back through "
            f"{trail or 'nothing'} reached {found}; pass the classifier's name in exclude_nodes"
        )
    return node


def quantize_int8(
    fp32_path: str | Path,
    out_path: str | Path,
    calibration: Calibration | None,
    method: str = "entropy",
    exclude_op_types: Iterable[str] = DEFAULT_EXCLUDE_OP_TYPES,
    exclude_nodes: Iterable[str] = (),
    calibration_cache: str | Path | None = None,
    chunk_size: int = 16,
) -> QuantizationReport:
    """Quantize an FP32 graph to a symmetric INT8 Q/DQ graph (see the module docstring).

    Parameters
    ----------
    fp32_path
        The FP32 graph (``model.onnx`` of a bundle).
    out_path
        Where to write the Q/DQ graph; its folder is created.
    calibration
        Normalized float32 ``[1, 3, H, W]`` arrays (any sequence, also a lazy one),
        or an ONNX Runtime ``CalibrationDataReader``. May be ``None`` only when
        ``calibration_cache`` holds ranges already.
    method
        ``"entropy"`` (KL divergence, as TensorRT's entropy calibrator), ``"percentile"``
        (99.999th percentile of absolute values) or ``"minmax"``.
    exclude_op_types
        Op types left in float.
    exclude_nodes
        Node names (as in the FP32 graph) left in float in addition.
    calibration_cache
        Optional JSON file of activation ranges: read when it exists (no calibration
        run), written otherwise. Ranges do not depend on which nodes are excluded, so
        one cache serves a whole :func:`sensitivity_sweep`.
    chunk_size
        At most this many images are held in ONNX Runtime's calibrator at once (the
        histogram calibrators keep every intermediate tensor of a chunk in memory).

    Returns
    -------
    QuantizationReport
        Excluded nodes and why, per-op-type counts, the classifier's name.

    Raises
    ------
    FileNotFoundError
        If ``fp32_path`` does not exist.
    ValueError
        For an unknown method, no calibration, or a calibration image of the wrong shape
        (:class:`CalibrationInputError`).
    Int8QuantizationError
        If an excluded node name is not in the graph, the classifier cannot be found,
        or the Q/DQ graph fails the checks or does not run in ONNX Runtime.
    """
    fp32_path, out_path = Path(fp32_path), Path(out_path)
    if method not in METHODS:
        raise ValueError(f"unknown calibration method {method!r}; use one of {', '.join(METHODS)}")
    if not fp32_path.is_file():
        raise FileNotFoundError(f"FP32 model {fp32_path} not found; export it with export_onnx first")
    cache = Path(calibration_cache) if calibration_cache is not None else None
    if calibration is None and (cache is None or not cache.is_file()):
        raise ValueError("quantize_int8 needs calibration images (or an existing calibration_cache)")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    cache_hit = cache is not None and cache.is_file()
    reader, extra = _reader_and_chunks(None if cache_hit else calibration, chunk_size)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="steelsight-int8-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        try:
            # ONNX shape inference only: the quantizer needs element types, which the symbolic
            # (sympy) pass does not improve on for these graphs; it would triple the run time.
            quant_pre_process(str(fp32_path), str(prepared), skip_optimization=True, skip_symbolic_shape=True)
        except Exception as exc:
            raise Int8QuantizationError(
                f"shape inference of {fp32_path} before quantization failed: {exc}"
            ) from exc
        model = onnx.load(prepared)
        _name_unnamed_nodes(model.graph)
        onnx.save(model, prepared)
        excluded = _excluded_nodes(model, tuple(exclude_op_types), tuple(exclude_nodes), fp32_path)
        classifier = next(name for name, why in excluded.items() if why == "classifier")
        if cache_hit:
            log.info("INT8: activation ranges from the calibration cache %s", cache)
        log.info(
            "INT8: quantizing %s (%s calibration, %d nodes kept in float)", fp32_path, method, len(excluded)
        )
        raw = Path(tmp) / "qdq.onnx"
        chatter = io.StringIO()
        try:
            with contextlib.redirect_stdout(chatter):
                quantize_static(
                    str(prepared),
                    str(raw),
                    reader,
                    quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8,
                    per_channel=True,
                    calibrate_method=METHODS[method],
                    nodes_to_exclude=list(excluded),
                    calibration_cache_path=None if cache is None else str(cache),
                    extra_options={
                        "ActivationSymmetric": True,
                        "WeightSymmetric": True,
                        "QuantizeBias": False,
                        # Weight scales are only enlarged to make an INT32 bias representable;
                        # biases stay float here, so keep the finest weight scales.
                        "QDQDisableWeightAdjustForInt32Bias": True,
                        **extra,
                    },
                )
        except CalibrationInputError:
            raise
        except Exception as exc:
            raise Int8QuantizationError(f"quantizing {fp32_path} failed: {exc}") from exc
        finally:
            if chatter.getvalue().strip():
                log.debug("onnxruntime.quantization: %s", chatter.getvalue().strip())
        quantized = onnx.load(raw)
    _keep_float(quantized.graph, set(excluded))
    try:
        onnx.checker.check_model(quantized, full_check=True)
    except Exception as exc:
        raise Int8QuantizationError(f"the Q/DQ graph of {fp32_path} failed the ONNX checks: {exc}") from exc
    onnx.save(quantized, out_path)
    try:
        _probe_session(out_path)
    except Int8QuantizationError:
        out_path.unlink(missing_ok=True)
        raise
    count = 0 if reader is None else (reader.count if isinstance(reader, _CountingReader) else len(reader))
    report = QuantizationReport(
        path=out_path,
        method=method,
        calibration_count=count,
        classifier=classifier,
        excluded_nodes=excluded,
        quantized_ops=quantized_op_counts(quantized),
        op_counts=dict(sorted(Counter(node.op_type for node in quantized.graph.node).items())),
    )
    log.info(
        "INT8: wrote %s (%d QuantizeLinear, %d DequantizeLinear; quantized %s)",
        out_path,
        report.op_counts.get("QuantizeLinear", 0),
        report.op_counts.get("DequantizeLinear", 0),
        ", ".join(f"{n} {op}" for op, n in report.quantized_ops.items()) or "nothing",
    )
    return report


def quantized_op_counts(model: onnx.ModelProto) -> dict[str, int]:
    """Op type -> number of nodes (not Q/DQ, not Shape) that read at least one ``DequantizeLinear`` output."""
    dequantized = {node.output[0] for node in model.graph.node if node.op_type == "DequantizeLinear"}
    counts = Counter(
        node.op_type
        for node in model.graph.node
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear", "Shape")
        and any(name in dequantized for name in node.input)
    )
    return dict(sorted(counts.items()))


def sensitivity_sweep(
    fp32_path: str | Path,
    calibration: Calibration,
    eval_fn: Callable[[Path], float],
    candidates: Sequence[str] | None = None,
    method: str = "entropy",
    exclude_op_types: Iterable[str] = DEFAULT_EXCLUDE_OP_TYPES,
    exclude_nodes: Iterable[str] = (),
    progress: bool = True,
) -> list[tuple[str, float]]:
    """Rank nodes by how much leaving each one alone in float helps the INT8 model.

    For each candidate the graph is quantized with that node (plus the usual
    exclusions) kept in float, and ``eval_fn`` measures the resulting Q/DQ model.
    Calibration runs once; later quantizations reuse its ranges. Use it when the
    INT8 model misses its target: pass the best few names to
    ``quantize_int8(..., exclude_nodes=...)`` (``export_bundle``'s
    ``int8_exclude_nodes``) and measure again. Cost: one quantization and one
    ``eval_fn`` call per candidate, plus one for the baseline (logged).

    Parameters
    ----------
    fp32_path
        The FP32 graph.
    calibration
        As for :func:`quantize_int8`.
    eval_fn
        Path of a Q/DQ model -> metric where higher is better (e.g. mIoU on a small set).
    candidates
        Node names to try; default: every Conv that the baseline quantizes.
    method, exclude_op_types, exclude_nodes
        As for :func:`quantize_int8`; apply to the baseline and to every candidate.
    progress
        Show a progress bar.

    Returns
    -------
    list of (str, float)
        ``(node name, metric with that node in float)``, best metric first.
    """
    exclude_op_types, exclude_nodes = tuple(exclude_op_types), tuple(exclude_nodes)
    with tempfile.TemporaryDirectory(prefix="steelsight-sweep-") as tmp:
        folder = Path(tmp)
        cache = folder / "ranges.json"
        baseline_path = folder / "baseline.int8.onnx"
        baseline = quantize_int8(
            fp32_path, baseline_path, calibration, method, exclude_op_types, exclude_nodes, cache
        )
        baseline_metric = float(eval_fn(baseline_path))
        log.info("sensitivity sweep: baseline INT8 metric %.4f", baseline_metric)
        if candidates is None:
            dequantized = onnx.load(baseline_path)
            quantized = _nodes_reading_dequantized(dequantized)
            candidates = [
                node.name
                for node in dequantized.graph.node
                if node.op_type == "Conv" and node.name in quantized
            ]
        already = [name for name in candidates if name in baseline.excluded_nodes]
        if already:
            raise ValueError(f"sweep candidates already kept in float: {', '.join(already)}; drop them")
        results = []
        for name in tqdm(candidates, desc="sensitivity sweep", disable=not progress, leave=False):
            path = folder / "candidate.int8.onnx"
            quantize_int8(fp32_path, path, None, method, exclude_op_types, (*exclude_nodes, name), cache)
            metric = float(eval_fn(path))
            log.info("sensitivity sweep: %s in float -> %.4f (%+.4f)", name, metric, metric - baseline_metric)
            results.append((name, metric))
    return sorted(results, key=lambda item: item[1], reverse=True)


def _name_unnamed_nodes(graph: onnx.GraphProto) -> None:
    """Give unnamed nodes unique names (``nodes_to_exclude`` works by name)."""
    taken = {node.name for node in graph.node if node.name}
    for index, node in enumerate(graph.node):
        if not node.name:
            name = f"{node.op_type}_{index}"
            while name in taken:
                name += "_"
            node.name = name
            taken.add(name)


def _excluded_nodes(
    model: onnx.ModelProto, op_types: tuple[str, ...], names: tuple[str, ...], path: Path
) -> dict[str, str]:
    known = {node.name for node in model.graph.node}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise Int8QuantizationError(
            f"exclude_nodes names nodes that are not in {path}: {', '.join(unknown)}; "
            "use node names as they appear in the FP32 graph (e.g. in Netron)"
        )
    excluded = {node.name: f"op type {node.op_type}" for node in model.graph.node if node.op_type in op_types}
    excluded.update({name: "requested" for name in names})
    excluded[find_classifier(model).name] = "classifier"
    return excluded


def _reader_and_chunks(calibration: Calibration | None, chunk_size: int) -> tuple[Any, dict[str, Any]]:
    """The reader to hand to ``quantize_static`` and the extra options that chunk it."""
    if calibration is None:
        return None, {}
    if isinstance(calibration, ArrayCalibrationReader):
        reader = calibration
        reader.rewind()
    elif hasattr(calibration, "get_next"):
        return _CountingReader(calibration), {}
    else:
        reader = ArrayCalibrationReader(calibration)
    reader.image(0)  # a wrong shape fails now, not after shape inference
    total = len(reader)
    # quantize_static calls collect_data once per chunk of CalibStridedMinMax inputs (for every
    # calibrator, not only min-max) and merges the ranges/histograms; the chunk must divide the total.
    chunk = max(size for size in range(1, min(chunk_size, total) + 1) if total % size == 0)
    return reader, ({"CalibStridedMinMax": chunk} if chunk < total else {})


def _nodes_reading_dequantized(model: onnx.ModelProto) -> set[str]:
    dequantized = {node.output[0] for node in model.graph.node if node.op_type == "DequantizeLinear"}
    return {node.name for node in model.graph.node if any(name in dequantized for name in node.input)}


def _keep_float(graph: onnx.GraphProto, names: set[str]) -> None:
    """Rewire the excluded nodes to float tensors so that no Q/DQ pair touches them.

    Input side: an input read through ``QuantizeLinear -> DequantizeLinear`` is read
    from the tensor before the ``QuantizeLinear``. Output side: consumers of a Q/DQ
    pair on an excluded node's output read the float output instead. Q/DQ nodes left
    without consumers, and initializers no node reads, are removed.
    """
    producers = {output: node for node in graph.node for output in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    graph_outputs = {output.name for output in graph.output}
    for node in [node for node in graph.node if node.name in names]:
        for index, name in enumerate(node.input):
            dq = producers.get(name)
            if dq is None or dq.op_type != "DequantizeLinear":
                continue
            q = producers.get(dq.input[0])
            if q is None or q.op_type != "QuantizeLinear":
                raise Int8QuantizationError(
                    f"excluded node {node.name!r} reads the quantized constant {dq.input[0]!r}; "
                    "this ONNX Runtime version quantized it anyway, report this"
                )
            node.input[index] = q.input[0]
        for output in node.output:
            for q in consumers.get(output, []):
                if q.op_type != "QuantizeLinear":
                    continue
                for dq in consumers.get(q.output[0], []):
                    if dq.op_type != "DequantizeLinear" or dq.output[0] in graph_outputs:
                        continue
                    for user in consumers.get(dq.output[0], []):
                        user.input[:] = [output if name == dq.output[0] else name for name in user.input]
    _prune(graph)


def _prune(graph: onnx.GraphProto) -> None:
    while True:
        read = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
        dead = [
            node
            for node in graph.node
            if node.op_type in ("QuantizeLinear", "DequantizeLinear")
            and not any(o in read for o in node.output)
        ]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    read = {name for node in graph.node for name in node.input}
    for tensor in [tensor for tensor in graph.initializer if tensor.name not in read]:
        graph.initializer.remove(tensor)
    produced = {name for node in graph.node for name in node.output}
    for value in [value for value in graph.value_info if value.name not in produced]:
        graph.value_info.remove(value)


def _probe_session(path: Path) -> None:
    """Load the Q/DQ graph in ONNX Runtime (CPU) and run one small zero image through it."""
    try:
        logits = probe_logits(path)
    except Exception as exc:
        raise Int8QuantizationError(f"ONNX Runtime cannot run the Q/DQ graph {path}: {exc}") from exc
    if not np.isfinite(logits).all():
        raise Int8QuantizationError(f"the Q/DQ graph {path} gave non-finite logits on a zero image")
