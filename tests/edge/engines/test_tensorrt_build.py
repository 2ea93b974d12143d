"""The TensorRT engine builder: the parts that need no TensorRT, and a real build where TensorRT exists."""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from edge.bundle.loader import load_bundle
from edge.bundle.manifest import BundleError
from edge.engines.build_cli import EXIT_NO_TENSORRT, build_engine_command
from edge.engines.cache_key import engine_filename, read_sidecar, stale_reason
from edge.engines.tensorrt_build import (
    EngineBuildError,
    GpuInfo,
    LayerPrecision,
    ProfileSpec,
    choose_source,
    format_parser_error,
    layers_above,
    log_precision_fallbacks,
    make_profile,
    parse_layer_precisions,
    plan_build,
    tensor_precision,
    trt_major,
)
from tests.edge.bundle.test_loader import HEIGHT, WIDTH, make_bundle

ORIN = GpuInfo(name="Orin (nvgpu)", compute_capability=(8, 7))
HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None


def test_trt_major_reads_the_module_version() -> None:
    assert trt_major(SimpleNamespace(__version__="10.3.0")) == 10
    assert trt_major(SimpleNamespace(__version__="11.0.0.114")) == 11
    with pytest.raises(EngineBuildError, match="cannot read the TensorRT major version"):
        trt_major(SimpleNamespace())


@pytest.mark.parametrize(
    ("major", "precision", "expected"),
    [
        (10, "fp32", ("fp32", [], False)),
        (10, "fp16", ("fp32", ["FP16"], False)),
        (10, "int8", ("int8", ["INT8", "FP16"], False)),
        (11, "fp32", ("fp32", [], True)),
        (11, "fp16", ("fp16", [], True)),
        (11, "int8", ("int8", [], True)),
    ],
)
def test_choose_source(major: int, precision: str, expected: tuple[str, list[str], bool]) -> None:
    assert choose_source(major, precision) == expected


def test_choose_source_refuses_other_versions_and_precisions() -> None:
    for major in (8, 9, 12):
        with pytest.raises(ValueError, match=rf"TensorRT {major} is not supported.*TensorRT 10 or 11"):
            choose_source(major, "fp16")
    with pytest.raises(ValueError, match="unknown engine precision 'bf16'"):
        choose_source(10, "bf16")


def test_make_profile() -> None:
    fixed = make_profile(512, 640, max_batch=4)
    assert fixed == ProfileSpec(min=(1, 3, 512, 640), opt=(1, 3, 512, 640), max=(4, 3, 512, 640))
    assert fixed.as_key() == ((1, 3, 512, 640), (1, 3, 512, 640), (4, 3, 512, 640))
    assert make_profile(512, 640) == ProfileSpec((1, 3, 512, 640), (1, 3, 512, 640), (1, 3, 512, 640))
    dynamic = make_profile(512, 48, max_batch=2, dynamic_hw=True)
    assert dynamic == ProfileSpec(min=(1, 3, 256, 32), opt=(1, 3, 512, 48), max=(2, 3, 512, 48))
    assert make_profile(20, 20, dynamic_hw=True).min == (1, 3, 20, 20)
    for bad in (
        {"height": 0, "width": 8},
        {"height": 8, "width": 8, "max_batch": 0},
        {"height": 8.0, "width": 8},
    ):
        with pytest.raises(ValueError, match="must be a positive integer"):
            make_profile(**bad)  # type: ignore[arg-type]


def test_plan_build_for_tensorrt_10_and_11(tmp_path: Path) -> None:
    bundle = load_bundle(make_bundle(tmp_path / "b"))
    plan10 = plan_build(bundle, "10.3.0", ORIN, "fp16", None, None, max_batch=2)
    assert plan10.onnx_path == bundle.dir / "model.onnx"
    assert plan10.flags == ("FP16",)
    assert not plan10.strongly_typed
    assert plan10.key.model_sha256 == bundle.manifest.files["fp32"].sha256
    assert plan10.key.profile == ((1, 3, HEIGHT, WIDTH), (1, 3, HEIGHT, WIDTH), (2, 3, HEIGHT, WIDTH))
    assert plan10.engine_path == bundle.dir / "engines" / "slag-mnv2.trt10.3.0.orin-nvgpu-sm87.fp16.engine"
    assert plan10.timing_cache == bundle.dir / "engines" / "timing.cache"
    assert stale_reason(plan10.engine_path, plan10.key) == "no engine file"

    plan11 = plan_build(bundle, "11.0.0", ORIN, "fp16", 128, 256, timing_cache=tmp_path / "t.cache")
    assert plan11.onnx_path == bundle.dir / "model.fp16.onnx"
    assert plan11.flags == ()
    assert plan11.strongly_typed
    assert plan11.key.model_sha256 == bundle.manifest.files["fp16"].sha256
    assert plan11.profile.opt == (1, 3, 128, 256)
    assert plan11.timing_cache == tmp_path / "t.cache"
    assert plan11.engine_path.name == engine_filename("slag-mnv2", plan11.key)

    int8 = plan_build(bundle, "10.3.0", ORIN, "int8")
    assert (int8.onnx_path.name, int8.flags) == ("model.int8.onnx", ("INT8", "FP16"))


def test_plan_build_names_the_missing_source_model(tmp_path: Path) -> None:
    bundle = load_bundle(make_bundle(tmp_path / "b", precisions=("fp32", "int8")))
    plan_build(bundle, "10.3.0", ORIN, "fp16")  # TensorRT 10 builds FP16 from model.onnx
    with pytest.raises(BundleError) as info:
        plan_build(bundle, "11.0.0", ORIN, "fp16")
    assert "has no fp16 model" in str(info.value)
    assert "TensorRT 11 builds fp16 engines from model.fp16.onnx" in str(info.value)
    with pytest.raises(ValueError, match="TensorRT 9 is not supported"):
        plan_build(bundle, "9.2.0", ORIN, "fp16")


def test_plan_build_respects_a_static_graph(tmp_path: Path) -> None:
    bundle = load_bundle(make_bundle(tmp_path / "b", precisions=("fp32",), size=(HEIGHT, WIDTH), batch=1))
    plan = plan_build(bundle, "10.3.0", ORIN, "fp32")
    assert plan.profile == ProfileSpec(*([(1, 3, HEIGHT, WIDTH)] * 3))
    with pytest.raises(BundleError, match="static input size 64x96"):
        plan_build(bundle, "10.3.0", ORIN, "fp32", 128, 128)
    with pytest.raises(BundleError, match="static batch of 1, so the engine's max batch must be 1"):
        plan_build(bundle, "10.3.0", ORIN, "fp32", max_batch=4)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Row major linear FP32", "fp32"),
        ("Row major linear FP16 format", "fp16"),
        ("Channel major FP16 format where channel % 8 == 0", "fp16"),
        ("Thirty-two wide channel vectorized row major Int8 format.", "int8"),
        ("Float", "fp32"),
        ("Half", "fp16"),
        ("Row major linear BF16 format", "bf16"),
        ("Row major linear Int32", None),
        ("Row major linear Bool", None),
        ("N/A due to dynamic shapes", None),
        ("", None),
    ],
)
def test_tensor_precision(text: str, expected: str | None) -> None:
    assert tensor_precision(text) == expected


def _tensor(name: str, fmt: str) -> dict[str, object]:
    return {"Name": name, "Location": "Device", "Dimensions": [1, 8, 64, 96], "Format/Datatype": fmt}


INT8 = "Thirty-two wide channel vectorized row major Int8 format"
FP16 = "Channel major FP16 format where channel % 8 == 0"
FP32 = "Row major linear FP32"

INSPECTOR_JSON = json.dumps(
    {
        "Layers": [
            {
                "Name": "Reformatting CopyNode for Input Tensor 0 to q_in",
                "LayerType": "Reformat",
                "Inputs": [_tensor("image", FP32)],
                "Outputs": [_tensor("image_f16", FP16)],
            },
            {
                "Name": "q_in + head/conv",
                "LayerType": "CaskConvolution",
                "Inputs": [_tensor("image_f16", FP16)],
                "Outputs": [_tensor("conv_out", INT8)],
                "TacticName": "sm87_xmma_fprop_implicit_gemm_interleaved_i8i8",
            },
            {
                "Name": "/decoder/Resize",
                "LayerType": "Resize",
                "Inputs": [_tensor("conv_out", FP16)],
                "Outputs": [_tensor("up", FP16)],
            },
            {
                "Name": "/head/Softmax",
                "LayerType": "Softmax",
                "Inputs": [_tensor("up", FP32)],
                "Outputs": [_tensor("logits", FP32)],
            },
            {
                "Name": "shape math",
                "LayerType": "Shuffle",
                "Inputs": [_tensor("s", "Row major linear Int32")],
            },
            {
                "Name": "(Unnamed Layer* 9) [Constant]",
                "LayerType": "Constant",
                "Outputs": [_tensor("c", FP32)],
            },
        ],
        "Bindings": ["image", "logits"],
    },
    indent=2,
)


def test_parse_layer_precisions_reads_the_lowest_precision_of_each_layer() -> None:
    layers = parse_layer_precisions(INSPECTOR_JSON)
    assert [(layer.name, layer.precision) for layer in layers] == [
        ("Reformatting CopyNode for Input Tensor 0 to q_in", "fp16"),
        ("q_in + head/conv", "int8"),
        ("/decoder/Resize", "fp16"),
        ("/head/Softmax", "fp32"),
        ("shape math", None),
        ("(Unnamed Layer* 9) [Constant]", "fp32"),
    ]
    assert layers[1].layer_type == "CaskConvolution"


def test_layers_above_the_requested_precision() -> None:
    layers = parse_layer_precisions(INSPECTOR_JSON)
    assert [layer.name for layer in layers_above(layers, "int8")] == [
        "Reformatting CopyNode for Input Tensor 0 to q_in",
        "/decoder/Resize",
        "/head/Softmax",
    ]
    assert [layer.name for layer in layers_above(layers, "fp16")] == [
        "/head/Softmax"
    ]  # Constant has no kernel
    assert layers_above(layers, "fp32") == []
    with pytest.raises(ValueError, match="unknown precision"):
        layers_above(layers, "fp8")


def test_layer_names_only_verbosity_gives_unknown_precisions() -> None:
    layers = parse_layer_precisions(json.dumps({"Layers": ["conv1 + relu1", "softmax"], "Bindings": []}))
    assert layers == [LayerPrecision("conv1 + relu1", "", None), LayerPrecision("softmax", "", None)]
    assert layers_above(layers, "int8") == []
    assert parse_layer_precisions("{}") == []
    with pytest.raises(ValueError):
        parse_layer_precisions("not json")


def test_log_precision_fallbacks(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="edge.engines.tensorrt_build"):
        above = log_precision_fallbacks(INSPECTOR_JSON, "fp16", "slag.fp16.engine")
    assert [layer.name for layer in above] == ["/head/Softmax"]
    assert "slag.fp16.engine: 1 of 4 layers run above fp16: /head/Softmax [Softmax] fp32" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="edge.engines.tensorrt_build"):
        above = log_precision_fallbacks(INSPECTOR_JSON, "int8", "slag.int8.engine")
    assert len(above) == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "slag.int8.engine: 3 of 4 layers run above the requested int8; the engine is mostly higher "
        "precision (check the bundle's int8 model and the TensorRT log)"
    ]


class _ParserError10:
    """The methods of TensorRT 10's ``ParserError`` (a plain stand-in: the formatting is pure)."""

    def __init__(self, node: int, name: str, op: str, desc: str) -> None:
        self._node, self._name, self._op, self._desc = node, name, op, desc

    def code(self) -> str:
        return "UNSUPPORTED_NODE"

    def desc(self) -> str:
        return self._desc

    def node(self) -> int:
        return self._node

    def node_name(self) -> str:
        return self._name

    def node_operator(self) -> str:
        return self._op


class _ParserError8:
    def desc(self) -> str:
        return "Assertion failed: axes must be constant"

    def node(self) -> int:
        return 12


def test_parser_errors_name_the_node() -> None:
    error = _ParserError10(41, "/aspp/pool/ReduceMean", "ReduceMean", "axes input is not an initializer")
    assert format_parser_error(error) == (
        "node '/aspp/pool/ReduceMean' (ReduceMean): UNSUPPORTED_NODE: axes input is not an initializer"
    )
    assert format_parser_error(_ParserError10(-1, "", "", "model has no graph")) == (
        "graph: UNSUPPORTED_NODE: model has no graph"
    )
    assert format_parser_error(_ParserError8()) == "node '#12': Assertion failed: axes must be constant"


@pytest.mark.skipif(
    HAS_TENSORRT, reason="TensorRT is installed here, so the missing-TensorRT path cannot run"
)
def test_build_engine_command_without_tensorrt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_bundle(tmp_path / "b", precisions=("fp32",))
    code = build_engine_command(folder, "fp16", None, None, 1, 1024, False)
    assert code == EXIT_NO_TENSORRT == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "TensorRT is not available on this machine" in captured.err
    assert "JetPack 6" in captured.err
    assert "pip install 'steelsight[jetson]'" in captured.err
    assert not (folder / "engines").exists()


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_build_a_real_engine_and_reuse_it(tmp_path: Path) -> None:
    pytest.importorskip(
        "tensorrt", reason="TensorRT is not installed (JetPack 6 or pip install steelsight[jetson])"
    )
    if importlib.util.find_spec("pycuda") is None and importlib.util.find_spec("cuda") is None:
        pytest.skip("needs pycuda or cuda-python to query the GPU")
    from edge.engines.tensorrt_build import build_engine

    folder = make_bundle(tmp_path / "b")
    engine = build_engine(folder, "fp16", max_batch=2, workspace_mib=256)
    assert engine.parent == folder / "engines"
    assert engine.is_file()
    assert (folder / "engines" / "timing.cache").is_file()
    record = read_sidecar(engine)
    assert record is not None
    assert record["key"]["precision"] == "fp16"
    mtime = engine.stat().st_mtime_ns
    assert build_engine(folder, "fp16", max_batch=2) == engine  # cached: not rebuilt
    assert engine.stat().st_mtime_ns == mtime
    assert build_engine_command(folder, "int8", None, None, 1, 256, False) == 0
