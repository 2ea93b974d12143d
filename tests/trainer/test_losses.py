"""Training losses: hand-computed values, ignore pixels, gradients, the SHDM-Net loss, configuration."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch

from trainer.losses import (
    LOSS_NAMES,
    LossConfig,
    cross_entropy_loss,
    dice_loss,
    focal_loss,
    make_loss,
    near_boundary,
    shdm_loss,
)
from trainer.models.decoders.shdm import ShdmOutput

# A 1x2x1x2 example: two pixels, two classes. Pixel 0 has logits (2.0, 0.5) and class 0,
# pixel 1 has logits (-1.0, 1.0) and class 1.
LOGITS = [[[[2.0, -1.0]], [[0.5, 1.0]]]]
TARGET = [[[0, 1]]]


def _tiny() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor(LOGITS, dtype=torch.float64), torch.tensor(TARGET)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# Probabilities of the true class of each pixel: softmax of two logits is a sigmoid of their gap.
P_T = (_sigmoid(2.0 - 0.5), _sigmoid(1.0 - (-1.0)))


def _random_case(seed: int = 0, ignore_fraction: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 3, 4, 5, generator=gen, dtype=torch.float64) * 2
    target = torch.randint(0, 3, (2, 4, 5), generator=gen)
    target[torch.rand(2, 4, 5, generator=gen) < ignore_fraction] = 255
    return logits, target


# -- hand-computed values ------------------------------------------------------


def test_cross_entropy_matches_hand_computation() -> None:
    logits, target = _tiny()
    expected = -(math.log(P_T[0]) + math.log(P_T[1])) / 2
    assert cross_entropy_loss(logits, target).item() == pytest.approx(expected, abs=1e-6)


def test_weighted_cross_entropy_is_the_weighted_mean() -> None:
    logits, target = _tiny()
    expected = (1.0 * -math.log(P_T[0]) + 3.0 * -math.log(P_T[1])) / (1.0 + 3.0)
    loss = cross_entropy_loss(logits, target, class_weights=torch.tensor([1.0, 3.0]))
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_near_boundary_marks_pixels_within_the_radius_of_another_class() -> None:
    target = torch.tensor([[[0, 0, 0, 2, 2, 2, 255, 1]]])
    assert near_boundary(target, 1).tolist() == [[[False, False, True, True, False, False, False, False]]]
    # radius 2 reaches across the ignore pixel: the last 2 and the 1 see each other
    assert near_boundary(target, 2).tolist() == [[[False, True, True, True, True, True, False, True]]]
    far = torch.tensor([[[2, 2, 255, 1]]])
    assert near_boundary(far, 1).tolist() == [[[False, False, False, False]]]
    assert near_boundary(far, 2).tolist() == [[[False, True, False, True]]]
    with pytest.raises(ValueError, match="radius_px must be an integer >= 1"):
        near_boundary(target, 0)


def test_boundary_weighted_cross_entropy_is_the_weighted_mean() -> None:
    # one row of four pixels, two classes; with radius 1 pixels 1 and 2 are near the boundary
    logits = torch.tensor([[[[2.0, 1.0, -0.5, -1.0]], [[0.0, 0.5, 1.0, 2.0]]]], dtype=torch.float64)
    target = torch.tensor([[[0, 0, 1, 1]]])
    pairs = [(2.0, 0.0, 0), (1.0, 0.5, 0), (-0.5, 1.0, 1), (-1.0, 2.0, 1)]  # (logit 0, logit 1, class)
    nll = [math.log(math.exp(a) + math.exp(b)) - (a if t == 0 else b) for a, b, t in pairs]
    factor = [1.0, 4.0, 4.0, 1.0]  # 1 + boundary_weight 3
    expected = sum(f * n for f, n in zip(factor, nll, strict=True)) / sum(factor)
    loss = cross_entropy_loss(logits, target, boundary_weight=3.0, boundary_radius_px=1)
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert cross_entropy_loss(logits, target, boundary_weight=0.0).item() == pytest.approx(
        sum(nll) / 4, abs=1e-6
    )
    # with class weights both multiply
    weights = torch.tensor([1.0, 2.0])
    both = [f * w for f, w in zip(factor, [1.0, 1.0, 2.0, 2.0], strict=True)]
    expected = sum(b * n for b, n in zip(both, nll, strict=True)) / sum(both)
    loss = cross_entropy_loss(logits, target, weights, boundary_weight=3.0, boundary_radius_px=1)
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ValueError, match="boundary_weight must be a finite number >= 0"):
        cross_entropy_loss(logits, target, boundary_weight=-1.0)


def test_configured_ce_dice_uses_the_boundary_weight() -> None:
    logits = torch.tensor([[[[2.0, 1.0, -0.5, -1.0]], [[0.0, 0.5, 1.0, 2.0]]]])
    target = torch.tensor([[[0, 0, 1, 1]]])
    loss = make_loss(LossConfig(name="ce_dice", boundary_weight=3.0, boundary_radius_px=1))
    _, parts = loss(logits, target)
    expected = cross_entropy_loss(logits, target, boundary_weight=3.0, boundary_radius_px=1).item()
    assert parts["cross_entropy"] == pytest.approx(expected, abs=1e-6)
    assert parts["cross_entropy"] != pytest.approx(cross_entropy_loss(logits, target).item(), abs=1e-4)


def test_focal_matches_hand_computation() -> None:
    logits, target = _tiny()
    alpha, gamma = 0.5, 2.0
    expected = sum(-alpha * (1 - p) ** gamma * math.log(p) for p in P_T) / 2
    assert focal_loss(logits, target, alpha=alpha, gamma=gamma).item() == pytest.approx(expected, abs=1e-6)


def test_dice_matches_hand_computation() -> None:
    logits, target = _tiny()
    # probabilities per class (rows) and pixel (columns), and the one-hot truth
    prob = np.array([[P_T[0], 1 - P_T[1]], [1 - P_T[0], P_T[1]]])
    truth = np.array([[1.0, 0.0], [0.0, 1.0]])
    smooth = 1.0
    dice = [
        (2 * (prob[c] * truth[c]).sum() + smooth) / (prob[c].sum() + truth[c].sum() + smooth)
        for c in range(2)
    ]
    expected = 1 - (dice[0] + dice[1]) / 2
    assert dice_loss(logits, target, smooth=smooth).item() == pytest.approx(expected, abs=1e-6)


def test_gamma_zero_focal_is_cross_entropy() -> None:
    logits, target = _random_case()
    focal = focal_loss(logits, target, alpha=1.0, gamma=0.0)
    reference = torch.nn.functional.cross_entropy(logits, target, ignore_index=255)
    assert focal.item() == pytest.approx(reference.item(), abs=1e-6)
    assert cross_entropy_loss(logits, target).item() == pytest.approx(reference.item(), abs=1e-6)


def test_weighted_cross_entropy_matches_torch() -> None:
    logits, target = _random_case(seed=3)
    weights = torch.tensor([0.5, 2.0, 1.0])
    reference = torch.nn.functional.cross_entropy(logits.float(), target, weight=weights, ignore_index=255)
    assert cross_entropy_loss(logits, target, weights).item() == pytest.approx(reference.item(), abs=1e-6)


# -- ignore pixels ----------------------------------------------------------------


def test_an_ignored_pixel_is_as_if_absent() -> None:
    logits, target = _tiny()
    target[0, 0, 1] = 255
    alpha, gamma = 1.0, 2.0
    expected = -alpha * (1 - P_T[0]) ** gamma * math.log(P_T[0])
    assert focal_loss(logits, target, alpha, gamma).item() == pytest.approx(expected, abs=1e-6)
    assert cross_entropy_loss(logits, target).item() == pytest.approx(-math.log(P_T[0]), abs=1e-6)


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "cross_entropy": cross_entropy_loss,
    "weighted_cross_entropy": lambda x, t: cross_entropy_loss(x, t, torch.tensor([1.0, 2.0, 0.5])),
    "focal": lambda x, t: focal_loss(x, t, alpha=0.7, gamma=2.0),
    "focal_gamma_0.2": lambda x, t: focal_loss(x, t, gamma=0.2),
    "dice": dice_loss,
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_ignored_pixels_change_neither_value_nor_gradient(name: str) -> None:
    loss_fn = LOSSES[name]
    logits, target = _random_case(seed=1)
    ignored = (target == 255).unsqueeze(1).expand_as(logits)
    assert ignored.any()
    perturbed = logits.clone()
    perturbed[ignored] += torch.randn(int(ignored.sum()), dtype=logits.dtype) * 10

    a = logits.clone().requires_grad_(True)
    b = perturbed.clone().requires_grad_(True)
    loss_a, loss_b = loss_fn(a, target), loss_fn(b, target)
    loss_a.backward()
    loss_b.backward()
    assert loss_a.item() == pytest.approx(loss_b.item(), abs=1e-6)
    assert a.grad is not None and b.grad is not None
    assert torch.count_nonzero(a.grad[ignored]) == 0
    torch.testing.assert_close(a.grad, b.grad, atol=1e-7, rtol=1e-6)
    assert torch.count_nonzero(a.grad[~ignored]) > 0


@pytest.mark.parametrize("name", ["cross_entropy", "focal", "dice"])
def test_no_valid_pixel_gives_zero_with_gradient(name: str) -> None:
    logits = torch.randn(1, 3, 2, 2, requires_grad=True)
    target = torch.full((1, 2, 2), 255)
    loss = LOSSES[name](logits, target)
    assert loss.item() == 0.0
    loss.backward()
    assert logits.grad is not None
    assert torch.count_nonzero(logits.grad) == 0


# -- gradients and stability --------------------------------------------------------


def test_focal_gradients_stay_finite_for_saturated_pixels() -> None:
    # A gap of 100 makes p_t exactly 1 in float32, where d/dp (1 - p)^0.2 is infinite.
    logits = torch.tensor([[[[100.0, 0.0]], [[0.0, 3.0]]]], requires_grad=True)
    target = torch.tensor([[[0, 0]]])
    loss = focal_loss(logits, target, gamma=0.2)
    loss.backward()
    assert torch.isfinite(loss)
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    assert logits.grad[0, :, 0, 1].abs().sum() > 0  # the unsure pixel still learns


def test_losses_run_in_float32_on_low_precision_logits() -> None:
    logits, target = _random_case(seed=2)
    reference = focal_loss(logits, target, gamma=0.2)
    low = focal_loss(logits.to(torch.bfloat16), target, gamma=0.2)
    assert low.dtype == torch.float32
    assert low.item() == pytest.approx(reference.item(), rel=2e-2)


# -- SHDM-Net loss ----------------------------------------------------------------------


def _shdm_case(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 2, 8, 8, generator=gen, requires_grad=True)
    detail = torch.randn(2, 1, 2, 2, generator=gen, requires_grad=True)
    target = torch.randint(0, 2, (2, 8, 8), generator=gen)
    target[0, 0] = 255
    heatmap = torch.rand(2, 2, 2, generator=gen)
    return logits, detail, target, heatmap


def test_shdm_loss_is_point8_focal_plus_point2_mse() -> None:
    logits, detail, target, heatmap = _shdm_case()
    total, parts = shdm_loss(logits, detail, target, heatmap)
    focal = focal_loss(logits, target, alpha=1.0, gamma=0.2)
    mse = ((detail[:, 0] - heatmap) ** 2).mean()
    assert total.item() == pytest.approx(0.8 * focal.item() + 0.2 * mse.item(), abs=1e-6)
    assert parts["focal"] == pytest.approx(focal.item(), abs=1e-6)
    assert parts["heatmap_mse"] == pytest.approx(mse.item(), abs=1e-6)
    assert parts["total"] == pytest.approx(total.item(), abs=1e-6)
    # The heatmap may carry the channel dimension.
    again, _ = shdm_loss(logits, detail, target, heatmap.unsqueeze(1))
    assert again.item() == pytest.approx(total.item(), abs=1e-7)


def test_shdm_loss_gradients_reach_both_heads() -> None:
    logits, detail, target, heatmap = _shdm_case(seed=1)
    total, _ = shdm_loss(logits, detail, target, heatmap)
    total.backward()
    for tensor in (logits, detail):
        assert tensor.grad is not None
        assert torch.isfinite(tensor.grad).all()
        assert tensor.grad.abs().sum() > 0


def test_make_loss_shdm_takes_the_model_training_output() -> None:
    logits, detail, target, heatmap = _shdm_case(seed=2)
    loss_fn = make_loss(LossConfig(name="shdm"))
    total, parts = loss_fn(ShdmOutput(logits, detail), target, heatmap)
    expected, expected_parts = shdm_loss(logits, detail, target, heatmap)
    assert total.item() == pytest.approx(expected.item(), abs=1e-7)
    assert parts == pytest.approx(expected_parts)
    assert LossConfig(name="shdm").resolved_gamma == 0.2
    assert LossConfig(name="focal").resolved_gamma == 2.0


# -- make_loss ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in LOSS_NAMES if n != "shdm"])
def test_make_loss_builds_every_logits_loss(name: str) -> None:
    logits, target = _random_case(seed=4)
    logits.requires_grad_(True)
    weights = (1.0, 2.0, 1.0) if name in ("cross_entropy", "ce_dice") else None
    loss, parts = make_loss(LossConfig(name=name, class_weights=weights))(logits, target, None)
    loss.backward()
    assert parts["total"] == pytest.approx(loss.item())
    assert all(isinstance(v, float) for v in parts.values())
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_make_loss_ce_dice_is_the_weighted_sum() -> None:
    logits, target = _random_case(seed=5)
    loss, parts = make_loss(LossConfig(name="ce_dice", ce_weight=0.5, dice_weight=2.0))(logits, target, None)
    expected = 0.5 * cross_entropy_loss(logits, target) + 2.0 * dice_loss(logits, target)
    assert loss.item() == pytest.approx(expected.item(), abs=1e-6)
    assert set(parts) == {"total", "cross_entropy", "dice"}


# -- errors ------------------------------------------------------------------------------


def test_target_shape_mismatch_names_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(1, 3, 4\).*\(1, 2, 4, 5\)"):
        focal_loss(torch.zeros(1, 2, 4, 5), torch.zeros(1, 3, 4, dtype=torch.long))


def test_heatmap_shape_mismatch_names_both_shapes() -> None:
    logits, detail, target, _ = _shdm_case()
    with pytest.raises(ValueError, match=r"heatmap shape \(2, 8, 8\).*detail shape \(2, 1, 2, 2\)"):
        shdm_loss(logits, detail, target, torch.zeros(2, 8, 8))


def test_bad_inputs_are_rejected_with_what_was_expected() -> None:
    logits, target = _tiny()
    with pytest.raises(ValueError, match=r"class ids \[7\] outside \[0, 1\]"):
        cross_entropy_loss(logits, torch.tensor([[[0, 7]]]))
    with pytest.raises(ValueError, match="integer class ids"):
        focal_loss(logits, target.float())
    with pytest.raises(ValueError, match=r"class_weights shape \(3,\).*expected \(2,\)"):
        cross_entropy_loss(logits, target, class_weights=torch.ones(3))
    with pytest.raises(ValueError, match="gamma must be"):
        focal_loss(logits, target, gamma=-1.0)


def test_config_errors() -> None:
    with pytest.raises(
        ValueError, match=r"unknown loss name 'lovasz'.*cross_entropy, focal, dice, ce_dice, shdm"
    ):
        LossConfig(name="lovasz")
    with pytest.raises(ValueError, match="class_weights is used by the cross_entropy and ce_dice"):
        LossConfig(name="focal", class_weights=(1.0, 2.0))
    with pytest.raises(ValueError, match="heatmap_weight must be"):
        LossConfig(name="shdm", heatmap_weight=-0.2)
    assert LossConfig(class_weights=[1, 2]).class_weights == (1.0, 2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="boundary_weight is used by the cross_entropy and ce_dice"):
        LossConfig(name="dice", boundary_weight=2.0)
    with pytest.raises(ValueError, match="boundary_weight must be a finite number >= 0"):
        LossConfig(name="ce_dice", boundary_weight=float("nan"))
    with pytest.raises(ValueError, match="boundary_radius_px must be an integer >= 1"):
        LossConfig(name="ce_dice", boundary_radius_px=0)


def test_make_loss_rejects_the_wrong_model_output() -> None:
    logits, detail, target, heatmap = _shdm_case()
    with pytest.raises(TypeError, match=r"'focal' loss expects a logits tensor.*tuple of 2"):
        make_loss(LossConfig(name="focal"))((logits, detail), target, None)
    with pytest.raises(TypeError, match=r"'shdm' loss expects .*\(logits, detail\).*tensor of shape"):
        make_loss(LossConfig(name="shdm"))(logits, target, heatmap)
    with pytest.raises(ValueError, match="heatmap=None"):
        make_loss(LossConfig(name="shdm"))((logits, detail), target, None)
