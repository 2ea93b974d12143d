"""Training losses for the segmentation networks.

Conventions (as everywhere in the trainer):

- ``logits`` are ``[N, C, H, W]`` floating point, before softmax;
- ``target`` is ``[N, H, W]`` of integer class ids, ``ignore_index`` (255) marks
  pixels that take no part in the loss, neither in its value nor its gradient;
- every loss is computed in float32 even when the logits are float16/bfloat16
  (autocast), and returns a scalar tensor.

The SHDM-Net loss of the weld network (Wang & Mei) is
``0.8 * focal(alpha=1, gamma=0.2) + 0.2 * MSE(detail, heatmap)``, where ``detail``
is the one-channel output of the training-only detail branch at stride 4 and
``heatmap`` the Gaussian boundary heatmap at the same resolution.

:func:`make_loss` turns a :class:`LossConfig` into a callable
``loss_fn(model_output, target, heatmap_or_None) -> (loss, parts)`` used by the
training loop; ``parts`` holds plain floats for logging.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "LOSS_NAMES",
    "LossConfig",
    "LossFn",
    "cross_entropy_loss",
    "dice_loss",
    "focal_loss",
    "heatmap_mse_loss",
    "make_loss",
    "near_boundary",
    "shdm_loss",
]

LOSS_NAMES: tuple[str, ...] = ("cross_entropy", "focal", "dice", "ce_dice", "shdm")
"""The loss names :class:`LossConfig` accepts."""

LossFn = Callable[[Tensor | tuple[Tensor, ...], Tensor, Tensor | None], tuple[Tensor, dict[str, float]]]
"""What :func:`make_loss` returns: ``(model_output, target, heatmap_or_None) -> (loss, parts)``."""

_DEFAULT_GAMMA = {"focal": 2.0, "shdm": 0.2}


# ---------------------------------------------------------------------------
# validation helpers


def _shape(t: Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def _check_logits_target(logits: Tensor, target: Tensor, ignore_index: int) -> tuple[Tensor, Tensor]:
    """Validate shapes, dtypes and class ids; return ``(target as int64, valid mask)``."""
    if not isinstance(logits, Tensor) or not isinstance(target, Tensor):
        raise TypeError(
            f"logits and target must be torch tensors, got {type(logits).__name__} "
            f"and {type(target).__name__}"
        )
    if logits.ndim != 4:
        raise ValueError(f"logits must have shape [N, C, H, W], got shape {_shape(logits)}")
    if not logits.is_floating_point():
        raise ValueError(f"logits must be floating point, got dtype {logits.dtype}")
    n, c, h, w = logits.shape
    if target.shape != (n, h, w):
        raise ValueError(
            f"target shape {_shape(target)} does not match logits shape {_shape(logits)}: "
            f"expected target [N, H, W] = {(n, h, w)}"
        )
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise ValueError(f"target must hold integer class ids, got dtype {target.dtype}")
    target = target.long()
    valid = target != ignore_index
    bad = valid & ((target < 0) | (target >= c))
    if bool(bad.any()):
        values = torch.unique(target[bad])[:8].tolist()
        raise ValueError(
            f"target holds class ids {values} outside [0, {c - 1}] for logits with {c} classes "
            f"(ignore_index is {ignore_index})"
        )
    return target, valid


def _check_focal_params(alpha: float, gamma: float) -> None:
    if not (math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"focal alpha must be a finite number > 0, got {alpha}")
    if not (math.isfinite(gamma) and gamma >= 0):
        raise ValueError(f"focal gamma must be a finite number >= 0, got {gamma}")


def _check_boundary_params(weight: float, radius_px: int) -> None:
    if not (math.isfinite(weight) and weight >= 0):
        raise ValueError(f"boundary_weight must be a finite number >= 0, got {weight}")
    if isinstance(radius_px, bool) or not isinstance(radius_px, int) or radius_px < 1:
        raise ValueError(f"boundary_radius_px must be an integer >= 1, got {radius_px!r}")


def _zero_with_grad(logits: Tensor) -> Tensor:
    """A float32 zero that is still connected to the graph (gradient all zeros)."""
    return logits.float().sum() * 0.0


# ---------------------------------------------------------------------------
# losses


def near_boundary(target: Tensor, radius_px: int, ignore_index: int = 255) -> Tensor:
    """Pixels with another class within ``radius_px`` (a square window), ignore pixels excluded.

    Parameters
    ----------
    target
        ``[N, H, W]`` integer class ids.
    radius_px
        Half the window size: a pixel is near a boundary when a valid pixel of another class lies
        within ``radius_px`` pixels along both axes.
    ignore_index
        Target value of unlabelled pixels; they are never near a boundary and do not make one.

    Returns
    -------
    Tensor
        ``[N, H, W]`` bool.
    """
    _check_boundary_params(0.0, radius_px)
    valid = target != ignore_index
    labels = target.to(torch.float32)[:, None]
    size = 2 * radius_px + 1
    # ignore pixels take a value that never wins the max (-1) or the min (a large id)
    high = F.max_pool2d(torch.where(valid[:, None], labels, -1.0), size, stride=1, padding=radius_px)
    low = -F.max_pool2d(torch.where(valid[:, None], -labels, -1e9), size, stride=1, padding=radius_px)
    return valid & ((high[:, 0] > labels[:, 0]) | (low[:, 0] < labels[:, 0]))


def cross_entropy_loss(
    logits: Tensor,
    target: Tensor,
    class_weights: Tensor | None = None,
    ignore_index: int = 255,
    boundary_weight: float = 0.0,
    boundary_radius_px: int = 2,
) -> Tensor:
    """Softmax cross entropy, averaged over the valid pixels.

    Parameters
    ----------
    logits
        ``[N, C, H, W]`` raw scores.
    target
        ``[N, H, W]`` integer class ids; ``ignore_index`` pixels are skipped.
    class_weights
        Optional ``[C]`` non-negative weights. As in :func:`torch.nn.functional.cross_entropy`,
        the mean is weighted: ``sum(w[t_i] * nll_i) / sum(w[t_i])`` over valid pixels.
    ignore_index
        Target value that marks pixels without a label.
    boundary_weight
        Extra weight of the pixels :func:`near_boundary` finds: their weight is multiplied by
        ``1 + boundary_weight`` (0 is plain cross entropy). The edges of a thin class (the slag
        band) decide a thickness measured from the mask, and are few among all pixels.
    boundary_radius_px
        The window half-size of :func:`near_boundary`, in target pixels.

    Returns
    -------
    Tensor
        Scalar float32 loss; 0 (still differentiable) when no pixel is valid,
        where torch would return NaN.
    """
    target, valid = _check_logits_target(logits, target, ignore_index)
    _check_boundary_params(boundary_weight, boundary_radius_px)
    num_classes = logits.shape[1]
    weight = None
    if class_weights is not None:
        if class_weights.shape != (num_classes,):
            raise ValueError(
                f"class_weights shape {_shape(class_weights)} does not match the {num_classes} classes "
                f"of logits shape {_shape(logits)}: expected ({num_classes},)"
            )
        weight = class_weights.to(device=logits.device, dtype=torch.float32)
    per_pixel = F.cross_entropy(
        logits.float(), target, weight=weight, ignore_index=ignore_index, reduction="none"
    )
    pixel_weight = valid.to(torch.float32)
    if weight is not None:
        pixel_weight = pixel_weight * weight[torch.where(valid, target, 0)]
    if boundary_weight > 0:
        factor = 1.0 + boundary_weight * near_boundary(target, boundary_radius_px, ignore_index)
        per_pixel, pixel_weight = per_pixel * factor, pixel_weight * factor
    denominator = pixel_weight.sum()
    # With no valid pixel the numerator is an exact 0, so clamping keeps 0 and finite gradients.
    return per_pixel.sum() / denominator.clamp_min(torch.finfo(torch.float32).tiny)


def focal_loss(
    logits: Tensor,
    target: Tensor,
    alpha: float = 1.0,
    gamma: float = 2.0,
    ignore_index: int = 255,
) -> Tensor:
    """Softmax focal loss ``-alpha * (1 - p_t)^gamma * log(p_t)``, averaged over valid pixels.

    ``log(p_t)`` comes from ``log_softmax`` and ``1 - p_t`` from ``-expm1(log p_t)``,
    so confident pixels neither overflow nor lose precision. For ``gamma < 1`` the
    derivative of ``(1 - p_t)^gamma`` is infinite at ``p_t = 1`` (which float32 reaches
    for logit gaps above ~17); ``1 - p_t`` is therefore clamped to the smallest normal
    float, which keeps every gradient finite and changes the value by less than 1e-30.

    Parameters
    ----------
    logits
        ``[N, C, H, W]`` raw scores.
    target
        ``[N, H, W]`` integer class ids; ``ignore_index`` pixels are skipped.
    alpha
        Global weight (> 0). The SHDM-Net paper uses 1.
    gamma
        Focusing exponent (>= 0); ``gamma = 0`` and ``alpha = 1`` give cross entropy.
        The SHDM-Net paper uses 0.2.
    ignore_index
        Target value that marks pixels without a label.

    Returns
    -------
    Tensor
        Scalar float32 loss; 0 (still differentiable) when no pixel is valid.
    """
    _check_focal_params(alpha, gamma)
    target, valid = _check_logits_target(logits, target, ignore_index)
    log_prob = F.log_softmax(logits.float(), dim=1)
    log_pt = log_prob.gather(1, torch.where(valid, target, 0).unsqueeze(1)).squeeze(1)
    one_minus_pt = (-torch.expm1(log_pt)).clamp_min(torch.finfo(log_pt.dtype).tiny)
    per_pixel = -alpha * one_minus_pt.pow(gamma) * log_pt
    per_pixel = torch.where(valid, per_pixel, torch.zeros_like(per_pixel))
    return per_pixel.sum() / valid.sum().clamp_min(1).to(per_pixel.dtype)


def dice_loss(logits: Tensor, target: Tensor, ignore_index: int = 255, smooth: float = 1.0) -> Tensor:
    """Soft multi-class Dice loss on softmax probabilities.

    For each class ``c``, over all valid pixels of the batch (not per image):
    ``dice_c = (2 * sum(p_c * y_c) + smooth) / (sum(p_c) + sum(y_c) + smooth)``, and the
    loss is ``1 - mean_c(dice_c)`` over all ``C`` classes. Ignored pixels contribute to
    neither sum. A class absent from the target and barely predicted has a Dice near 1
    thanks to ``smooth``; with no valid pixel at all the loss is exactly 0.

    Parameters
    ----------
    logits
        ``[N, C, H, W]`` raw scores.
    target
        ``[N, H, W]`` integer class ids; ``ignore_index`` pixels are skipped.
    ignore_index
        Target value that marks pixels without a label.
    smooth
        Additive smoothing (> 0) of numerator and denominator.

    Returns
    -------
    Tensor
        Scalar float32 loss in ``[0, 1]``.
    """
    if not (math.isfinite(smooth) and smooth > 0):
        raise ValueError(f"dice smooth must be a finite number > 0, got {smooth}")
    target, valid = _check_logits_target(logits, target, ignore_index)
    num_classes = logits.shape[1]
    valid_f = valid.unsqueeze(1).to(torch.float32)
    prob = F.softmax(logits.float(), dim=1) * valid_f
    one_hot = F.one_hot(torch.where(valid, target, 0), num_classes).permute(0, 3, 1, 2).to(torch.float32)
    one_hot = one_hot * valid_f
    dims = (0, 2, 3)
    intersection = (prob * one_hot).sum(dims)
    cardinality = prob.sum(dims) + one_hot.sum(dims)
    dice = (2.0 * intersection + smooth) / (cardinality + smooth)
    return 1.0 - dice.mean()


def heatmap_mse_loss(detail: Tensor, heatmap: Tensor) -> Tensor:
    """Mean squared error between the detail branch output and the boundary heatmap.

    Parameters
    ----------
    detail
        ``[N, 1, h, w]`` detail-branch prediction (stride 4 of the input).
    heatmap
        ``[N, h, w]`` or ``[N, 1, h, w]`` float target at the same resolution.

    Returns
    -------
    Tensor
        Scalar float32 MSE over all heatmap pixels (the heatmap has no ignore label).
    """
    if not isinstance(detail, Tensor) or not isinstance(heatmap, Tensor):
        raise TypeError(
            f"detail and heatmap must be torch tensors, got {type(detail).__name__} "
            f"and {type(heatmap).__name__}"
        )
    if detail.ndim != 4 or detail.shape[1] != 1:
        raise ValueError(f"detail must have shape [N, 1, h, w], got shape {_shape(detail)}")
    if not heatmap.is_floating_point():
        raise ValueError(f"heatmap must be floating point, got dtype {heatmap.dtype}")
    n, _, h, w = detail.shape
    if heatmap.shape == (n, h, w):
        heatmap = heatmap.unsqueeze(1)
    elif heatmap.shape != detail.shape:
        raise ValueError(
            f"heatmap shape {_shape(heatmap)} does not match detail shape {_shape(detail)}: "
            f"expected {(n, h, w)} or {(n, 1, h, w)} (the detail head's stride-4 resolution)"
        )
    return F.mse_loss(detail.float(), heatmap.float())


def shdm_loss(
    logits: Tensor,
    detail: Tensor,
    target: Tensor,
    heatmap: Tensor,
    focal_weight: float = 0.8,
    heatmap_weight: float = 0.2,
    alpha: float = 1.0,
    gamma: float = 0.2,
    ignore_index: int = 255,
) -> tuple[Tensor, dict[str, float]]:
    """The SHDM-Net training loss: ``focal_weight * focal + heatmap_weight * MSE``.

    Parameters
    ----------
    logits
        ``[N, C, H, W]`` class scores at input resolution.
    detail
        ``[N, 1, h, w]`` detail-branch output at stride 4.
    target
        ``[N, H, W]`` integer class ids; ``ignore_index`` pixels are skipped by the focal term.
    heatmap
        ``[N, h, w]`` or ``[N, 1, h, w]`` Gaussian boundary heatmap at the detail resolution.
    focal_weight, heatmap_weight
        Non-negative weights of the two terms (paper: 0.8 and 0.2).
    alpha, gamma
        Focal parameters (paper: 1 and 0.2).
    ignore_index
        Target value that marks pixels without a label.

    Returns
    -------
    tuple[Tensor, dict[str, float]]
        The weighted total, and ``{"total", "focal", "heatmap_mse"}`` as floats
        (the parts unweighted).
    """
    for label, value in (("focal_weight", focal_weight), ("heatmap_weight", heatmap_weight)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{label} must be a finite number >= 0, got {value}")
    if isinstance(detail, Tensor) and isinstance(logits, Tensor) and detail.shape[:1] != logits.shape[:1]:
        raise ValueError(
            f"detail shape {_shape(detail)} and logits shape {_shape(logits)} disagree on the batch size"
        )
    focal = focal_loss(logits, target, alpha=alpha, gamma=gamma, ignore_index=ignore_index)
    mse = heatmap_mse_loss(detail, heatmap)
    total = focal_weight * focal + heatmap_weight * mse
    return total, {
        "total": float(total.detach()),
        "focal": float(focal.detach()),
        "heatmap_mse": float(mse.detach()),
    }


# ---------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class LossConfig:
    """Which loss to train with, and its parameters.

    Attributes
    ----------
    name
        One of :data:`LOSS_NAMES`: ``"cross_entropy"``, ``"focal"``, ``"dice"``,
        ``"ce_dice"`` (``ce_weight * CE + dice_weight * Dice``) or ``"shdm"``
        (``focal_weight * focal + heatmap_weight * heatmap MSE``).
    class_weights
        Optional per-class weights of the cross-entropy term (``cross_entropy`` and
        ``ce_dice`` only; a list is accepted and stored as a tuple).
    alpha
        Focal alpha (``focal`` and ``shdm``).
    gamma
        Focal gamma; ``None`` means the loss's default: 2.0 for ``focal``, 0.2 for
        ``shdm`` (the SHDM-Net paper).
    ignore_index
        Target value that marks pixels without a label.
    ce_weight, dice_weight
        Weights of the two ``ce_dice`` terms.
    focal_weight, heatmap_weight
        Weights of the two ``shdm`` terms (paper: 0.8 and 0.2).
    dice_smooth
        Smoothing of the Dice terms.
    boundary_weight, boundary_radius_px
        Extra weight of the cross-entropy term near class boundaries and the window half-size
        that finds them (``cross_entropy`` and ``ce_dice`` only; see :func:`cross_entropy_loss`).
    """

    name: str = "cross_entropy"
    class_weights: tuple[float, ...] | None = None
    alpha: float = 1.0
    gamma: float | None = None
    ignore_index: int = 255
    ce_weight: float = 1.0
    dice_weight: float = 1.0
    focal_weight: float = 0.8
    heatmap_weight: float = 0.2
    dice_smooth: float = 1.0
    boundary_weight: float = 0.0
    boundary_radius_px: int = 2

    def __post_init__(self) -> None:
        if self.name not in LOSS_NAMES:
            raise ValueError(f"unknown loss name {self.name!r}; valid names are {', '.join(LOSS_NAMES)}")
        if self.class_weights is not None:
            weights = tuple(float(w) for w in self.class_weights)
            if not weights or not all(math.isfinite(w) and w >= 0 for w in weights) or not any(weights):
                raise ValueError(
                    f"class_weights must be finite, >= 0 and not all 0, got {list(self.class_weights)}"
                )
            if self.name not in ("cross_entropy", "ce_dice"):
                raise ValueError(
                    "class_weights is used by the cross_entropy and ce_dice losses only, "
                    f"not by {self.name!r}"
                )
            object.__setattr__(self, "class_weights", weights)
        _check_focal_params(self.alpha, self.resolved_gamma)
        for label in ("ce_weight", "dice_weight", "focal_weight", "heatmap_weight"):
            value = getattr(self, label)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{label} must be a finite number >= 0, got {value}")
        if not (math.isfinite(self.dice_smooth) and self.dice_smooth > 0):
            raise ValueError(f"dice_smooth must be a finite number > 0, got {self.dice_smooth}")
        _check_boundary_params(self.boundary_weight, self.boundary_radius_px)
        if self.boundary_weight > 0 and self.name not in ("cross_entropy", "ce_dice"):
            raise ValueError(
                f"boundary_weight is used by the cross_entropy and ce_dice losses only, not by {self.name!r}"
            )

    @property
    def resolved_gamma(self) -> float:
        """``gamma``, or the default of the named loss when it is ``None``."""
        return self.gamma if self.gamma is not None else _DEFAULT_GAMMA.get(self.name, 2.0)


class _ConfiguredLoss:
    """The callable :func:`make_loss` returns; see there."""

    def __init__(self, config: LossConfig) -> None:
        self.config = config

    def __repr__(self) -> str:
        return f"make_loss({self.config!r})"

    def _cross_entropy(self, logits: Tensor, target: Tensor) -> Tensor:
        cfg = self.config
        weights = None
        if cfg.class_weights is not None:
            weights = torch.tensor(cfg.class_weights, dtype=torch.float32, device=logits.device)
        return cross_entropy_loss(
            logits, target, weights, cfg.ignore_index, cfg.boundary_weight, cfg.boundary_radius_px
        )

    def __call__(
        self, output: Tensor | Sequence[Tensor], target: Tensor, heatmap: Tensor | None = None
    ) -> tuple[Tensor, dict[str, float]]:
        cfg = self.config
        if cfg.name == "shdm":
            if isinstance(output, Tensor) or not isinstance(output, Sequence) or len(output) != 2:
                raise TypeError(
                    "the 'shdm' loss expects the training-mode model output (logits, detail), got "
                    f"{_describe(output)}; is the model an SHDM-Net in training mode with its detail branch?"
                )
            if heatmap is None:
                raise ValueError("the 'shdm' loss needs the boundary heatmap target, got heatmap=None")
            logits, detail = output
            return shdm_loss(
                logits,
                detail,
                target,
                heatmap,
                focal_weight=cfg.focal_weight,
                heatmap_weight=cfg.heatmap_weight,
                alpha=cfg.alpha,
                gamma=cfg.resolved_gamma,
                ignore_index=cfg.ignore_index,
            )
        if not isinstance(output, Tensor):
            raise TypeError(
                f"the {cfg.name!r} loss expects a logits tensor, got {_describe(output)}; a (logits, detail) "
                "output needs name='shdm' (or the model in eval mode, or built without a detail branch)"
            )
        logits = output
        if cfg.name == "cross_entropy":
            loss = self._cross_entropy(logits, target)
            return loss, {"total": float(loss.detach()), "cross_entropy": float(loss.detach())}
        if cfg.name == "focal":
            loss = focal_loss(logits, target, cfg.alpha, cfg.resolved_gamma, cfg.ignore_index)
            return loss, {"total": float(loss.detach()), "focal": float(loss.detach())}
        if cfg.name == "dice":
            loss = dice_loss(logits, target, cfg.ignore_index, cfg.dice_smooth)
            return loss, {"total": float(loss.detach()), "dice": float(loss.detach())}
        # ce_dice (the name was validated by LossConfig)
        ce = self._cross_entropy(logits, target)
        dice = dice_loss(logits, target, cfg.ignore_index, cfg.dice_smooth)
        total = cfg.ce_weight * ce + cfg.dice_weight * dice
        return total, {
            "total": float(total.detach()),
            "cross_entropy": float(ce.detach()),
            "dice": float(dice.detach()),
        }


def _describe(output: object) -> str:
    if isinstance(output, Tensor):
        return f"a tensor of shape {_shape(output)}"
    if isinstance(output, Sequence):
        return f"a {type(output).__name__} of {len(output)} items"
    return f"a {type(output).__name__}"


def make_loss(config: LossConfig) -> LossFn:
    """Build the loss callable of a configuration.

    Parameters
    ----------
    config
        The validated :class:`LossConfig`.

    Returns
    -------
    LossFn
        ``loss_fn(model_output, target, heatmap=None) -> (loss, parts)``. For ``"shdm"``
        ``model_output`` is the ``(logits, detail)`` pair of an SHDM-Net in training mode
        (its ``ShdmOutput`` is such a tuple) and ``heatmap`` is required; for the other
        losses it is the logits tensor and ``heatmap`` is ignored. ``parts`` maps
        ``"total"`` and each unweighted term to a float, for logging.
    """
    if not isinstance(config, LossConfig):
        raise TypeError(f"make_loss expects a LossConfig, got {type(config).__name__}")
    return _ConfiguredLoss(config)
