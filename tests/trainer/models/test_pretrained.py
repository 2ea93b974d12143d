"""Loading local torchvision-layout ImageNet checkpoints into the backbones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from trainer.models import PretrainedMismatchError, build_model, load_torchvision_backbone
from trainer.models.backbones import MobileNetV2, ResNet50


def _torchvision_checkpoint(arch: str, path: Path, **options: object) -> dict[str, torch.Tensor]:
    """Save the backbone of ``arch`` as torchvision names it, classifier parts included."""
    torch.manual_seed(1)
    source = build_model(arch, **options)
    state = {
        key.removeprefix("backbone."): value.clone()
        for key, value in source.state_dict().items()
        if key.startswith("backbone.")
    }
    if isinstance(source.backbone, MobileNetV2):
        channels = state["features.17.conv.2.weight"].shape[0]
        state["features.18.0.weight"] = torch.randn(1280, channels, 1, 1)
        state["features.18.1.weight"] = torch.ones(1280)
        state["classifier.1.weight"] = torch.randn(1000, 1280)
        state["classifier.1.bias"] = torch.zeros(1000)
    else:
        state["fc.weight"] = torch.randn(1000, 2048)
        state["fc.bias"] = torch.zeros(1000)
    torch.save(state, path)
    return state


@pytest.mark.parametrize("arch", ["slag_mnv2_dlv3p_ema", "shdm_r50"])
def test_torchvision_checkpoint_loads(arch: str, tmp_path: Path) -> None:
    path = tmp_path / "imagenet.pth"
    saved = _torchvision_checkpoint(arch, path)
    torch.manual_seed(2)
    model = build_model(arch, pretrained=path)
    loaded = model.backbone.state_dict()
    for key, value in loaded.items():
        torch.testing.assert_close(value, saved[key], msg=key)


def test_wrapped_and_dataparallel_checkpoints_load(tmp_path: Path) -> None:
    plain = tmp_path / "plain.pth"
    state = _torchvision_checkpoint("shdm_mnv2", plain)
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 90}, wrapped)
    backbone = MobileNetV2()
    skipped = load_torchvision_backbone(backbone, wrapped)
    assert set(skipped) == {k for k in state if k.startswith(("features.18.", "classifier."))}
    torch.testing.assert_close(
        backbone.state_dict()["features.5.conv.1.0.weight"], state["features.5.conv.1.0.weight"]
    )


def test_renamed_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "renamed.pth"
    state = _torchvision_checkpoint("shdm_r50", path)
    state["layer2.0.conv9.weight"] = state.pop("layer2.0.conv2.weight")
    torch.save(state, path)
    with pytest.raises(PretrainedMismatchError, match=re.escape("unexpected key 'layer2.0.conv9.weight'")):
        load_torchvision_backbone(ResNet50(), path)


def test_missing_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "missing.pth"
    state = _torchvision_checkpoint("shdm_r50", path)
    del state["layer3.1.bn2.running_mean"]
    torch.save(state, path)
    with pytest.raises(PretrainedMismatchError, match=re.escape("missing key 'layer3.1.bn2.running_mean'")):
        load_torchvision_backbone(ResNet50(), path)


def test_wrong_width_names_the_first_key_and_shapes(tmp_path: Path) -> None:
    path = tmp_path / "half.pth"
    _torchvision_checkpoint("slag_mnv2_dlv3p_ema", path, width_mult=0.5)
    with pytest.raises(
        PretrainedMismatchError, match=r"'features.0.0.weight'.*\(16, 3, 3, 3\).*\(32, 3, 3, 3\)"
    ):
        load_torchvision_backbone(MobileNetV2(), path)


def test_resnet_checkpoint_into_mobilenet_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "resnet.pth"
    _torchvision_checkpoint("shdm_r50", path)
    with pytest.raises(PretrainedMismatchError, match=r"unexpected key 'conv1\.weight'.*MobileNetV2"):
        load_torchvision_backbone(MobileNetV2(), path)


def test_a_failed_load_leaves_the_backbone_untouched(tmp_path: Path) -> None:
    path = tmp_path / "missing.pth"
    state = _torchvision_checkpoint("shdm_mnv2", path)
    del state["features.17.conv.3.bias"]
    torch.save(state, path)
    backbone = MobileNetV2()
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    with pytest.raises(PretrainedMismatchError):
        load_torchvision_backbone(backbone, path)
    for key, value in backbone.state_dict().items():
        torch.testing.assert_close(value, before[key])


def test_missing_file_and_garbage_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        load_torchvision_backbone(MobileNetV2(), tmp_path / "nope.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(PretrainedMismatchError, match=r"cannot read .*garbage\.pth"):
        load_torchvision_backbone(MobileNetV2(), garbage)
    not_a_state_dict = tmp_path / "list.pth"
    torch.save([1, 2, 3], not_a_state_dict)
    with pytest.raises(PretrainedMismatchError, match="does not hold a state dict"):
        load_torchvision_backbone(MobileNetV2(), not_a_state_dict)
