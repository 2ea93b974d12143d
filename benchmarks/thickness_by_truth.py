"""Slag thickness error of evaluation reports, split into groups of scenes by their truth (JSON).

``steelsight-train eval`` writes one ``thickness.csv`` row per scene. This script reads the
reports given (e.g. two checkpoints on the same validation set, side by side) against the set's
``truth.csv`` and summarises the error (:func:`trainer.metrics.thickness_error`) over all
scenes, over the scenes that meet each ``--group`` condition (the syntax of
``steelsight-train select``: ``thickness_px<15``, ``slag_style=low_contrast``), over those that
meet any of them, and over the rest. ``share_of_error`` is the part of the summed per-scene
relative error (measured scenes) that falls in the group: where the error comes from.

    python benchmarks/thickness_by_truth.py data/synth/slag_val500 \\
        reports/val/slag_compact_768_more_data_val500 reports/val/slag_compact_768_hard_val500 \\
        --group "thickness_px<15" --group slag_style=low_contrast

Choose training data or checkpoints by groups of validation sets only: doing so by test-set
groups is tuning on the test. On a finished test it only reports (e.g. ``--group stem=NAME``
sets one scene apart from the rest).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from trainer.data import DatasetError
from trainer.data.truth_rows import truth_rows
from trainer.data.truth_select import TruthCondition
from trainer.metrics import thickness_error
from trainer.metrics.thickness_rows import read_thickness_rows, relative_error_sum


def _summary(rows: list[dict[str, Any]], total_relative: float) -> dict[str, Any]:
    relative = relative_error_sum(rows)
    summary = thickness_error(rows)
    summary["share_of_error"] = relative / total_relative if total_relative > 0 else float("nan")
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", type=Path, help="the synthetic slag set the reports evaluated (truth.csv)")
    parser.add_argument("reports", type=Path, nargs="+", help="report folders (or thickness.csv files)")
    parser.add_argument(
        "--group", action="append", default=[], metavar="COND", help="a truth condition (repeatable)"
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    try:
        conditions = [TruthCondition.parse(text) for text in args.group]
        table = truth_rows(args.data)
        if table is None:
            raise DatasetError(f"{args.data}: no truth.csv; give the synthetic set the reports evaluated")
        truth = {row["stem"]: row for row in table}
        TruthCondition.require_columns(conditions, table, args.data / "truth.csv")
        results = {}
        for report in args.reports:
            rows = read_thickness_rows(report)
            missing = [r["stem"] for r in rows if r["stem"] not in truth]
            if missing:
                raise DatasetError(
                    f"{report}: {len(missing)} scenes are not in {args.data}/truth.csv (e.g. "
                    f"{missing[0]}); give the set this report evaluated"
                )
            where = {r["stem"]: f"{args.data}/truth.csv, scene {r['stem']}" for r in rows}
            meets = {
                str(c): {r["stem"] for r in rows if c.matches(truth[r["stem"]], where[r["stem"]])}
                for c in conditions
            }
            any_group = set().union(*meets.values()) if meets else set()
            total = relative_error_sum(rows)
            groups = {
                "all": rows,
                **{name: [r for r in rows if r["stem"] in stems] for name, stems in meets.items()},
            }
            if len(conditions) > 1:
                groups["any"] = [r for r in rows if r["stem"] in any_group]
            groups["rest"] = [r for r in rows if r["stem"] not in any_group]
            results[str(report)] = {name: _summary(group, total) for name, group in groups.items()}
    except (DatasetError, ValueError) as error:
        parser.error(str(error))
    text = json.dumps(
        {"benchmark": "thickness_by_truth", "data": str(args.data), "groups": args.group, "results": results},
        indent=2,
    )
    if args.out is not None:
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
