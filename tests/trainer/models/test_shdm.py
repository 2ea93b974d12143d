"""SHDM-Net specifics: the paper's size, the upsample-first head and the detail branch."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from trainer.export import export_onnx
from trainer.models import build_model, complexity
from trainer.models.backbones import MobileNetV2
from trainer.models.decoders.deeplabv3plus import DeepLabV3Plus
from trainer.models.decoders.shdm import SHDMNet, ShdmOutput

PAPER_R50_PARAMS = 39_763_616


def test_resnet50_shdm_size_matches_the_paper() -> None:
    figures = complexity(build_model("shdm_r50", num_classes=2, separable_aspp=False), None)
    assert figures.params == pytest.approx(PAPER_R50_PARAMS, rel=0.03)
    assert figures.train_params > figures.params  # the detail branch is training-only


@pytest.mark.parametrize("size", [(64, 64), (97, 131)])
def test_training_mode_returns_the_stride4_heatmap(size: tuple[int, int]) -> None:
    model = build_model("shdm_mnv2").train()
    out = model(torch.randn(2, 3, *size))
    assert isinstance(out, ShdmOutput)
    assert out.logits.shape == (2, 2, *size)
    # Stride-4 features of the backbone: each stride-2 conv rounds up.
    expected = tuple(math.ceil(math.ceil(s / 2) / 2) for s in size)
    assert out.detail.shape == (2, 1, *expected)


def test_eval_mode_returns_logits_only() -> None:
    model = build_model("shdm_mnv2").eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))
    assert isinstance(out, torch.Tensor)


def _shdm_and_plain(classifier_kernel: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    backbone = MobileNetV2()
    shdm = SHDMNet(backbone, 2, detail_channels=0, classifier_kernel=classifier_kernel).eval()
    plain = DeepLabV3Plus(MobileNetV2(), 2).eval()
    state = {k: v for k, v in shdm.state_dict().items() if not k.startswith("classifier.")}
    plain.load_state_dict(state, strict=False)
    return shdm, plain


def test_a_1x1_classifier_would_make_the_reordered_head_a_no_op() -> None:
    """Why the head's classifier is 3x3: a 1x1 conv commutes with bilinear upsampling."""
    shdm, plain = _shdm_and_plain(classifier_kernel=1)
    plain.classifier.load_state_dict(shdm.classifier.state_dict())
    x = torch.randn(1, 3, 64, 72)
    with torch.no_grad():
        torch.testing.assert_close(shdm(x), plain(x), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(("arch", "expected_size"), [("shdm_mnv2", (97, 131)), ("dlv3p_mnv2", (25, 33))])
def test_shdm_classifies_at_input_resolution(arch: str, expected_size: tuple[int, int]) -> None:
    model = build_model(arch).eval()
    seen: list[tuple[int, ...]] = []
    model.classifier.register_forward_hook(lambda _m, inputs, _o: seen.append(tuple(inputs[0].shape[-2:])))
    with torch.no_grad():
        model(torch.randn(1, 3, 97, 131))
    assert seen == [expected_size]
    expected_kernel = (3, 3) if arch.startswith("shdm") else (1, 1)
    assert model.classifier.kernel_size == expected_kernel


def _graph_signature(path: Path) -> tuple[list[str], Counter]:
    graph = onnx.load(path).graph
    return [n.op_type for n in graph.node], Counter(tuple(t.dims) for t in graph.initializer)


def test_export_has_no_trace_of_the_detail_branch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    with_branch = build_model("shdm_mnv2", detail_channels=64)
    without = build_model("shdm_mnv2", detail_channels=0)
    missing, unexpected = without.load_state_dict(with_branch.state_dict(), strict=False)
    assert not missing and all(key.startswith("detail_head.") for key in unexpected)

    export_onnx(with_branch, tmp_path / "with.onnx")
    export_onnx(without, tmp_path / "without.onnx")
    assert _graph_signature(tmp_path / "with.onnx") == _graph_signature(tmp_path / "without.onnx")
    graph = onnx.load(tmp_path / "with.onnx").graph
    names = [n.name for n in graph.node] + [t.name for t in graph.initializer]
    assert not [name for name in names if "detail" in name]
    assert [o.name for o in graph.output] == ["logits"]

    image = np.random.default_rng(0).standard_normal((1, 3, 80, 96)).astype(np.float32)
    outputs = [
        ort.InferenceSession(str(tmp_path / f"{name}.onnx")).run(None, {"image": image})[0]
        for name in ("with", "without")
    ]
    np.testing.assert_array_equal(outputs[0], outputs[1])
