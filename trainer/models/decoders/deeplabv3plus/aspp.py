"""Atrous Spatial Pyramid Pooling (Chen et al. 2017/2018)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from trainer.models.blocks import ConvBNAct, SeparableConvBNAct

BASE_RATES = (6, 12, 18)


def atrous_rates(output_stride: int) -> tuple[int, ...]:
    """ASPP rates for a backbone output stride: (6, 12, 18) at 16, doubled at 8, halved at 32."""
    if output_stride not in (8, 16, 32):
        raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride!r}")
    return tuple(rate * 16 // output_stride for rate in BASE_RATES)


class ImagePooling(nn.Module):
    """Global average (written as ``mean``) -> 1x1 conv -> BN -> ReLU -> broadcast back."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.project = ConvBNAct(in_channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        pooled = self.project(x.mean((2, 3), keepdim=True))
        return pooled.expand(-1, -1, x.shape[2], x.shape[3])


class ASPP(nn.Module):
    """1x1 branch, three 3x3 atrous branches and image pooling, fused by a 1x1 conv.

    Parameters
    ----------
    in_channels
        Channels of the high-level features.
    out_channels
        Channels of every branch and of the output (256 in DeepLab).
    rates
        Dilation rates of the three atrous branches.
    separable
        Depthwise-separable atrous branches (the light networks); ``False``
        builds regular 3x3 convs as in the papers' baselines.
    dropout
        Dropout after the fusing conv (training only).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 256,
        rates: tuple[int, ...] = BASE_RATES,
        separable: bool = True,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        branches: list[nn.Module] = [ConvBNAct(in_channels, out_channels, 1)]
        for rate in rates:
            if separable:
                branches.append(SeparableConvBNAct(in_channels, out_channels, 3, dilation=rate))
            else:
                branches.append(ConvBNAct(in_channels, out_channels, 3, dilation=rate))
        branches.append(ImagePooling(in_channels, out_channels))
        self.branches = nn.ModuleList(branches)
        self.project = nn.Sequential(
            ConvBNAct(out_channels * len(branches), out_channels, 1), nn.Dropout(dropout)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.project(torch.cat([branch(x) for branch in self.branches], dim=1))
