"""FP16 bundle model: half-precision weights, float32 I/O, fragile ops in float32, same answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto

from trainer.data.augment import normalize
from trainer.export import export_onnx
from trainer.export.fp16 import DEFAULT_KEEP_FP32_OPS, Fp16ConversionError, convert_fp16, fp32_op_types
from trainer.models import build_model
from trainer.synth import render_slag


@pytest.fixture(scope="module")
def fp32_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The slag network (EMA attention: Softmax, MatMul, GroupNorm) exported at 64x64."""
    path = tmp_path_factory.mktemp("fp16") / "model.onnx"
    torch_model = build_model("slag_mnv2_dlv3p_ema", width_mult=0.5).eval()
    export_onnx(torch_model, path, sample_size=(64, 64))
    return path


@pytest.fixture(scope="module")
def fp16_path(fp32_path: Path) -> Path:
    path = fp32_path.with_name("model.fp16.onnx")
    convert_fp16(fp32_path, path)
    return path


def _images(size: tuple[int, int]) -> np.ndarray:
    scenes = [render_slag(11, index, size) for index in range(2)]
    return np.stack(
        [normalize(scene.image, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)) for scene in scenes]
    )


def _run(path: Path, images: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": images})[0]


def test_weights_are_half_and_io_is_float32(fp16_path: Path) -> None:
    model = onnx.load(fp16_path)
    floats = [t for t in model.graph.initializer if t.data_type in (TensorProto.FLOAT, TensorProto.FLOAT16)]
    half = [t for t in floats if t.data_type == TensorProto.FLOAT16]
    assert len(half) > 0.9 * len(floats)
    conv_weights = {node.input[1] for node in model.graph.node if node.op_type == "Conv"}
    assert conv_weights and all(
        t.data_type == TensorProto.FLOAT16 for t in model.graph.initializer if t.name in conv_weights
    )
    assert [(v.name, v.type.tensor_type.elem_type) for v in model.graph.input] == [
        ("image", TensorProto.FLOAT)
    ]
    assert [(v.name, v.type.tensor_type.elem_type) for v in model.graph.output] == [
        ("logits", TensorProto.FLOAT)
    ]
    dims = model.graph.output[0].type.tensor_type.shape.dim
    assert dims[1].dim_value == 3  # the class dimension stays static for the runtime's check


def test_fragile_ops_stay_float32(fp16_path: Path) -> None:
    kept = fp32_op_types(onnx.load(fp16_path))
    assert {"Softmax", "MatMul", "InstanceNormalization", "Resize", "ReduceMean"} <= set(kept)
    assert "Conv" not in kept
    assert set(DEFAULT_KEEP_FP32_OPS) >= {"Softmax", "MatMul", "InstanceNormalization", "Resize"}


@pytest.mark.parametrize("size", [(64, 64), (64, 96)])
def test_fp16_agrees_with_fp32(fp32_path: Path, fp16_path: Path, size: tuple[int, int]) -> None:
    images = _images(size)
    reference, half = _run(fp32_path, images), _run(fp16_path, images)
    assert half.dtype == np.float32 and half.shape == reference.shape == (2, 3, *size)
    scale = float(np.abs(reference).max())
    np.testing.assert_allclose(half, reference, rtol=0, atol=1e-6 + 2e-2 * scale)
    assert (half.argmax(1) == reference.argmax(1)).mean() >= 0.98


def test_bad_inputs_are_refused(fp32_path: Path, fp16_path: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="export it with export_onnx"):
        convert_fp16(tmp_path / "missing.onnx", tmp_path / "out.onnx")
    with pytest.raises(Fp16ConversionError, match="keep_fp32_nodes names nodes that are not in"):
        convert_fp16(fp32_path, tmp_path / "out.onnx", keep_fp32_nodes=["/no/such/Conv"])
    with pytest.raises(Fp16ConversionError, match="already converted to float16"):
        convert_fp16(fp16_path, tmp_path / "again.onnx")
    assert not (tmp_path / "out.onnx").exists()


def test_named_nodes_can_stay_float32(fp32_path: Path, tmp_path: Path) -> None:
    first_conv = next(node.name for node in onnx.load(fp32_path).graph.node if node.op_type == "Conv")
    model = convert_fp16(fp32_path, tmp_path / "keep.onnx", keep_fp32_ops=(), keep_fp32_nodes=[first_conv])
    weight = next(node.input[1] for node in model.graph.node if node.name == first_conv)
    assert next(t for t in model.graph.initializer if t.name == weight).data_type == TensorProto.FLOAT
    # Resize is on onnxconverter-common's own block list, so it stays float32 with an empty op list.
    assert "Resize" in fp32_op_types(model)
    assert model.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
