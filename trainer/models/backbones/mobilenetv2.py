"""MobileNetV2 backbone (Sandler et al. 2018) with an atrous output stride.

State-dict keys follow torchvision's ``mobilenet_v2`` (``features.<i>.conv.<j>``)
so an ImageNet checkpoint saved by torchvision loads directly. The final
320->1280 conv (``features.18``) and the classifier are not built: DeepLabV3+
takes the 320-channel features of block 17.
"""

from __future__ import annotations

from torch import Tensor, nn

from trainer.models.backbones.base import Backbone, dilation_schedule
from trainer.models.blocks import ConvBNAct, make_divisible

# (expansion t, output channels c, repeats n, stride s) per stage, from the paper.
STAGES: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)

# ``features[:LOW_LEVEL_END]`` is the stem plus the first 3 blocks: stride 4, 24 ch.
LOW_LEVEL_END = 4


class InvertedResidual(nn.Module):
    """Expand (1x1) -> depthwise 3x3 -> linear project (1x1), residual when shapes allow."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, expansion: int, dilation: int = 1
    ) -> None:
        super().__init__()
        hidden = round(in_channels * expansion)
        self.use_residual = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(ConvBNAct(in_channels, hidden, 1, activation=nn.ReLU6))
        layers += [
            ConvBNAct(
                hidden, hidden, 3, stride=stride, dilation=dilation, groups=hidden, activation=nn.ReLU6
            ),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(x)
        return x + out if self.use_residual else out


class MobileNetV2(Backbone):
    """MobileNetV2 feature extractor returning stride-4 and deepest features.

    Parameters
    ----------
    output_stride
        Stride of the high-level features: 16 (default) or 8; 32 keeps the
        ImageNet network undilated.
    width_mult
        Channel width multiplier (1.0 is the standard network).

    Notes
    -----
    ``forward`` returns ``(low, high)``: ``low`` is the output of block 3
    (24 * width channels at stride 4), ``high`` the output of block 17
    (320 * width channels at ``output_stride``).
    """

    torchvision_unused_prefixes = ("features.18.", "classifier.")

    def __init__(self, output_stride: int = 16, width_mult: float = 1.0) -> None:
        super().__init__()
        if width_mult <= 0:
            raise ValueError(f"width_mult must be positive, got {width_mult!r}")
        # The stem counts as a stride-2 stage in the schedule.
        schedule = dilation_schedule(output_stride, [2] + [s for _, _, _, s in STAGES])
        in_channels = make_divisible(32 * width_mult)
        stem_stride, _, _ = schedule[0]
        layers: list[nn.Module] = [ConvBNAct(3, in_channels, 3, stride=stem_stride, activation=nn.ReLU6)]
        for (expansion, channels, repeats, _), (stride, first_dilation, dilation) in zip(
            STAGES, schedule[1:], strict=True
        ):
            out_channels = make_divisible(channels * width_mult)
            for i in range(repeats):
                layers.append(
                    InvertedResidual(
                        in_channels,
                        out_channels,
                        stride=stride if i == 0 else 1,
                        expansion=expansion,
                        dilation=first_dilation if i == 0 else dilation,
                    )
                )
                in_channels = out_channels
        self.features = nn.Sequential(*layers)
        self.output_stride = output_stride
        self.width_mult = width_mult
        self.low_level_channels = make_divisible(24 * width_mult)
        self.high_level_channels = in_channels

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        low = self.features[:LOW_LEVEL_END](x)
        high = self.features[LOW_LEVEL_END:](low)
        return low, high
