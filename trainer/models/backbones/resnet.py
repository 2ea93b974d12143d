"""ResNet-50 backbone (He et al. 2016, v1.5 strides) with an atrous output stride.

State-dict keys follow torchvision's ``resnet50`` (``conv1``, ``bn1``,
``layer<k>.<i>.conv<j>``, ``downsample.0/1``) so an ImageNet checkpoint saved
by torchvision loads directly; its ``fc`` layer is not built.
"""

from __future__ import annotations

from torch import Tensor, nn

from trainer.models.backbones.base import Backbone, dilation_schedule

EXPANSION = 4
# (width, blocks, stride) of layer1..layer4 of ResNet-50.
LAYERS: tuple[tuple[int, int, int], ...] = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (stride, dilation) -> 1x1 expand, plus the shortcut."""

    def __init__(self, in_channels: int, width: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        out_channels = width * EXPANSION
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(
            width, width, 3, stride=stride, padding=dilation, dilation=dilation, bias=False
        )
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + shortcut)


class ResNet50(Backbone):
    """ResNet-50 feature extractor returning layer1 (stride 4) and layer4 features.

    Parameters
    ----------
    output_stride
        Stride of the layer4 features: 16 (default) dilates layer4, 8 dilates
        layer3 and layer4; 32 is the undilated ImageNet network.
    """

    torchvision_unused_prefixes = ("fc.",)

    def __init__(self, output_stride: int = 16) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        # conv1 and maxpool give stride 4 before layer1.
        schedule = dilation_schedule(output_stride, [2, 2] + [s for _, _, s in LAYERS])[2:]
        in_channels = 64
        for index, ((width, blocks, _), (stride, first_dilation, dilation)) in enumerate(
            zip(LAYERS, schedule, strict=True), start=1
        ):
            layer = [Bottleneck(in_channels, width, stride=stride, dilation=first_dilation)]
            in_channels = width * EXPANSION
            layer += [Bottleneck(in_channels, width, dilation=dilation) for _ in range(blocks - 1)]
            setattr(self, f"layer{index}", nn.Sequential(*layer))
        self.output_stride = output_stride
        self.low_level_channels = LAYERS[0][0] * EXPANSION
        self.high_level_channels = in_channels

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        low = self.layer1(x)
        high = self.layer4(self.layer3(self.layer2(low)))
        return low, high
