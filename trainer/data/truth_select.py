"""Pick a training split out of a synthetic pool by the scenes' recorded truth.

A synthetic set draws its scenes from the generator's natural distribution, in which the hard
cases (for the slag network: thin bands a few pixels high, low-contrast slag) are rare. To give
them more weight without changing the generator (its seeds must keep giving the same bytes),
render a larger *pool* and mark a training split in it: every scene that matches one of the
``prefer`` conditions first, then scenes drawn at random from the rest until ``count`` are
chosen. The pool keeps its images; only ``splits.csv`` is rewritten (atomically), so the
selection costs no disk and is recorded in the dataset fingerprint of every run that trains on it.
Scenes already in the target split count as pool scenes, so running the same selection again
gives the same split instead of adding to it.

A condition reads ``COLUMN<VALUE``, ``COLUMN<=VALUE``, ``COLUMN>VALUE``, ``COLUMN>=VALUE`` or
``COLUMN=VALUE`` over the columns of ``truth.csv`` (e.g. ``thickness_px<15``,
``slag_style=low_contrast``); the comparisons are numeric, ``=`` compares numbers as numbers and
anything else as text.

Never select from a test set: the split it writes is for training.
"""

from __future__ import annotations

import logging
import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainer.data.plain import SPLITS_FILE, read_splits_csv, write_splits_csv
from trainer.data.sample import DatasetError, format_names
from trainer.data.truth_rows import TRUTH_FILE, truth_rows

__all__ = ["TruthCondition", "TruthSelection", "truth_select"]

log = logging.getLogger(__name__)

_CONDITION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>|=)\s*(\S.*?)\s*$")
_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class TruthCondition:
    """One ``COLUMN<op>VALUE`` condition on a truth row.

    Attributes
    ----------
    column
        A column of ``truth.csv``.
    op
        ``<``, ``<=``, ``>``, ``>=`` or ``=``.
    value
        The text after the operator.
    """

    column: str
    op: str
    value: str

    @classmethod
    def parse(cls, text: str) -> TruthCondition:
        """Parse ``COLUMN<op>VALUE``; a ValueError says what was expected."""
        match = _CONDITION.match(text)
        if match is None:
            raise ValueError(
                f"condition {text!r} is not COLUMN<VALUE, COLUMN<=VALUE, COLUMN>VALUE, COLUMN>=VALUE "
                "or COLUMN=VALUE (e.g. thickness_px<15 or slag_style=low_contrast)"
            )
        column, op, value = match.groups()
        if op in _NUMERIC and _number(value) is None:
            raise ValueError(f"condition {text!r}: {op} needs a number after it, got {value!r}")
        return cls(column, op, value)

    def __str__(self) -> str:
        return f"{self.column}{self.op}{self.value}"

    @staticmethod
    def require_columns(
        conditions: Sequence[TruthCondition], rows: Sequence[dict[str, str]], path: Path
    ) -> None:
        """Raise a DatasetError naming the columns the conditions use that the truth ``rows`` lack."""
        columns = set(rows[0]) if rows else set()
        unknown = sorted({c.column for c in conditions} - columns)
        if unknown:
            raise DatasetError(
                f"{path}: no column {format_names(map(repr, unknown))}; "
                f"available: {', '.join(sorted(columns - {'stem'})) or 'none (no rows)'}"
            )

    def matches(self, row: dict[str, str], where: str) -> bool:
        """Whether the truth ``row`` meets the condition; ``where`` names the row in errors."""
        cell = row[self.column].strip()
        if self.op == "=":
            wanted, got = _number(self.value), _number(cell)
            if wanted is not None and got is not None:
                return got == wanted
            return cell == self.value
        got = _number(cell)
        if got is None:
            raise DatasetError(
                f"{where}: {self.column} is {cell!r}, not a number, so {self} cannot compare it; "
                f"use {self.column}=VALUE for a text column"
            )
        return _NUMERIC[self.op](got, float(self.value))


@dataclass(frozen=True)
class TruthSelection:
    """What :func:`truth_select` chose.

    Attributes
    ----------
    split
        The split name the chosen scenes got.
    pool
        Scenes that were in ``from_split`` (or already in ``split``) before.
    preferred
        Scenes of the pool that met a condition.
    chosen
        Scenes marked ``to_split``: preferred first, then random fill.
    chosen_preferred
        How many of the chosen met a condition.
    """

    split: str
    pool: int
    preferred: int
    chosen: int
    chosen_preferred: int

    def describe(self) -> str:
        """One line for people: how much the conditions were over-weighted."""
        natural = 100.0 * self.preferred / self.pool if self.pool else 0.0
        share = 100.0 * self.chosen_preferred / self.chosen if self.chosen else 0.0
        return (
            f"marked {self.chosen} of {self.pool} pool scenes as {self.split!r}: "
            f"{self.chosen_preferred} that meet a condition ({share:.0f}% of the split, "
            f"{natural:.0f}% of the pool) and {self.chosen - self.chosen_preferred} drawn at random"
        )


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def truth_select(
    root: Path | str,
    count: int,
    prefer: Sequence[TruthCondition | str],
    *,
    from_split: str = "pool",
    to_split: str = "train",
    seed: int = 0,
) -> TruthSelection:
    """Mark ``count`` scenes of a synthetic pool as a split, preferring those that meet a condition.

    Parameters
    ----------
    root
        A dataset folder written by ``steelsight-train synth`` (``splits.csv`` and ``truth.csv``).
    count
        Number of scenes to mark; at most the number of scenes in ``from_split``.
    prefer
        Conditions (or their text); a scene that meets any of them is chosen before the others.
        When more scenes meet them than ``count``, a seeded random ``count`` of them is chosen.
    from_split
        The split the scenes are taken from (the pool); scenes not chosen get it.
    to_split
        The split name the chosen scenes get; scenes already in it are pool scenes too.
    seed
        Seed of the random draws (the same seed, pool and conditions give the same split).

    Returns
    -------
    TruthSelection
        The numbers, for the log and the README.

    Raises
    ------
    ValueError
        For a malformed condition, ``count < 1``, equal split names or a split named ``test``.
    DatasetError
        When ``splits.csv`` or ``truth.csv`` is missing or broken, ``from_split`` is empty or
        smaller than ``count``, a condition names a column ``truth.csv`` lacks, or a pool scene
        has no truth row.
    """
    root = Path(root)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be an integer >= 1, got {count!r}")
    if from_split == to_split:
        raise ValueError(f"from_split and to_split must differ, both are {from_split!r}")
    if "test" in (from_split, to_split):
        raise ValueError(
            "refusing to select from or into a split named 'test': test scenes are for the final "
            "evaluation only; render a pool with another seed and --split pool"
        )
    conditions = [c if isinstance(c, TruthCondition) else TruthCondition.parse(c) for c in prefer]

    splits_path, truth_path = root / SPLITS_FILE, root / TRUTH_FILE
    rows = read_splits_csv(splits_path)
    table = truth_rows(root)
    if table is None:
        raise DatasetError(
            f"{truth_path}: truth file is missing; only sets written by 'steelsight-train synth' can be "
            "selected by their truth"
        )
    truth = {row["stem"]: row for row in table}
    in_pool = (from_split, to_split)
    pool = [stem for stem, split in rows if split in in_pool]
    if len(pool) < count:
        names = sorted({split for _, split in rows})
        raise DatasetError(
            f"{splits_path}: splits {from_split!r} and {to_split!r} hold {len(pool)} scenes, "
            f"{count} requested "
            f"(splits present: {format_names(map(repr, names))}); render a larger pool"
        )
    TruthCondition.require_columns(conditions, table, truth_path)
    missing = [stem for stem in pool if stem not in truth]
    if missing:
        raise DatasetError(
            f"{truth_path}: no truth for {len(missing)} pool scene(s): "
            f"{format_names(missing)}; re-write the set with 'steelsight-train synth'"
        )

    preferred = [
        stem
        for stem in pool
        if any(c.matches(truth[stem], f"{truth_path}, scene {stem}") for c in conditions)
    ]
    rng = np.random.default_rng(seed)
    if len(preferred) >= count:
        chosen = set(rng.choice(sorted(preferred), size=count, replace=False).tolist())
        chosen_preferred = count
    else:
        preferred_set = set(preferred)
        rest = sorted(stem for stem in pool if stem not in preferred_set)
        chosen = preferred_set | set(rng.choice(rest, size=count - len(preferred), replace=False).tolist())
        chosen_preferred = len(preferred)

    write_splits_csv(
        splits_path,
        [
            (stem, (to_split if stem in chosen else from_split) if split in in_pool else split)
            for stem, split in rows
        ],
    )
    selection = TruthSelection(to_split, len(pool), len(preferred), len(chosen), chosen_preferred)
    log.info("%s: %s", root, selection.describe())
    return selection
