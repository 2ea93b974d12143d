from pathlib import Path

import pytest

from trainer.data.plain import read_splits_csv, write_splits_csv
from trainer.data.sample import DatasetError
from trainer.data.truth_rows import truth_rows


def test_truth_rows_reads_every_column_as_text_and_none_without_a_file(tmp_path: Path) -> None:
    assert truth_rows(tmp_path) is None
    (tmp_path / "truth.csv").write_text('stem,thickness_mm,size\na,40.5,"[2,3]"\n,1,x\nb,7,"[1,1]"\n')
    assert truth_rows(tmp_path) == [
        {"stem": "a", "thickness_mm": "40.5", "size": "[2,3]"},
        {"stem": "b", "thickness_mm": "7", "size": "[1,1]"},
    ]


def test_truth_rows_refuses_a_file_without_a_stem_column(tmp_path: Path) -> None:
    (tmp_path / "truth.csv").write_text("name,thickness_mm\na,40\n")
    with pytest.raises(DatasetError, match=r"truth.csv: the header must name a 'stem' column"):
        truth_rows(tmp_path)


def test_written_splits_read_back_unchanged(tmp_path: Path) -> None:
    rows = [("s1", "train"), ("s2", "val"), ("s3", "pool")]
    write_splits_csv(tmp_path / "splits.csv", rows)
    assert (tmp_path / "splits.csv").read_text() == "stem,split\ns1,train\ns2,val\ns3,pool\n"
    assert read_splits_csv(tmp_path / "splits.csv") == rows
