"""Efficient Multi-scale Attention (EMA; Ouyang et al., ICASSP 2023).

The channels are split into ``factor`` groups folded into the batch. Per group:

* a 1x1 branch pools along height and along width (directional averages),
  mixes the two pooled strips with a shared 1x1 conv and gates the group with
  their sigmoids (coordinate-attention style), then group-normalizes;
* a 3x3 branch convolves the group to capture local multi-scale context;
* cross-spatial learning: each branch's globally pooled channel descriptor,
  softmaxed over channels, weights the other branch's spatial map; the two
  products are summed into one spatial attention map that gates the group.

Written for export: pooling is ``mean(..., keepdim=True)`` and every reshape
keeps the spatial size symbolic, so the ONNX graph has dynamic H and W.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class EMA(nn.Module):
    """Efficient Multi-scale Attention over ``channels`` split into ``factor`` groups.

    Parameters
    ----------
    channels
        Input (and output) channels; must be divisible by ``factor``.
    factor
        Number of channel groups (8 in the paper and in the slag network).
    """

    def __init__(self, channels: int, factor: int = 8) -> None:
        super().__init__()
        if factor <= 0 or channels % factor != 0:
            raise ValueError(
                f"EMA needs channels divisible by factor, got channels={channels} and "
                f"factor={factor}; choose a factor that divides {channels}"
            )
        self.groups = factor
        group_channels = channels // factor
        self.group_channels = group_channels
        self.conv1x1 = nn.Conv2d(group_channels, group_channels, 1)
        self.conv3x3 = nn.Conv2d(group_channels, group_channels, 3, padding=1)
        self.norm = nn.GroupNorm(group_channels, group_channels)

    def forward(self, x: Tensor) -> Tensor:
        channels, height, width = x.shape[1], x.shape[2], x.shape[3]
        grouped = x.reshape(-1, self.group_channels, height, width)

        # 1x1 branch: directional pooling, shared 1x1 conv, sigmoid gates.
        along_h = grouped.mean(3, keepdim=True)  # [BG, Cg, H, 1]
        along_w = grouped.mean(2, keepdim=True).transpose(2, 3)  # [BG, Cg, W, 1]
        mixed = self.conv1x1(torch.cat([along_h, along_w], dim=2))
        gate_h = mixed[:, :, :height].sigmoid()
        gate_w = mixed[:, :, height:].transpose(2, 3).sigmoid()
        branch1 = self.norm(grouped * gate_h * gate_w)

        # 3x3 branch: local context.
        branch3 = self.conv3x3(grouped)

        # Cross-spatial learning: channel descriptor of one branch x spatial map of the other.
        descriptor1 = branch1.mean((2, 3)).softmax(-1).unsqueeze(1)  # [BG, 1, Cg]
        descriptor3 = branch3.mean((2, 3)).softmax(-1).unsqueeze(1)
        spatial1 = branch1.flatten(2)  # [BG, Cg, H*W]
        spatial3 = branch3.flatten(2)
        weights = torch.matmul(descriptor1, spatial3) + torch.matmul(descriptor3, spatial1)
        weights = weights.reshape(-1, 1, height, width).sigmoid()
        return (grouped * weights).reshape(-1, channels, height, width)
