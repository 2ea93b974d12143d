"""Learning-rate schedules against their formulas."""

from __future__ import annotations

import itertools
import math

import pytest

from trainer.schedule import learning_rate


def test_cosine_runs_from_base_to_min() -> None:
    lrs = [learning_rate(s, 101, 7e-3, 7e-5, policy="cosine") for s in range(101)]
    assert lrs[0] == pytest.approx(7e-3)
    assert lrs[-1] == pytest.approx(7e-5)
    assert lrs[50] == pytest.approx(7e-5 + (7e-3 - 7e-5) * (1 + math.cos(math.pi * 0.5)) / 2)
    assert all(a >= b for a, b in itertools.pairwise(lrs))


def test_warmup_then_poly() -> None:
    assert learning_rate(0, 100, 0.02, warmup_steps=10, policy="poly") == pytest.approx(0.002)
    assert learning_rate(5, 100, 0.02, warmup_steps=10, policy="poly") == pytest.approx(
        0.02 * (0.1 + 0.9 * 0.5)
    )
    assert learning_rate(10, 100, 0.02, warmup_steps=10, policy="poly") == pytest.approx(0.02)
    t = (60 - 10) / (100 - 10 - 1)
    assert learning_rate(60, 100, 0.02, 0.0, 10, "poly", 0.9) == pytest.approx(0.02 * (1 - t) ** 0.9)


def test_bad_policy_is_named() -> None:
    with pytest.raises(ValueError, match="got 'step'"):
        learning_rate(0, 10, 0.1, policy="step")
