"""What every registered network must do; each network's test class is a few lines.

Subclass :class:`ModelContract` in a ``Test*`` class and set ``arch`` and
``num_classes``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from trainer.export import export_onnx, parity
from trainer.models import build_model

# Every op TensorRT 10 parses from ONNX; an op outside this list would break the camera build.
TENSORRT_OPS = {
    "Add", "Cast", "Clip", "Concat", "Constant", "ConstantOfShape", "Conv", "Div", "Equal", "Expand",
    "Gather", "Identity", "InstanceNormalization", "MatMul", "MaxPool", "Mul", "ReduceMean", "Relu",
    "Reshape", "Resize", "Shape", "Sigmoid", "Slice", "Softmax", "Squeeze", "Sub", "Transpose",
    "Unsqueeze", "Where",
}  # fmt: skip

# (height, width): square, and two sizes that are not multiples of 16.
SIZES = [(64, 64), (97, 131), (130, 72)]


class ModelContract:
    """Shared tests; subclasses set the registry name and its class count."""

    arch: str
    num_classes: int

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls) -> torch.nn.Module:
        torch.manual_seed(0)
        return build_model(cls.arch).eval()

    @pytest.fixture(scope="class")
    @classmethod
    def exported(cls, model: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory) -> Path:
        path = tmp_path_factory.mktemp(cls.arch) / "model.onnx"
        export_onnx(model, path, sample_size=(96, 96))
        return path

    @pytest.mark.parametrize("output_stride", [16, 8])
    @pytest.mark.parametrize("batch", [1, 4])
    @pytest.mark.parametrize("size", SIZES)
    def test_output_shape(self, output_stride: int, batch: int, size: tuple[int, int]) -> None:
        model = build_model(self.arch, output_stride=output_stride).eval()
        with torch.no_grad():
            out = model(torch.randn(batch, 3, *size))
        assert out.shape == (batch, self.num_classes, *size)
        assert torch.isfinite(out).all()

    def test_batch_items_are_independent(self, model: torch.nn.Module) -> None:
        images = torch.randn(3, 3, 64, 80)
        with torch.no_grad():
            together = model(images)
            alone = torch.cat([model(image[None]) for image in images])
        torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)

    def test_training_step_reaches_every_parameter(self) -> None:
        torch.manual_seed(0)
        model = build_model(self.arch).train()
        out = model(torch.randn(2, 3, 64, 64))
        logits = out[0] if isinstance(out, tuple) else out
        target = torch.randint(0, self.num_classes, (2, 64, 64))
        loss = torch.nn.functional.cross_entropy(logits, target)
        if isinstance(out, tuple):
            loss = loss + out.detail.square().mean()
        loss.backward()
        dead = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
        assert not dead, f"parameters without gradient: {dead[:5]}"

    def test_onnx_graph_is_opset17_with_dynamic_shapes(self, exported: Path) -> None:
        graph = onnx.load(exported)
        assert [o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")] == [17]
        dims = [
            [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
            for value in (*graph.graph.input, *graph.graph.output)
        ]
        assert dims == [["batch", 3, "height", "width"], ["batch", self.num_classes, "height", "width"]]
        assert [v.name for v in graph.graph.input] == ["image"]
        assert [v.name for v in graph.graph.output] == ["logits"]
        unsupported = {node.op_type for node in graph.graph.node} - TENSORRT_OPS
        assert not unsupported, f"ops TensorRT would not parse: {unsupported}"

    def test_onnx_runtime_matches_pytorch(self, model: torch.nn.Module, exported: Path) -> None:
        rng = np.random.default_rng(1)
        images = [
            rng.standard_normal((2, 3, 128, 160)).astype(np.float32),
            rng.standard_normal((1, 3, 161, 97)).astype(np.float32),
        ]
        report = parity(model, exported, images)
        assert report.max_abs_diff < 1e-4
        assert report.argmax_agreement > 0.999
