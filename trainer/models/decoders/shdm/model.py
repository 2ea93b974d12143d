"""SHDM-Net (Wang & Mei): DeepLabV3+ with an upsample-first head and detail guidance.

Differences from :class:`DeepLabV3Plus`:

1. the decoded stride-4 features are upsampled to the input size *before* the
   classifier conv, so the class boundary is decided at full resolution. The
   classifier is a 3x3 conv: a 1x1 classifier is a per-pixel affine map and
   commutes exactly with bilinear upsampling (its weights sum to one), so with
   a 1x1 kernel the reordered head would compute the same logits as
   DeepLabV3+'s classify-then-upsample, only slower;
2. a detail-guidance branch on the stride-4 backbone features predicts a
   Gaussian boundary heatmap. It only runs in training mode, where ``forward``
   returns :class:`ShdmOutput`; in eval mode (and so in every exported graph)
   ``forward`` returns the logits alone and the branch is never executed.

The loss (0.8 focal + 0.2 heatmap MSE) and the matting refinement live with
the trainer and the edge runtime, not in the network.
"""

from __future__ import annotations

from typing import NamedTuple

import torch.nn.functional as F
from torch import Tensor, nn

from trainer.models.backbones.base import Backbone
from trainer.models.blocks import ConvBNAct
from trainer.models.decoders.deeplabv3plus.model import DeepLabV3Plus


class ShdmOutput(NamedTuple):
    """Training-mode output: class logits at input size and the boundary heatmap
    prediction at stride 4 (one channel, regressed against the target heatmap)."""

    logits: Tensor
    detail: Tensor


class DetailHead(nn.Sequential):
    """3x3 Conv-BN-ReLU then a 1x1 conv to one heatmap channel."""

    def __init__(self, in_channels: int, hidden_channels: int = 64) -> None:
        super().__init__(ConvBNAct(in_channels, hidden_channels, 3), nn.Conv2d(hidden_channels, 1, 1))


class SHDMNet(DeepLabV3Plus):
    """SHDM-Net segmentation network.

    Parameters
    ----------
    backbone, num_classes, separable_aspp, attention, aspp_channels, decoder_channels
        As in :class:`DeepLabV3Plus`.
    detail_channels
        Hidden channels of the detail-guidance branch; ``0`` builds the network
        without the branch (same inference graph, for comparison).
    classifier_kernel
        Kernel of the full-resolution classifier conv (3; 1 reproduces
        DeepLabV3+'s logits exactly, see the module docstring).
    """

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int,
        separable_aspp: bool = True,
        attention: nn.Module | None = None,
        detail_channels: int = 64,
        classifier_kernel: int = 3,
        aspp_channels: int = 256,
        decoder_channels: int = 256,
    ) -> None:
        super().__init__(
            backbone,
            num_classes,
            separable_aspp=separable_aspp,
            attention=attention,
            aspp_channels=aspp_channels,
            decoder_channels=decoder_channels,
        )
        if classifier_kernel not in (1, 3):
            raise ValueError(f"classifier_kernel must be 1 or 3, got {classifier_kernel!r}")
        decoder_channels = self.classifier.in_channels
        self.classifier = nn.Conv2d(
            decoder_channels, num_classes, classifier_kernel, padding=classifier_kernel // 2
        )
        if detail_channels < 0:
            raise ValueError(f"detail_channels must be >= 0, got {detail_channels!r}")
        self.detail_head: DetailHead | None = (
            DetailHead(backbone.low_level_channels, detail_channels) if detail_channels else None
        )

    def forward(self, x: Tensor) -> Tensor | ShdmOutput:  # type: ignore[override]
        low, decoded = self.decode(x)
        decoded = F.interpolate(decoded, size=x.shape[-2:], mode="bilinear", align_corners=False)
        logits = self.classifier(decoded)
        if self.training and self.detail_head is not None:
            return ShdmOutput(logits, self.detail_head(low))
        return logits
