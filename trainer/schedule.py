"""Learning-rate schedule: linear warm-up, then cosine or polynomial decay to a floor."""

from __future__ import annotations

import math

POLICIES = ("cosine", "poly", "constant")


def learning_rate(
    step: int,
    total_steps: int,
    base_lr: float,
    min_lr: float = 0.0,
    warmup_steps: int = 0,
    policy: str = "cosine",
    power: float = 0.9,
    warmup_start: float = 0.1,
) -> float:
    """The learning rate at ``step`` (0-based) of a run of ``total_steps``.

    Warm-up rises linearly from ``warmup_start * base_lr`` to ``base_lr`` over
    ``warmup_steps``; the rest decays from ``base_lr`` to ``min_lr``:
    ``cosine``: ``min + (base - min) * (1 + cos(pi * t)) / 2``;
    ``poly``: ``min + (base - min) * (1 - t) ** power``; ``constant``: ``base``,
    with ``t`` going from 0 to 1 over the decay steps.
    """
    if policy not in POLICIES:
        raise ValueError(f"schedule policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if step < warmup_steps:
        return base_lr * (warmup_start + (1 - warmup_start) * step / warmup_steps)
    if policy == "constant":
        return base_lr
    decay_steps = max(1, total_steps - warmup_steps - 1)
    t = min(1.0, (step - warmup_steps) / decay_steps)
    if policy == "cosine":
        return min_lr + (base_lr - min_lr) * (1 + math.cos(math.pi * t)) / 2
    return min_lr + (base_lr - min_lr) * (1 - t) ** power
