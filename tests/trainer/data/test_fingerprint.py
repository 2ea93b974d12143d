"""dataset_fingerprint: sensitive to every byte and to the sample selection, stable otherwise."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from tests.trainer.data.test_labelme import CLASSES, SHAPES, write_labelme
from tests.trainer.data.test_plain import write_plain_dataset, write_rgb
from trainer.data import (
    LabelmeDataset,
    PlainDataset,
    dataset_fingerprint,
    fingerprint_details,
    fingerprint_with_count,
    image_content_groups,
)

SPLITS = {"s1": "train", "s2": "train", "s3": "train", "t1": "test"}


def flip_one_byte(path: Path, offset: int) -> None:
    """Change one byte of a file in place, keeping its length."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_stable_until_one_byte_changes(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_plain_dataset(root, SPLITS)
    first = dataset_fingerprint(PlainDataset(root, "train"))
    assert first.startswith("plain:sha256:") and len(first) == len("plain:sha256:") + 64
    assert dataset_fingerprint(PlainDataset(root, "train")) == first
    moved = tmp_path / "moved"
    shutil.copytree(root, moved)
    assert dataset_fingerprint(PlainDataset(moved, "train")) == first

    mask = root / "masks" / "s2.png"
    original = mask.read_bytes()
    flip_one_byte(mask, len(original) // 2)
    changed = dataset_fingerprint(PlainDataset(root, "train"))
    assert changed != first
    mask.write_bytes(original)
    assert dataset_fingerprint(PlainDataset(root, "train")) == first

    flip_one_byte(root / "images" / "s3.png", 40)
    assert dataset_fingerprint(PlainDataset(root, "train")) not in (first, changed)


def test_selection_changes_the_fingerprint_and_counts_are_reported(tmp_path: Path) -> None:
    write_plain_dataset(tmp_path, SPLITS)
    dataset = PlainDataset(tmp_path, "train")
    value, count = fingerprint_with_count(dataset)
    assert count == 3
    details = fingerprint_details(dataset)
    assert details.value == value == str(details)
    assert details.files == 6
    assert details.size == sum(
        path.stat().st_size for name in dataset.names for path in dataset.files(name).values()
    )
    assert dataset_fingerprint(dataset.subset(["s1", "s2"])) != value
    assert dataset_fingerprint(dataset.subset(["s3", "s1", "s2"])) == value  # order does not matter
    assert dataset_fingerprint(PlainDataset(tmp_path)) != value


def test_labelme_class_map_is_part_of_the_fingerprint(tmp_path: Path) -> None:
    write_labelme(tmp_path, "a", SHAPES)
    plain = dataset_fingerprint(LabelmeDataset(tmp_path, CLASSES))
    assert plain.startswith("labelme:sha256:")
    assert dataset_fingerprint(LabelmeDataset(tmp_path, {**CLASSES, "tube": 3})) != plain
    assert dataset_fingerprint(LabelmeDataset(tmp_path, dict(reversed(CLASSES.items())))) == plain


def test_image_content_groups_find_duplicates(tmp_path: Path) -> None:
    write_plain_dataset(tmp_path, SPLITS)
    shutil.copyfile(tmp_path / "images" / "s1.png", tmp_path / "images" / "s3.png")
    write_rgb(tmp_path / "images" / "t1.png", np.zeros((12, 16, 3), np.uint8))
    groups = image_content_groups(PlainDataset(tmp_path))
    assert groups["s1"] == groups["s3"]
    assert len({groups["s1"], groups["s2"], groups["t1"]}) == 3
