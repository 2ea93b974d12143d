"""Reusable convolution blocks shared by the backbones and decoders.

The blocks are ``nn.Sequential`` subclasses so that their state-dict keys are
positional (``<name>.0.weight`` for the conv, ``<name>.1.*`` for the norm),
which is the layout torchvision uses and what lets us load its checkpoints.
"""

from __future__ import annotations

from torch import nn


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor`` (MobileNet convention).

    Never rounds down by more than 10 %, as in the MobileNetV2 reference.
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class ConvBNAct(nn.Sequential):
    """Conv2d (no bias) -> BatchNorm2d -> activation, padded to keep the size.

    Parameters
    ----------
    in_channels, out_channels
        Channel counts.
    kernel_size
        Square kernel size (odd).
    stride, dilation, groups
        As in ``nn.Conv2d``. Padding is ``dilation * (kernel_size - 1) // 2``.
    activation
        Activation module class, or ``None`` for a linear block.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        activation: type[nn.Module] | None = nn.ReLU,
    ) -> None:
        padding = dilation * (kernel_size - 1) // 2
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride=stride,
                padding=padding,
                dilation=dilation,
                groups=groups,
                bias=False,
            ),
            nn.BatchNorm2d(out_channels),
        ]
        if activation is not None:
            layers.append(activation(inplace=True))
        super().__init__(*layers)


class SeparableConvBNAct(nn.Sequential):
    """Depthwise 3x3 (dilated) conv -> BN -> ReLU, then pointwise 1x1 -> BN -> ReLU.

    Used for the atrous ASPP branches of the light networks: it has about a
    ninth of the parameters of a regular 3x3 conv with the same receptive field.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, dilation: int = 1) -> None:
        super().__init__(
            ConvBNAct(in_channels, in_channels, kernel_size, dilation=dilation, groups=in_channels),
            ConvBNAct(in_channels, out_channels, 1),
        )
