"""DeepLabV3+ (Chen et al. 2018) over any :class:`~trainer.models.backbones.base.Backbone`."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from trainer.models.backbones.base import Backbone
from trainer.models.decoders.deeplabv3plus.aspp import ASPP, atrous_rates
from trainer.models.decoders.deeplabv3plus.decoder import DeepLabV3PlusDecoder


class DeepLabV3Plus(nn.Module):
    """Backbone -> [attention] -> ASPP -> decoder -> classifier -> upsample.

    Parameters
    ----------
    backbone
        Feature extractor returning ``(stride-4, high-level)`` features.
    num_classes
        Output channels of the classifier (>= 1).
    separable_aspp
        Depthwise-separable atrous ASPP branches; ``False`` for regular convs.
    attention
        Optional module applied to the high-level features before ASPP
        (EMA in the slag network); must keep the shape.
    aspp_channels, decoder_channels, low_level_projection
        Widths of ASPP, of the decoder and of the low-level projection.

    Notes
    -----
    ``forward`` returns logits ``[N, num_classes, H, W]`` at input size for any
    H and W (they need not be multiples of the output stride).
    """

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int,
        separable_aspp: bool = True,
        attention: nn.Module | None = None,
        aspp_channels: int = 256,
        decoder_channels: int = 256,
        low_level_projection: int = 48,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes!r}")
        self.num_classes = num_classes
        self.backbone = backbone
        self.attention = attention if attention is not None else nn.Identity()
        self.aspp = ASPP(
            backbone.high_level_channels,
            aspp_channels,
            rates=atrous_rates(backbone.output_stride),
            separable=separable_aspp,
        )
        self.decoder = DeepLabV3PlusDecoder(
            backbone.low_level_channels, aspp_channels, decoder_channels, low_level_projection
        )
        self.classifier = nn.Conv2d(decoder_channels, num_classes, 1)

    def decode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(low_level, decoded)``: stride-4 backbone and decoder features."""
        low, high = self.backbone(x)
        high = self.aspp(self.attention(high))
        return low, self.decoder(low, high)

    def forward(self, x: Tensor) -> Tensor:
        _, decoded = self.decode(x)
        logits = self.classifier(decoded)
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
