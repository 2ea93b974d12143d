"""Honest size figures of a network: true parameter counts and multiply-accumulates."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

BYTES_PER_FP32 = 4


@dataclass(frozen=True)
class Complexity:
    """Size of a network.

    Attributes
    ----------
    params
        Parameters of the inference graph (training-only branches excluded).
    train_params
        All trainable parameters, training-only branches included.
    megabytes
        ``params * 4 / 2**20``: the FP32 weight size that torchsummary prints
        as "Params size (MB)" and that papers sometimes quote as a count.
    macs
        Multiply-accumulates of one forward pass at ``input_size`` (``None``
        when not measured).
    input_size
        ``(height, width)`` the MACs were counted at.
    """

    params: int
    train_params: int
    megabytes: float
    macs: int | None = None
    input_size: tuple[int, int] | None = None


def _training_only_modules(model: nn.Module) -> list[nn.Module]:
    detail = getattr(model, "detail_head", None)
    return [detail] if isinstance(detail, nn.Module) else []


def complexity(model: nn.Module, input_size: tuple[int, int] | None = (512, 512)) -> Complexity:
    """Count a network's parameters and, at ``input_size``, its MACs.

    MACs are counted with PyTorch's ``FlopCounterMode`` on an eval-mode forward
    pass of one image (convolutions, matrix products; FLOPs / 2). Elementwise
    ops, norms and resizes are not counted, as is usual for MAC figures.
    """
    train_params = sum(p.numel() for p in model.parameters())
    extra = sum(p.numel() for m in _training_only_modules(model) for p in m.parameters())
    params = train_params - extra
    macs = None
    if input_size is not None:
        was_training = model.training
        model.eval()
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(torch.zeros(1, 3, *input_size))
        model.train(was_training)
        macs = counter.get_total_flops() // 2
    return Complexity(params, train_params, params * BYTES_PER_FP32 / 2**20, macs, input_size)
