"""The real NEU-Seg copy in shared/data, read through PlainDataset (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trainer.data import PlainDataset, holdout_split, image_content_groups

NEU_SEG = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "neu_seg"
if not (NEU_SEG / "splits.csv").is_file():
    NEU_SEG = Path("/work/shared/data/neu_seg")

pytestmark = pytest.mark.skipif(
    not (NEU_SEG / "splits.csv").is_file(),
    reason=f"NEU-Seg is not present at {NEU_SEG} (shared/data/neu_seg)",
)


def test_training_and_test_splits() -> None:
    training = PlainDataset(NEU_SEG, split="training", num_classes=4)
    test = PlainDataset(NEU_SEG, split="test", num_classes=4)
    assert len(training) == 3630
    assert len(test) == 840
    assert not set(training.names) & set(test.names)
    assert len(PlainDataset(NEU_SEG)) == 4470
    sample = training[0]
    assert sample.name == training.names[0]
    assert sample.image.shape == (200, 200, 3) and sample.image.dtype == np.uint8
    assert sample.mask.shape == (200, 200) and sample.mask.dtype == np.uint8
    assert set(np.unique(sample.mask).tolist()) <= {0, 1, 2, 3}
    assert set(np.unique(test[0].mask).tolist()) <= {0, 1, 2, 3}


def test_validation_is_carved_from_training_with_duplicates_kept_together() -> None:
    training = PlainDataset(NEU_SEG, split="training", num_classes=4)
    groups = image_content_groups(training)
    train, val = holdout_split(training.names, 0.1, seed=0, groups=groups)
    assert 0.07 < len(val) / len(training) < 0.13
    assert not {groups[n] for n in train} & {groups[n] for n in val}
    assert groups["training_003021"] == groups["training_003025"]
    assert training.subset(val).check() == []
