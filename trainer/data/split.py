"""Deterministic train/validation splits by hashing names.

Each name goes to validation when a hash of ``(seed, name)`` falls below ``fraction``,
so a name's side depends on nothing but the name and the seed: adding or removing
other names never moves it, and the split is the same on every machine and Python
version (no ``random`` state, no ``hash()`` salt). The validation share is therefore
close to, not exactly, ``fraction``.

For NEU-Seg the validation set is carved out of the ``training`` split; its ``test``
split is for the final report only and must never be used for tuning.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence

from trainer.data.sample import format_names

log = logging.getLogger(__name__)

_SCALE = float(1 << 64)


def holdout_split(
    names: Sequence[str],
    fraction: float,
    seed: int = 0,
    groups: Mapping[str, str] | None = None,
) -> tuple[list[str], list[str]]:
    """Split names into training and held-out validation names.

    Parameters
    ----------
    names
        Unique sample names.
    fraction
        Target share of validation names, strictly between 0 and 1.
    seed
        Chooses another, equally deterministic split.
    groups
        Optional name -> group key; names with the same key go to the same side (the key is
        hashed instead of the name). Use it to keep duplicates or related images together,
        e.g. with :func:`trainer.data.fingerprint.image_content_groups`. Names missing from
        the mapping form groups of their own.

    Returns
    -------
    train : list of str
        Names kept for training, in input order.
    val : list of str
        Held-out names, in input order.

    Raises
    ------
    ValueError
        If ``fraction`` is not in (0, 1), ``seed`` is not an int, a name is repeated, or
        either side would be empty (use more names or another fraction/seed).
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 < fraction < 1.0:
        raise ValueError(f"holdout fraction must be a number strictly between 0 and 1, got {fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"holdout seed must be an int, got {seed!r}")
    names = list(names)
    seen: set[str] = set()
    repeated: list[str] = []
    for name in names:
        if name in seen:
            repeated.append(name)
        seen.add(name)
    if repeated:
        raise ValueError(f"holdout_split: names must be unique; repeated: {format_names(repeated)}")
    train: list[str] = []
    val: list[str] = []
    for name in names:
        key = name if groups is None else groups.get(name, name)
        (val if _unit_hash(key, seed) < fraction else train).append(name)
    if not train or not val:
        raise ValueError(
            f"holdout_split: fraction {fraction} of {len(names)} names leaves "
            f"{len(train)} for training and {len(val)} for validation; use more names or another fraction"
        )
    log.info(
        "holdout split (seed %d): %d train, %d val (%.1f%% held out, target %.1f%%)",
        seed,
        len(train),
        len(val),
        100.0 * len(val) / len(names),
        100.0 * fraction,
    )
    return train, val


def _unit_hash(key: str, seed: int) -> float:
    """Map ``(seed, key)`` to a float in [0, 1) that is uniform over keys and the same everywhere."""
    data = f"{seed}\x00{key}".encode()
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big") / _SCALE
