"""Backbones: strides, channels, torchvision layout and sizes."""

from __future__ import annotations

import pytest
import torch

from trainer.models.backbones import MobileNetV2, ResNet50
from trainer.models.backbones.base import dilation_schedule

# Parameter counts of torchvision's ImageNet models minus the parts we do not build
# (torchvision mobilenet_v2: 3,504,872 total, classifier 1,281,000, features.18 412,160;
# resnet50: 25,557,032 total, fc 2,049,000).
MOBILENETV2_FEATURES_0_17 = 3_504_872 - 1_281_000 - 412_160
RESNET50_WITHOUT_FC = 25_557_032 - 2_049_000

# A sample of torchvision's key names and shapes, written down from its models.
TORCHVISION_MOBILENETV2_KEYS = {
    "features.0.0.weight": (32, 3, 3, 3),
    "features.0.1.running_var": (32,),
    "features.1.conv.0.0.weight": (32, 1, 3, 3),
    "features.1.conv.1.weight": (16, 32, 1, 1),
    "features.1.conv.2.bias": (16,),
    "features.2.conv.0.0.weight": (96, 16, 1, 1),
    "features.2.conv.1.0.weight": (96, 1, 3, 3),
    "features.2.conv.2.weight": (24, 96, 1, 1),
    "features.2.conv.3.num_batches_tracked": (),
    "features.17.conv.2.weight": (320, 960, 1, 1),
}
TORCHVISION_RESNET50_KEYS = {
    "conv1.weight": (64, 3, 7, 7),
    "bn1.running_mean": (64,),
    "layer1.0.downsample.0.weight": (256, 64, 1, 1),
    "layer1.0.downsample.1.weight": (256,),
    "layer2.0.conv2.weight": (128, 128, 3, 3),
    "layer3.5.bn3.running_var": (1024,),
    "layer4.2.conv3.weight": (2048, 512, 1, 1),
}


@pytest.mark.parametrize(
    ("output_stride", "expected"),
    [
        (32, [(2, 1, 1), (2, 1, 1), (2, 1, 1), (2, 1, 1)]),
        (16, [(2, 1, 1), (2, 1, 1), (2, 1, 1), (1, 1, 2)]),
        (8, [(2, 1, 1), (2, 1, 1), (1, 1, 2), (1, 2, 4)]),
    ],
)
def test_dilation_schedule_follows_deeplab(output_stride: int, expected: list) -> None:
    assert dilation_schedule(output_stride, [2, 2, 2, 2, 2])[1:] == expected


def test_dilation_schedule_rejects_other_strides() -> None:
    with pytest.raises(ValueError, match="output_stride must be 8, 16 or 32, got 4"):
        dilation_schedule(4, [2, 2])


@pytest.mark.parametrize("backbone_cls", [MobileNetV2, ResNet50])
@pytest.mark.parametrize("output_stride", [8, 16, 32])
def test_feature_strides(backbone_cls: type, output_stride: int) -> None:
    backbone = backbone_cls(output_stride=output_stride).eval()
    with torch.no_grad():
        low, high = backbone(torch.randn(1, 3, 128, 192))
    assert low.shape == (1, backbone.low_level_channels, 32, 48)
    assert high.shape == (1, backbone.high_level_channels, 128 // output_stride, 192 // output_stride)


def test_mobilenetv2_matches_torchvision_layout_and_size() -> None:
    backbone = MobileNetV2()
    state = backbone.state_dict()
    for key, shape in TORCHVISION_MOBILENETV2_KEYS.items():
        assert tuple(state[key].shape) == shape, key
    assert not [k for k in state if k.startswith(MobileNetV2.torchvision_unused_prefixes)]
    assert sum(p.numel() for p in backbone.parameters()) == MOBILENETV2_FEATURES_0_17
    assert (backbone.low_level_channels, backbone.high_level_channels) == (24, 320)


def test_resnet50_matches_torchvision_layout_and_size() -> None:
    backbone = ResNet50()
    state = backbone.state_dict()
    for key, shape in TORCHVISION_RESNET50_KEYS.items():
        assert tuple(state[key].shape) == shape, key
    assert sum(p.numel() for p in backbone.parameters()) == RESNET50_WITHOUT_FC
    assert (backbone.low_level_channels, backbone.high_level_channels) == (256, 2048)


def test_dilation_changes_no_weights() -> None:
    """OS8/16 only change strides and dilations, so ImageNet weights fit every variant."""
    for cls in (MobileNetV2, ResNet50):
        shapes = [{k: v.shape for k, v in cls(output_stride=s).state_dict().items()} for s in (8, 16, 32)]
        assert shapes[0] == shapes[1] == shapes[2]


@pytest.mark.parametrize(("width_mult", "low", "high"), [(0.5, 16, 160), (0.75, 24, 240), (1.4, 32, 448)])
def test_mobilenetv2_width_multiplier(width_mult: float, low: int, high: int) -> None:
    backbone = MobileNetV2(width_mult=width_mult).eval()
    assert (backbone.low_level_channels, backbone.high_level_channels) == (low, high)
    with torch.no_grad():
        low_features, high_features = backbone(torch.randn(1, 3, 64, 64))
    assert low_features.shape[1] == low and high_features.shape[1] == high


def test_mobilenetv2_rejects_a_bad_width() -> None:
    with pytest.raises(ValueError, match="width_mult must be positive"):
        MobileNetV2(width_mult=0)
