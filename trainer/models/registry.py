"""One entry point that builds every network from a name and options.

The trainer, the exporter, the tests and the benchmarks all call
:func:`build_model`, so a network means the same thing everywhere.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from torch import nn

from trainer.models.attention.ema import EMA
from trainer.models.backbones.base import Backbone
from trainer.models.backbones.mobilenetv2 import MobileNetV2
from trainer.models.backbones.resnet import ResNet50
from trainer.models.decoders.deeplabv3plus.model import DeepLabV3Plus
from trainer.models.decoders.shdm.model import SHDMNet
from trainer.models.pretrained import load_torchvision_backbone


@dataclass(frozen=True)
class ModelConfig:
    """Options of a registered network; every field can be overridden by name.

    Attributes
    ----------
    num_classes
        Classifier outputs (slag: 3, weld: 2).
    output_stride
        Backbone output stride, 16 or 8.
    separable_aspp
        Depthwise-separable atrous ASPP branches (``False``: regular 3x3 convs).
    ema_factor
        EMA attention groups on the high-level features; 0 disables EMA.
    width_mult
        MobileNetV2 width multiplier (must stay 1.0 for ResNet-50).
    detail_channels
        SHDM detail-guidance branch width (0 removes the branch; SHDM only).
    head_channels
        Width of the ASPP and of the decoder (256 in the papers). Smaller heads
        make compact networks such as the committed demo bundle (128 with
        ``width_mult = 0.5``).
    """

    num_classes: int
    output_stride: int = 16
    separable_aspp: bool = True
    ema_factor: int = 0
    width_mult: float = 1.0
    detail_channels: int = 64
    head_channels: int = 256


@dataclass(frozen=True)
class ModelEntry:
    """A registered network: how to build it and what it is for."""

    name: str
    summary: str
    task: Literal["slag", "weld"]
    backbone: Literal["mobilenetv2", "resnet50"]
    head: Literal["deeplabv3plus", "shdm"]
    defaults: ModelConfig


_ENTRIES = (
    ModelEntry(
        "slag_mnv2_dlv3p_ema",
        "slag network: MobileNetV2 DeepLabV3+, separable ASPP, EMA attention (Yu & Liu)",
        "slag",
        "mobilenetv2",
        "deeplabv3plus",
        ModelConfig(num_classes=3, ema_factor=8),
    ),
    ModelEntry(
        "dlv3p_mnv2",
        "baseline: plain MobileNetV2 DeepLabV3+, regular ASPP, no attention",
        "slag",
        "mobilenetv2",
        "deeplabv3plus",
        ModelConfig(num_classes=3, separable_aspp=False),
    ),
    ModelEntry(
        "shdm_r50",
        "weld network: ResNet-50 SHDM-Net, regular ASPP (Wang & Mei)",
        "weld",
        "resnet50",
        "shdm",
        ModelConfig(num_classes=2, separable_aspp=False),
    ),
    ModelEntry(
        "shdm_mnv2",
        "weld network, light variant: MobileNetV2 SHDM-Net, separable ASPP",
        "weld",
        "mobilenetv2",
        "shdm",
        ModelConfig(num_classes=2),
    ),
    ModelEntry(
        "dlv3p_r50",
        "baseline: plain ResNet-50 DeepLabV3+, regular ASPP",
        "weld",
        "resnet50",
        "deeplabv3plus",
        ModelConfig(num_classes=2, separable_aspp=False),
    ),
)
REGISTRY: dict[str, ModelEntry] = {entry.name: entry for entry in _ENTRIES}
_OPTION_NAMES = tuple(field.name for field in dataclasses.fields(ModelConfig))


def model_config(name: str, **overrides: Any) -> ModelConfig:
    """The configuration a network is built with: registry defaults plus overrides.

    Raises
    ------
    ValueError
        For an unknown network name or option, or an option that does not
        apply to the network, naming it and what is accepted.
    """
    if name not in REGISTRY:
        raise ValueError(f"unknown network {name!r}; registered networks: {', '.join(REGISTRY)}")
    entry = REGISTRY[name]
    unknown = [key for key in overrides if key not in _OPTION_NAMES]
    if unknown:
        raise ValueError(
            f"unknown option {unknown[0]!r} for network {name!r}; options are: {', '.join(_OPTION_NAMES)}"
        )
    config = dataclasses.replace(entry.defaults, **overrides)
    if entry.backbone == "resnet50" and config.width_mult != 1.0:
        raise ValueError(f"width_mult applies to MobileNetV2 only; {name!r} uses ResNet-50, leave it at 1.0")
    if entry.head != "shdm" and "detail_channels" in overrides:
        raise ValueError(f"detail_channels applies to SHDM-Net only; {name!r} is a {entry.head} network")
    if config.head_channels < 8 or config.head_channels % 8:
        raise ValueError(f"head_channels must be a positive multiple of 8, got {config.head_channels!r}")
    if config.output_stride not in (8, 16):
        raise ValueError(f"output_stride must be 8 or 16, got {config.output_stride!r}")
    return config


def build_model(name: str, pretrained: str | Path | None = None, **overrides: Any) -> nn.Module:
    """Build a registered network.

    Parameters
    ----------
    name
        A key of :data:`REGISTRY` (``steelsight-train models`` lists them).
    pretrained
        Optional path of a local torchvision ImageNet checkpoint of the
        backbone (MobileNetV2 or ResNet-50); nothing is ever downloaded.
    **overrides
        Fields of :class:`ModelConfig` to change from the network's defaults.

    Returns
    -------
    torch.nn.Module
        The network in training mode, with ``arch`` (its name) and ``config``
        (the :class:`ModelConfig`) attributes for checkpoints and export.
    """
    return build_from_config(name, model_config(name, **overrides), pretrained)


def build_from_config(
    name: str, config: ModelConfig | dict[str, Any], pretrained: str | Path | None = None
) -> nn.Module:
    """Build a registered network from a complete stored configuration (e.g. a checkpoint's).

    Unlike :func:`build_model` this takes every field as given, so a config
    saved with a network can rebuild exactly that network.
    """
    if name not in REGISTRY:
        raise ValueError(f"unknown network {name!r}; registered networks: {', '.join(REGISTRY)}")
    if isinstance(config, dict):
        config = ModelConfig(**config)
    entry = REGISTRY[name]
    backbone: Backbone
    if entry.backbone == "mobilenetv2":
        backbone = MobileNetV2(config.output_stride, config.width_mult)
    else:
        backbone = ResNet50(config.output_stride)
    if pretrained is not None:
        load_torchvision_backbone(backbone, pretrained)
    attention = EMA(backbone.high_level_channels, config.ema_factor) if config.ema_factor else None
    common = {
        "separable_aspp": config.separable_aspp,
        "attention": attention,
        "aspp_channels": config.head_channels,
        "decoder_channels": config.head_channels,
    }
    model: DeepLabV3Plus
    if entry.head == "shdm":
        model = SHDMNet(backbone, config.num_classes, detail_channels=config.detail_channels, **common)
    else:
        model = DeepLabV3Plus(backbone, config.num_classes, **common)
    model.arch = name
    model.config = config
    return model
