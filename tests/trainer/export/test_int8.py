"""INT8 Q/DQ bundle model: structure TensorRT accepts, float islands, calibration, sensitivity sweep."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from trainer.data.augment import normalize
from trainer.export import export_onnx
from trainer.export.int8 import (
    DEFAULT_EXCLUDE_OP_TYPES,
    ArrayCalibrationReader,
    CalibrationInputError,
    Int8QuantizationError,
    QuantizationReport,
    find_classifier,
    quantize_int8,
    sensitivity_sweep,
)
from trainer.models import build_model
from trainer.synth import render_slag

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _inputs(count: int, size: tuple[int, int] = (64, 64), seed: int = 21) -> list[np.ndarray]:
    return [normalize(render_slag(seed, i, size).image, MEAN, STD)[None] for i in range(count)]


@pytest.fixture(scope="module")
def fp32_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The slag network (EMA: Softmax, MatMul, InstanceNormalization; Resize) exported at 64x64."""
    path = tmp_path_factory.mktemp("int8") / "model.onnx"
    export_onnx(build_model("slag_mnv2_dlv3p_ema", width_mult=0.5).eval(), path, sample_size=(64, 64))
    return path


@pytest.fixture(scope="module")
def calibration() -> list[np.ndarray]:
    return _inputs(4)


@pytest.fixture(scope="module")
def quantized(fp32_path: Path, calibration: list[np.ndarray]) -> QuantizationReport:
    return quantize_int8(fp32_path, fp32_path.with_name("model.int8.onnx"), calibration)


def _maps(model: onnx.ModelProto) -> tuple[dict[str, onnx.NodeProto], dict[str, list[onnx.NodeProto]]]:
    producers = {name: node for node in model.graph.node for name in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    return producers, consumers


def test_convs_are_fed_by_symmetric_qdq_pairs(quantized: QuantizationReport) -> None:
    model = onnx.load(quantized.path)
    producers, _ = _maps(model)
    weights = {t.name: t for t in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv" and n.name not in quantized.excluded_nodes]
    assert len(convs) == quantized.quantized_ops["Conv"] > 20
    for conv in convs:
        data = producers[conv.input[0]]
        assert data.op_type == "DequantizeLinear", conv.name
        assert producers[data.input[0]].op_type == "QuantizeLinear", conv.name
        weight = producers[conv.input[1]]
        assert weight.op_type == "DequantizeLinear", conv.name
        int8_weight = weights[weight.input[0]]
        assert int8_weight.data_type == TensorProto.INT8
        scales = numpy_helper.to_array(weights[weight.input[1]])
        assert scales.shape == (int8_weight.dims[0],)  # per output channel
        if len(conv.input) > 2:  # TensorRT adds the bias itself: it stays float
            assert weights[conv.input[2]].data_type == TensorProto.FLOAT
    zero_points = [
        numpy_helper.to_array(weights[n.input[2]])
        for n in model.graph.node
        if n.op_type in ("QuantizeLinear", "DequantizeLinear")
    ]
    assert zero_points and all(z.dtype == np.int8 and not z.any() for z in zero_points)
    assert model.opset_import[0].version == 17
    assert {o.domain for o in model.opset_import} <= {"", "ai.onnx"}


def test_no_qdq_around_excluded_ops_and_the_classifier(
    fp32_path: Path, quantized: QuantizationReport
) -> None:
    model = onnx.load(quantized.path)
    producers, consumers = _maps(model)
    classifier = find_classifier(onnx.load(fp32_path))
    assert quantized.classifier == classifier.name
    assert quantized.excluded_nodes[classifier.name] == "classifier"
    # The slag network's classifier feeds the final Resize to input size.
    assert any(n.op_type == "Resize" for n in consumers[classifier.output[0]])
    excluded = [n for n in model.graph.node if n.name in quantized.excluded_nodes]
    assert {n.op_type for n in excluded} == {*DEFAULT_EXCLUDE_OP_TYPES, "Conv"}
    for node in excluded:
        for name in node.input:
            assert name not in producers or producers[name].op_type != "DequantizeLinear", node.name
        for name in node.output:
            assert all(user.op_type != "QuantizeLinear" for user in consumers.get(name, [])), node.name
    weight = next(t for t in model.graph.initializer if t.name == classifier.input[1])
    assert weight.data_type == TensorProto.FLOAT


@pytest.mark.parametrize("size", [(64, 64), (96, 128)])
def test_int8_runs_at_two_sizes(
    fp32_path: Path, quantized: QuantizationReport, size: tuple[int, int]
) -> None:
    images = np.concatenate(_inputs(2, size, seed=22))
    reference = ort.InferenceSession(str(fp32_path), providers=["CPUExecutionProvider"])
    session = ort.InferenceSession(str(quantized.path), providers=["CPUExecutionProvider"])
    expected = reference.run(None, {"image": images})[0]
    logits = session.run(None, {"image": images})[0]
    assert logits.dtype == np.float32 and logits.shape == expected.shape == (2, 3, *size)
    assert np.isfinite(logits).all()
    # Untrained weights: only require that quantization kept the logits' pattern.
    assert np.corrcoef(logits.ravel(), expected.ravel())[0, 1] > 0.9


def test_report_counts_ops(quantized: QuantizationReport, calibration: list[np.ndarray]) -> None:
    assert quantized.calibration_count == len(calibration)
    assert quantized.op_counts["QuantizeLinear"] > 0 and quantized.op_counts["DequantizeLinear"] > 0
    summary = quantized.as_dict()
    assert summary["method"] == "entropy" and summary["excluded_nodes"] == quantized.excluded_nodes
    assert "Softmax" not in summary["quantized_ops"] and "MatMul" not in summary["quantized_ops"]


def test_chunked_calibration_gives_the_same_ranges(
    fp32_path: Path, calibration: list[np.ndarray], tmp_path: Path
) -> None:
    def scales(path: Path) -> dict[str, np.ndarray]:
        model = onnx.load(path)
        inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        return {n.input[1]: inits[n.input[1]] for n in model.graph.node if n.op_type == "QuantizeLinear"}

    quantize_int8(fp32_path, tmp_path / "whole.onnx", calibration, method="minmax")
    reader = ArrayCalibrationReader(calibration)
    report = quantize_int8(fp32_path, tmp_path / "chunks.onnx", reader, method="minmax", chunk_size=2)
    assert report.calibration_count == 4
    whole, chunks = scales(tmp_path / "whole.onnx"), scales(tmp_path / "chunks.onnx")
    assert whole.keys() == chunks.keys()
    for name in whole:
        np.testing.assert_allclose(chunks[name], whole[name], rtol=1e-6, err_msg=name)


def test_requested_nodes_stay_float(fp32_path: Path, calibration: list[np.ndarray], tmp_path: Path) -> None:
    conv = next(n.name for n in onnx.load(fp32_path).graph.node if n.op_type == "Conv")
    report = quantize_int8(fp32_path, tmp_path / "q.onnx", calibration, exclude_nodes=[conv])
    assert report.excluded_nodes[conv] == "requested"
    model = onnx.load(tmp_path / "q.onnx")
    producers, _ = _maps(model)
    node = next(n for n in model.graph.node if n.name == conv)
    assert all(name not in producers or producers[name].op_type != "DequantizeLinear" for name in node.input)


def test_bad_arguments_are_refused(fp32_path: Path, calibration: list[np.ndarray], tmp_path: Path) -> None:
    out = tmp_path / "q.onnx"
    with pytest.raises(Int8QuantizationError, match=r"not in .*model\.onnx: /no/such/Conv"):
        quantize_int8(fp32_path, out, calibration, exclude_nodes=["/no/such/Conv"])
    with pytest.raises(ValueError, match="unknown calibration method 'kl'"):
        quantize_int8(fp32_path, out, calibration, method="kl")
    with pytest.raises(CalibrationInputError, match=r"calibration image 0 is float32 \(3, 64, 64\)"):
        quantize_int8(fp32_path, out, [calibration[0][0]])
    with pytest.raises(ValueError, match="at least one image"):
        quantize_int8(fp32_path, out, [])


def _graph(tail: list[str]) -> onnx.ModelProto:
    """image -> Conv -> Relu -> Conv "head" -> ``tail`` ops -> logits (a hand-made segmentation graph)."""
    rng = np.random.default_rng(0)
    weights = [
        numpy_helper.from_array(rng.standard_normal((4, 3, 1, 1)).astype(np.float32), "w0"),
        numpy_helper.from_array(rng.standard_normal((2, 4, 1, 1)).astype(np.float32), "w1"),
        numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
    ]
    nodes = [
        helper.make_node("Conv", ["image", "w0"], ["f0"], name="stem"),
        helper.make_node("Relu", ["f0"], ["f1"], name="act"),
        helper.make_node("Conv", ["f1", "w1"], ["t0"], name="head"),
    ]
    for index, op in enumerate(tail):
        inputs = [f"t{index}", "", "scales"] if op == "Resize" else [f"t{index}"]
        nodes.append(helper.make_node(op, inputs, [f"t{index + 1}"], name=f"tail{index}"))
    nodes[-1].output[0] = "logits"
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)],
        weights,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_classifier_is_found_from_the_output() -> None:
    assert find_classifier(_graph([])).name == "head"  # SHDM: the classifier writes the logits
    assert find_classifier(_graph(["Resize"])).name == "head"  # DeepLabV3+: upsampled logits
    assert find_classifier(_graph(["Identity", "Resize"])).name == "head"
    with pytest.raises(Int8QuantizationError, match="no classifier Conv before the output 'logits'"):
        find_classifier(_graph(["Sigmoid"]))


def test_sensitivity_sweep_ranks_candidates(fp32_path: Path, calibration: list[np.ndarray]) -> None:
    reference = ort.InferenceSession(str(fp32_path), providers=["CPUExecutionProvider"])
    probe = calibration[0]
    expected = reference.run(None, {"image": probe})[0]
    seen: list[Path] = []

    def closeness(path: Path) -> float:
        seen.append(path)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return -float(np.abs(session.run(None, {"image": probe})[0] - expected).mean())

    convs = [n.name for n in onnx.load(fp32_path).graph.node if n.op_type == "Conv"][:2]
    ranking = sensitivity_sweep(
        fp32_path, calibration[:2], closeness, candidates=convs, method="minmax", progress=False
    )
    assert sorted(name for name, _ in ranking) == sorted(convs)
    metrics = [metric for _, metric in ranking]
    assert metrics == sorted(metrics, reverse=True)
    assert len(seen) == 3  # the baseline, then one model per candidate
