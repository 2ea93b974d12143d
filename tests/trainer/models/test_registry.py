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
    ],
)
def test_bad_requests_name_the_problem(name: str, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        model_config(name, **options)


def test_num_classes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="num_classes must be at least 1, got 0"):
        build_model("dlv3p_mnv2", num_classes=0)
