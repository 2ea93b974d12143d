"""The registry: one entry point, clear errors for bad names and options."""

from __future__ import annotations

import pytest

from trainer.models import REGISTRY, build_model, model_config


def test_the_documented_networks_are_registered() -> None:
    assert {"slag_mnv2_dlv3p_ema", "shdm_r50", "shdm_mnv2"} <= set(REGISTRY)
    assert {entry.task for entry in REGISTRY.values()} == {"slag", "weld"}


def test_build_records_name_and_config() -> None:
    model = build_model("shdm_mnv2", output_stride=8)
    assert model.arch == "shdm_mnv2"
    assert model.config.output_stride == 8
    assert model.config.num_classes == 2
    assert model.backbone.output_stride == 8


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("slag_net", {}, "unknown network 'slag_net'; registered networks: slag_mnv2_dlv3p_ema"),
        ("shdm_mnv2", {"stride": 8}, "unknown option 'stride' for network 'shdm_mnv2'; options are:"),
        ("shdm_r50", {"width_mult": 0.5}, "width_mult applies to MobileNetV2 only"),
        ("slag_mnv2_dlv3p_ema", {"detail_channels": 32}, "detail_channels applies to SHDM-Net only"),
        ("slag_mnv2_dlv3p_ema", {"output_stride": 32}, "output_stride must be 8 or 16, got 32"),
        ("slag_mnv2_dlv3p_ema", {"head_channels": 100}, "head_channels must be a positive multiple of 8"),
    ],
)
def test_bad_requests_name_the_problem(name: str, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        model_config(name, **options)


def test_num_classes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="num_classes must be at least 1, got 0"):
        build_model("dlv3p_mnv2", num_classes=0)


@pytest.mark.parametrize("name", ["slag_mnv2_dlv3p_ema", "shdm_mnv2"])
def test_head_channels_set_the_aspp_and_decoder_width(name: str) -> None:
    import torch

    full = build_model(name)
    compact = build_model(name, head_channels=128, width_mult=0.5)
    assert compact.classifier.in_channels == 128
    assert sum(p.numel() for p in compact.parameters()) < 0.7 * sum(p.numel() for p in full.parameters())
    logits = compact.eval()(torch.zeros(1, 3, 64, 64))
    logits = logits.logits if hasattr(logits, "logits") else logits
    assert logits.shape == (1, compact.config.num_classes, 64, 64)
