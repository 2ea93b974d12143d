"""EMA attention: shape, grouping and export-friendliness."""

from __future__ import annotations

import pytest
import torch

from trainer.models.attention import EMA


def test_keeps_shape_for_any_spatial_size() -> None:
    ema = EMA(64, factor=8).eval()
    for size in [(1, 1), (7, 13), (32, 32)]:
        x = torch.randn(2, 64, *size)
        assert ema(x).shape == x.shape


def test_groups_share_weights_and_do_not_mix() -> None:
    """Permuting whole channel groups of the input permutes the output the same way."""
    torch.manual_seed(0)
    ema = EMA(32, factor=4).eval()
    x = torch.randn(1, 32, 9, 11)
    order = torch.tensor([2, 0, 3, 1])
    permuted = x.reshape(1, 4, 8, 9, 11)[:, order].reshape(1, 32, 9, 11)
    with torch.no_grad():
        expected = ema(x).reshape(1, 4, 8, 9, 11)[:, order].reshape(1, 32, 9, 11)
        torch.testing.assert_close(ema(permuted), expected)


def test_output_is_a_gated_input() -> None:
    """EMA re-weights its input by a sigmoid gate, so |out| <= |in| element-wise."""
    ema = EMA(16, factor=2).eval()
    x = torch.randn(2, 16, 10, 10)
    with torch.no_grad():
        out = ema(x)
    assert (out.abs() <= x.abs() + 1e-6).all()
    assert not torch.allclose(out, x)


def test_rejects_channels_not_divisible_by_factor() -> None:
    with pytest.raises(ValueError, match="channels=30 and factor=8"):
        EMA(30, factor=8)


def test_uses_no_adaptive_pooling() -> None:
    assert not [m for m in EMA(64).modules() if "Adaptive" in type(m).__name__]
