"""``load_bundle`` on real tiny bundles: real ONNX files, real hashes, real manifests in tmp_path."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge.bundle.loader import Bundle, load_bundle
from edge.bundle.manifest import FILE_NAMES, BundleError, file_entry, write_manifest
from tests.edge.bundle.test_manifest import sample_manifest

HEIGHT, WIDTH = 64, 96
DYNAMIC = ("batch", "height", "width")


def make_model(
    path: Path,
    kind: str = "fp32",
    classes: int = 3,
    input_name: str = "image",
    output_name: str = "logits",
    channels: int = 3,
    size: tuple[int | str, int | str] = ("height", "width"),
    batch: int | str = "batch",
    seed: int = 0,
) -> Path:
    """Write a 1x1-conv segmentation model ``[N,channels,H,W] -> [N,classes,H,W]`` in opset 17.

    ``kind`` is ``"fp32"``, ``"fp16"`` (FP16 weights and compute, float32 input
    and output through Casts) or ``"int8"`` (Q/DQ on the input and per-channel
    symmetric INT8 weights).
    """
    rng = np.random.default_rng(seed)
    weight = rng.normal(0, 0.5, (classes, channels, 1, 1)).astype(np.float32)
    bias = rng.normal(0, 0.1, (classes,)).astype(np.float32)
    height, width = size
    image = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, channels, height, width])
    logits = helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [batch, classes, height, width])
    nodes = []
    if kind == "fp32":
        inits = [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")]
        nodes.append(helper.make_node("Conv", [input_name, "w", "b"], [output_name], name="head/conv"))
    elif kind == "fp16":
        inits = [
            numpy_helper.from_array(weight.astype(np.float16), "w"),
            numpy_helper.from_array(bias.astype(np.float16), "b"),
        ]
        nodes += [
            helper.make_node("Cast", [input_name], ["x16"], to=TensorProto.FLOAT16, name="cast_in"),
            helper.make_node("Conv", ["x16", "w", "b"], ["y16"], name="head/conv"),
            helper.make_node("Cast", ["y16"], [output_name], to=TensorProto.FLOAT, name="cast_out"),
        ]
    elif kind == "int8":
        w_scale = (np.abs(weight).reshape(classes, -1).max(axis=1) / 127.0).astype(np.float32)
        w_q = np.clip(np.round(weight / w_scale[:, None, None, None]), -127, 127).astype(np.int8)
        inits = [
            numpy_helper.from_array(w_q, "w_q"),
            numpy_helper.from_array(w_scale, "w_scale"),
            numpy_helper.from_array(np.zeros(classes, np.int8), "w_zero"),
            numpy_helper.from_array(np.array(4.0 / 127, np.float32), "x_scale"),
            numpy_helper.from_array(np.array(0, np.int8), "x_zero"),
            numpy_helper.from_array(bias, "b"),
        ]
        nodes += [
            helper.make_node("QuantizeLinear", [input_name, "x_scale", "x_zero"], ["x_q"], name="q_in"),
            helper.make_node("DequantizeLinear", ["x_q", "x_scale", "x_zero"], ["x_dq"], name="dq_in"),
            helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w_dq"], axis=0, name="dq_w"),
            helper.make_node("Conv", ["x_dq", "w_dq", "b"], [output_name], name="head/conv"),
        ]
    else:
        raise ValueError(kind)
    graph = helper.make_graph(nodes, "tiny-seg", [image], [logits], initializer=inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="steelsight-tests"
    )
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def make_bundle(
    folder: Path,
    precisions: tuple[str, ...] = ("fp32", "fp16", "int8"),
    classes: int = 3,
    **model_options: object,
) -> Path:
    """A complete bundle: the models of ``precisions`` and a manifest with their real hashes."""
    folder.mkdir(parents=True, exist_ok=True)
    for precision in precisions:
        make_model(folder / FILE_NAMES[precision], kind=precision, classes=classes, **model_options)  # type: ignore[arg-type]
    files = {precision: file_entry(folder, precision) for precision in precisions}
    write_manifest(sample_manifest(files=files, classes=classes, height=HEIGHT, width=WIDTH), folder)
    return folder


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    return make_bundle(tmp_path / "slag-bundle")


def _rewrite_manifest(folder: Path, **changes: object) -> None:
    path = folder / "manifest.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def _rehash(folder: Path, precision: str) -> None:
    """Update the manifest for a model file that a test replaced on purpose."""
    data = json.loads((folder / "manifest.json").read_text())
    entry = file_entry(folder, precision)
    data["files"][precision].update(sha256=entry.sha256, size_bytes=entry.size_bytes)
    (folder / "manifest.json").write_text(json.dumps(data))


def test_the_fixture_models_run_in_onnxruntime(bundle_dir: Path) -> None:
    image = np.random.default_rng(1).uniform(-2.0, 2.0, size=(2, 3, HEIGHT, WIDTH)).astype(np.float32)
    outputs = {}
    for precision in ("fp32", "fp16", "int8"):
        session = ort.InferenceSession(
            str(bundle_dir / FILE_NAMES[precision]), providers=["CPUExecutionProvider"]
        )
        assert [i.name for i in session.get_inputs()] == ["image"]
        assert [o.name for o in session.get_outputs()] == ["logits"]
        (outputs[precision],) = session.run(["logits"], {"image": image})
        assert outputs[precision].shape == (2, 3, HEIGHT, WIDTH)
        assert outputs[precision].dtype == np.float32
    np.testing.assert_allclose(outputs["fp16"], outputs["fp32"], atol=2e-2)
    np.testing.assert_allclose(outputs["int8"], outputs["fp32"], atol=0.1)


def test_a_good_bundle_loads(bundle_dir: Path) -> None:
    bundle = load_bundle(bundle_dir)
    assert isinstance(bundle, Bundle)
    assert bundle.dir == bundle_dir
    assert bundle.name == "slag-mnv2"
    assert bundle.precisions == ("fp32", "fp16", "int8")
    assert set(bundle.graphs) == {"fp32", "fp16", "int8"}
    assert bundle.model_path("fp16") == bundle_dir / "model.fp16.onnx"
    assert bundle.graphs["fp32"].input_shape == ("batch", 3, "height", "width")
    assert bundle.graphs["fp32"].output_shape == ("batch", 3, "height", "width")
    assert bundle.graphs["fp32"].static_size is None
    bundle.check_input_size(512, 512)  # dynamic graphs accept any size

    only_int8 = load_bundle(bundle_dir, precision="int8")
    assert set(only_int8.graphs) == {"int8"}


def test_a_tampered_byte_is_a_hash_error_naming_the_file(bundle_dir: Path) -> None:
    path = bundle_dir / "model.fp16.onnx"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError) as info:
        load_bundle(bundle_dir)
    message = str(info.value)
    assert str(path) in message
    assert "sha256 mismatch" in message
    expected = json.loads((bundle_dir / "manifest.json").read_text())["files"]["fp16"]["sha256"]
    assert expected in message
    assert "re-copy the bundle from the desktop export" in message
    load_bundle(bundle_dir, precision="fp32")  # the other models are still fine


def test_a_replaced_model_loads_only_without_hash_verification(bundle_dir: Path) -> None:
    path = bundle_dir / "model.onnx"
    size = path.stat().st_size
    make_model(path, seed=7)  # same structure and size, other weights
    assert path.stat().st_size == size
    with pytest.raises(BundleError, match="sha256 mismatch"):
        load_bundle(bundle_dir, precision="fp32")
    assert load_bundle(bundle_dir, precision="fp32", verify_hashes=False).graphs["fp32"].path == path


def test_a_changed_size_is_refused_without_hashing(bundle_dir: Path) -> None:
    path = bundle_dir / "model.int8.onnx"
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(BundleError, match=r"model\.int8\.onnx: size is \d+ bytes but manifest\.json expects"):
        load_bundle(bundle_dir, precision="fp32", verify_hashes=False)


def test_a_missing_model_file(bundle_dir: Path) -> None:
    (bundle_dir / "model.fp16.onnx").unlink()
    with pytest.raises(BundleError) as info:
        load_bundle(bundle_dir, precision="fp32")
    assert str(bundle_dir / "model.fp16.onnx") in str(info.value)
    assert "files.fp16" in str(info.value)
    assert "re-copy the bundle" in str(info.value)


def test_a_wrong_schema_version(bundle_dir: Path) -> None:
    _rewrite_manifest(bundle_dir, schema="steelsight.bundle/2")
    with pytest.raises(BundleError) as info:
        load_bundle(bundle_dir)
    message = str(info.value)
    assert message.startswith(str(bundle_dir / "manifest.json"))
    assert "'steelsight.bundle/2' is not supported" in message
    assert "'steelsight.bundle/1'" in message


def test_missing_folder_and_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="model bundle folder does not exist"):
        load_bundle(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(BundleError, match="is not a folder"):
        load_bundle(tmp_path / "file")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BundleError) as info:
        load_bundle(empty)
    assert str(empty / "manifest.json") in str(info.value)
    assert "Copy the whole bundle folder" in str(info.value)


def test_invalid_json(bundle_dir: Path) -> None:
    path = bundle_dir / "manifest.json"
    path.write_text(path.read_text()[:-20])
    with pytest.raises(BundleError, match=r"manifest\.json: invalid JSON at line \d+, column \d+"):
        load_bundle(bundle_dir)


def test_a_missing_required_field_is_named(bundle_dir: Path) -> None:
    data = json.loads((bundle_dir / "manifest.json").read_text())
    del data["postprocess"]
    (bundle_dir / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match="required field 'postprocess' is missing"):
        load_bundle(bundle_dir)


def test_a_precision_absent_from_the_bundle(tmp_path: Path) -> None:
    folder = make_bundle(tmp_path / "b", precisions=("fp32", "fp16"))
    with pytest.raises(BundleError) as info:
        load_bundle(folder, precision="int8")
    message = str(info.value)
    assert "has no int8 model" in message
    assert "fp32, fp16" in message
    with pytest.raises(BundleError, match="unknown precision 'fp64'"):
        load_bundle(folder, precision="fp64")
    bundle = load_bundle(folder)
    with pytest.raises(BundleError, match="has no int8 model"):
        bundle.model_path("int8")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"input_name": "input"}, "one input named 'image'"),
        ({"channels": 1}, r"input 'image' has shape \[batch,1,height,width\], expected \[N,3,H,W\]"),
        ({"output_name": "out"}, "one output named 'logits'"),
        ({"size": (32, WIDTH)}, "static height of 32, but manifest.json input.height is 64"),
    ],
)
def test_a_graph_that_breaks_the_contract(tmp_path: Path, options: dict[str, object], expected: str) -> None:
    folder = make_bundle(tmp_path / "b", precisions=("fp32",), **options)
    with pytest.raises(BundleError, match=expected) as info:
        load_bundle(folder)
    assert str(folder / "model.onnx") in str(info.value)
    assert "re-export the bundle" in str(info.value)


def test_a_wrong_class_count(tmp_path: Path) -> None:
    folder = make_bundle(tmp_path / "b", precisions=("fp32",))
    make_model(folder / "model.onnx", classes=2)
    _rehash(folder, "fp32")
    with pytest.raises(BundleError) as info:
        load_bundle(folder)
    message = str(info.value)
    assert "output 'logits' has shape [batch,2,height,width], expected [N,3,H,W]" in message
    assert "3 classes in manifest.json" in message


def test_a_float16_input_is_refused(tmp_path: Path) -> None:
    folder = make_bundle(tmp_path / "b", precisions=("fp32",))
    model = onnx.load(str(folder / "model.onnx"))
    model.graph.input[0].type.tensor_type.elem_type = TensorProto.FLOAT16
    onnx.save(model, str(folder / "model.onnx"))
    _rehash(folder, "fp32")
    with pytest.raises(BundleError, match="'image' has element type FLOAT16, expected FLOAT"):
        load_bundle(folder)


def test_a_file_that_is_not_onnx(tmp_path: Path) -> None:
    folder = make_bundle(tmp_path / "b", precisions=("fp32",))
    (folder / "model.onnx").write_bytes(b"\xff" * 100)
    _rehash(folder, "fp32")
    with pytest.raises(BundleError, match=r"model\.onnx: not a readable ONNX model"):
        load_bundle(folder)


def test_class_ids_must_be_0_to_c_minus_1(bundle_dir: Path) -> None:
    data = json.loads((bundle_dir / "manifest.json").read_text())
    data["classes"][0]["id"], data["classes"][1]["id"] = 1, 0
    (bundle_dir / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match=r"'classes\[0\]\.id' must be 0"):
        load_bundle(bundle_dir)


def test_check_input_size_against_a_static_graph(tmp_path: Path) -> None:
    folder = make_bundle(tmp_path / "b", precisions=("fp32",), size=(HEIGHT, WIDTH), batch=1)
    bundle = load_bundle(folder)
    assert bundle.graphs["fp32"].static_size == (HEIGHT, WIDTH)
    bundle.check_input_size(HEIGHT, WIDTH)
    with pytest.raises(BundleError) as info:
        bundle.check_input_size(512, 512)
    message = str(info.value)
    assert str(folder / "model.onnx") in message
    assert "static input size 64x96" in message
    assert "512x512 was requested" in message
    with pytest.raises(BundleError, match="height must be a positive integer"):
        bundle.check_input_size(0, WIDTH)
    # a bundle object built by hand (no graphs inspected yet) reads the graph on demand
    fresh = replace(bundle, graphs={})
    with pytest.raises(BundleError, match="static input size"):
        fresh.check_input_size(32, 32, precision="fp32")
