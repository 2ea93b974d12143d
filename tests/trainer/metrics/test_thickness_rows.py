"""The per-scene thickness file: written, read back, bad files named; the relative error sum."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer.data.sample import DatasetError
from trainer.metrics import thickness_error
from trainer.metrics.thickness_rows import (
    THICKNESS_FILE,
    read_thickness_rows,
    relative_error_sum,
    write_thickness_rows,
)

ROWS = [
    {"stem": "a", "true_mm": 40.0, "measured_mm": 42.0, "lines": 30, "coverage": 0.9,
     "quality": "GOOD", "quality_reason": ""},
    {"stem": "b", "true_mm": 100.0, "measured_mm": None, "lines": 0, "coverage": 0.0,
     "quality": "BAD", "quality_reason": "no slag band found"},
    {"stem": "c", "true_mm": 80.0, "measured_mm": 60.0, "lines": 25, "coverage": 0.8,
     "quality": "UNCERTAIN", "quality_reason": "slag band uneven"},
]  # fmt: skip


def test_rows_come_back_as_written(tmp_path: Path) -> None:
    write_thickness_rows(tmp_path / THICKNESS_FILE, ROWS)
    back = read_thickness_rows(tmp_path)  # the report folder finds its file
    assert back == [{k: r[k] for k in ("stem", "true_mm", "measured_mm", "quality")} for r in ROWS]
    assert thickness_error(back) == thickness_error(ROWS)


def test_relative_error_sum_by_hand() -> None:
    assert relative_error_sum(ROWS) == pytest.approx(2 / 40 + 20 / 80)  # b was not measured
    assert 100 * relative_error_sum(ROWS) / 2 == pytest.approx(thickness_error(ROWS)["mae_percent"])
    assert relative_error_sum([]) == 0


def test_bad_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"no thickness.csv; give a report folder"):
        read_thickness_rows(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("stem,true_mm,measured_mm,quality\na,40,42,GOOD\nb,forty,,BAD\n")
    with pytest.raises(DatasetError, match=r"bad.csv line 3: not a thickness row"):
        read_thickness_rows(bad)
    short = tmp_path / "short.csv"
    short.write_text("stem,true_mm,measured_mm,quality\na,40\n")
    with pytest.raises(DatasetError, match=r"short.csv line 2: not a thickness row"):
        read_thickness_rows(short)
