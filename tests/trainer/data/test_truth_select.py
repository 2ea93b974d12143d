import csv
import hashlib
from pathlib import Path

import pytest

from trainer.cli import main
from trainer.data.plain import PlainDataset, read_splits_csv
from trainer.data.sample import DatasetError
from trainer.data.truth_select import TruthCondition, truth_select
from trainer.synth.writer import write_dataset


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(
        "slag", 12, 3, tmp_path_factory.mktemp("pool") / "pool", size=(64, 64), split="pool", progress=False
    )


@pytest.fixture
def copy(pool: Path, tmp_path: Path) -> Path:
    """The pool's split and truth files with its images linked (truth_select rewrites splits.csv)."""
    root = tmp_path / "pool"
    root.mkdir()
    for name in ("splits.csv", "truth.csv"):
        (root / name).write_bytes((pool / name).read_bytes())
    (root / "images").symlink_to(pool / "images")
    (root / "masks").symlink_to(pool / "masks")
    return root


def _truth(root: Path) -> dict[str, dict[str, str]]:
    with (root / "truth.csv").open(newline="") as handle:
        return {row["stem"]: row for row in csv.DictReader(handle)}


def _chosen(root: Path, split: str = "train") -> set[str]:
    return {stem for stem, name in read_splits_csv(root / "splits.csv") if name == split}


def test_preferred_scenes_are_all_chosen_then_filled_at_random(copy: Path) -> None:
    truth = _truth(copy)
    px = sorted(float(row["thickness_px"]) for row in truth.values())
    limit = (px[2] + px[3]) / 2  # exactly three scenes are thinner
    thin = {stem for stem, row in truth.items() if float(row["thickness_px"]) < limit}
    assert len(thin) == 3

    selection = truth_select(copy, 6, [f"thickness_px<{limit}"], seed=1)

    chosen = _chosen(copy)
    assert len(chosen) == 6 and thin <= chosen
    counts = (selection.pool, selection.preferred, selection.chosen, selection.chosen_preferred)
    assert counts == (12, 3, 6, 3)
    assert "3 that meet a condition (50% of the split, 25% of the pool)" in selection.describe()
    rows = read_splits_csv(copy / "splits.csv")
    assert [stem for stem, _ in rows] == sorted(truth)  # order and stems kept
    assert {name for stem, name in rows if stem not in chosen} == {"pool"}
    assert len(PlainDataset(copy, "train")) == 6 and len(PlainDataset(copy, "pool")) == 6


def test_the_same_selection_again_gives_the_same_split_and_another_seed_another(copy: Path) -> None:
    truth_select(copy, 5, ["slag_style=dark"], seed=4)
    first = (copy / "splits.csv").read_bytes()
    truth_select(copy, 5, ["slag_style=dark"], seed=4)
    assert (copy / "splits.csv").read_bytes() == first
    seeds = set()
    for seed in range(6):
        truth_select(copy, 5, [], seed=seed)
        seeds.add(hashlib.sha256((copy / "splits.csv").read_bytes()).hexdigest())
    assert len(seeds) > 1


def test_more_preferred_scenes_than_count_gives_only_preferred(copy: Path) -> None:
    truth = _truth(copy)
    median = sorted(float(row["thickness_mm"]) for row in truth.values())[6]
    thick = {stem for stem, row in truth.items() if float(row["thickness_mm"]) >= median}
    selection = truth_select(copy, 4, [f"thickness_mm>={median}"])
    assert _chosen(copy) <= thick and selection.chosen_preferred == 4


def test_conditions_are_parsed_and_compared_as_numbers_or_text() -> None:
    row = {"thickness_px": "12.5", "slag_style": "low_contrast", "count": "3"}
    assert TruthCondition.parse("thickness_px < 15").matches(row, "x")
    assert not TruthCondition.parse("thickness_px>=12.6").matches(row, "x")
    assert TruthCondition.parse("slag_style=low_contrast").matches(row, "x")
    assert TruthCondition.parse("count=3.0").matches(row, "x")
    assert str(TruthCondition.parse("thickness_px <= 4")) == "thickness_px<=4"
    for bad in ("thickness_px", "thickness_px<<3", "<3", "thickness_px<thin"):
        with pytest.raises(ValueError, match="condition"):
            TruthCondition.parse(bad)
    with pytest.raises(DatasetError, match="scene s1: slag_style is 'low_contrast', not a number"):
        TruthCondition.parse("slag_style>1").matches(row, "scene s1")


def test_bad_requests_are_refused_by_name_and_change_nothing(copy: Path) -> None:
    before = (copy / "splits.csv").read_bytes()
    with pytest.raises(DatasetError, match=r"no column 'thickness'; available: .*thickness_px"):
        truth_select(copy, 4, ["thickness<3"])
    with pytest.raises(DatasetError, match="hold 12 scenes, 13 requested"):
        truth_select(copy, 13, [])
    with pytest.raises(DatasetError, match="hold 0 scenes"):
        truth_select(copy, 1, [], from_split="val", to_split="hard")
    with pytest.raises(ValueError, match="split named 'test'"):
        truth_select(copy, 1, [], from_split="test")
    with pytest.raises(ValueError, match="must differ"):
        truth_select(copy, 1, [], to_split="pool")
    with pytest.raises(ValueError, match="count must be an integer >= 1"):
        truth_select(copy, 0, [])
    assert (copy / "splits.csv").read_bytes() == before

    rows = (copy / "truth.csv").read_text().splitlines()
    (copy / "truth.csv").write_text("\n".join(rows[:-1]) + "\n")
    with pytest.raises(DatasetError, match=r"no truth for 1 pool scene\(s\): slag_s3_00011"):
        truth_select(copy, 2, [])
    (copy / "truth.csv").unlink()
    with pytest.raises(DatasetError, match="truth file is missing"):
        truth_select(copy, 2, [])
    assert (copy / "splits.csv").read_bytes() == before


def test_cli_marks_the_split_and_reports_errors(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["select", str(copy), "--count", "4", "--prefer", "slag_style=dark", "--seed", "2"]) == 0
    assert "marked 4 of 12 pool scenes as 'train'" in capsys.readouterr().out
    assert len(_chosen(copy)) == 4
    assert main(["select", str(copy), "--count", "4", "--prefer", "tilt>"]) == 2
    assert "steelsight-train select: error: condition 'tilt>'" in capsys.readouterr().err
