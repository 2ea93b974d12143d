"""What every backbone offers the decoders: two feature maps and their sizes."""

from __future__ import annotations

from torch import Tensor, nn


def dilation_schedule(output_stride: int, stage_strides: list[int]) -> list[tuple[int, int, int]]:
    """Turn per-stage strides into (stride, first_dilation, dilation) for an output stride.

    A stage whose stride-2 would push the total stride past ``output_stride``
    runs at stride 1 and dilates its convolutions instead (DeepLab's atrous
    backbone). As in the DeepLab and torchvision references, the first block of
    such a stage keeps the previous dilation and the following blocks use the
    doubled one.

    Parameters
    ----------
    output_stride
        8, 16 or 32 (32 means no dilation).
    stage_strides
        The nominal stride of each stage, in order (1 or 2).

    Returns
    -------
    list of (stride, first_dilation, dilation)
        Per stage: the stride of its first block, the dilation of its first
        block and the dilation of its other blocks.
    """
    if output_stride not in (8, 16, 32):
        raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride!r}")
    total, dilation = 1, 1
    schedule = []
    for stride in stage_strides:
        if stride == 2 and total * 2 > output_stride:
            schedule.append((1, dilation, dilation * 2))
            dilation *= 2
        else:
            total *= stride
            schedule.append((stride, dilation, dilation))
    return schedule


class Backbone(nn.Module):
    """Base class: ``forward`` returns ``(low_level, high_level)`` features.

    Attributes
    ----------
    low_level_channels
        Channels of the stride-4 features fed to the DeepLabV3+ decoder.
    high_level_channels
        Channels of the deepest features fed to ASPP.
    output_stride
        Stride of the high-level features (8 or 16; 32 without dilation).
    torchvision_unused_prefixes
        State-dict key prefixes of the torchvision ImageNet model that this
        backbone drops (classifier, final conv); ignored when loading.
    """

    low_level_channels: int
    high_level_channels: int
    output_stride: int
    torchvision_unused_prefixes: tuple[str, ...] = ()

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError
