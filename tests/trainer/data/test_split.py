"""holdout_split: deterministic, disjoint, stable as names are added, groups kept together."""

from __future__ import annotations

import math

import pytest

from trainer.data import holdout_split

NAMES = [f"training_{i:06d}" for i in range(1000)]


def test_deterministic_disjoint_and_complete() -> None:
    train, val = holdout_split(NAMES, 0.2, seed=3)
    assert (train, val) == holdout_split(NAMES, 0.2, seed=3)
    assert not set(train) & set(val)
    assert sorted(train + val) == NAMES
    assert train == [n for n in NAMES if n in set(train)]  # input order kept
    assert 150 <= len(val) <= 250
    assert holdout_split(NAMES, 0.2, seed=4)[1] != val


def test_known_split_does_not_drift() -> None:
    """Fixed expectations: a change of the hashing scheme (which moves every split) cannot pass unnoticed."""
    assert holdout_split(list("abcdefghij"), 0.5) == (["b", "g", "j"], ["a", "c", "d", "e", "f", "h", "i"])
    names = [f"training_{i:06d}" for i in range(1, 11)]
    val = ["training_000002", "training_000004", "training_000005"]
    assert holdout_split(names, 0.3, seed=7) == ([n for n in names if n not in val], val)


def test_adding_names_does_not_move_existing_ones() -> None:
    train, val = holdout_split(NAMES[:600], 0.1)
    more_train, more_val = holdout_split(NAMES, 0.1)
    assert set(val) == set(more_val) & set(NAMES[:600])
    assert set(train) == set(more_train) & set(NAMES[:600])


def test_groups_stay_together() -> None:
    groups = {name: f"g{i // 4}" for i, name in enumerate(NAMES)}
    train, val = holdout_split(NAMES, 0.25, seed=1, groups=groups)
    val_groups = {groups[n] for n in val}
    assert not val_groups & {groups[n] for n in train}
    assert all(n in val for n in NAMES if groups[n] in val_groups)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, math.nan, "0.2", True])
def test_fraction_must_be_inside_zero_one(fraction: object) -> None:
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        holdout_split(NAMES, fraction)  # type: ignore[arg-type]


def test_repeated_names_and_empty_sides_are_errors() -> None:
    with pytest.raises(ValueError, match="repeated: a"):
        holdout_split(["a", "b", "a"], 0.5)
    with pytest.raises(ValueError, match="leaves"):
        holdout_split(["only"], 0.5)
