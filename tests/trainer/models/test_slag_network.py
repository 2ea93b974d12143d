"""The slag network's size against the figures of Yu & Liu (see DESIGN.md)."""

from __future__ import annotations

import pytest

from trainer.models import build_model, complexity

# The reference implementation's true count; the paper prints it as "22.24 M" (torchsummary MB).
REFERENCE_PARAMS = 5.83e6
REFERENCE_MB = 22.24
SEPARABLE_PARAMS = 3.86e6


def test_regular_aspp_with_ema_matches_reference_count() -> None:
    figures = complexity(build_model("slag_mnv2_dlv3p_ema", separable_aspp=False), None)
    assert figures.params == pytest.approx(REFERENCE_PARAMS, rel=0.01)
    assert figures.megabytes == pytest.approx(REFERENCE_MB, abs=0.05)


def test_separable_aspp_is_the_light_default() -> None:
    model = build_model("slag_mnv2_dlv3p_ema")
    assert model.config.separable_aspp
    assert complexity(model, None).params == pytest.approx(SEPARABLE_PARAMS, rel=0.01)


def test_ema_adds_its_parameters_on_the_320_channel_features() -> None:
    with_ema = complexity(build_model("slag_mnv2_dlv3p_ema"), None).params
    without = complexity(build_model("slag_mnv2_dlv3p_ema", ema_factor=0), None).params
    group = 320 // 8
    # 1x1 conv + 3x3 conv (with biases) + GroupNorm affine, all on one 40-channel group.
    assert with_ema - without == (group * group + group) + (group * group * 9 + group) + 2 * group


def test_macs_are_counted_and_grow_with_output_stride_8() -> None:
    os16 = complexity(build_model("slag_mnv2_dlv3p_ema"), (128, 128)).macs
    os8 = complexity(build_model("slag_mnv2_dlv3p_ema", output_stride=8), (128, 128)).macs
    assert os16 is not None and os8 is not None
    assert 0 < os16 < os8
