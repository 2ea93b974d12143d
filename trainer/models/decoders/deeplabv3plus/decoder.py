"""DeepLabV3+ decoder: fuse upsampled ASPP features with projected stride-4 features."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trainer.models.blocks import ConvBNAct


class DeepLabV3PlusDecoder(nn.Module):
    """Project low-level features to ``low_level_projection`` channels, concatenate
    with the ASPP output upsampled to their size, refine with two 3x3 convs.

    Parameters
    ----------
    low_level_channels
        Channels of the stride-4 backbone features.
    aspp_channels
        Channels of the ASPP output.
    out_channels
        Channels of the decoded stride-4 features (256 in DeepLab).
    low_level_projection
        Channels the low-level features are projected to (48 in DeepLab).
    """

    def __init__(
        self,
        low_level_channels: int,
        aspp_channels: int = 256,
        out_channels: int = 256,
        low_level_projection: int = 48,
    ) -> None:
        super().__init__()
        self.low_level = ConvBNAct(low_level_channels, low_level_projection, 1)
        self.fuse = nn.Sequential(
            ConvBNAct(low_level_projection + aspp_channels, out_channels, 3),
            nn.Dropout(0.5),
            ConvBNAct(out_channels, out_channels, 3),
            nn.Dropout(0.1),
        )

    def forward(self, low: Tensor, high: Tensor) -> Tensor:
        high = F.interpolate(high, size=low.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(torch.cat([self.low_level(low), high], dim=1))
