"""VocDataset on a tiny Pascal-VOC tree with real palette PNG masks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from trainer.data import DatasetConfig, DatasetError, VocDataset, open_dataset


def voc_palette() -> list[int]:
    """The Pascal-VOC colour map (bit-interleaved), 256 RGB triples flattened."""
    palette: list[int] = []
    for index in range(256):
        red = green = blue = 0
        value = index
        for shift in range(7, -1, -1):
            red |= (value & 1) << shift
            green |= ((value >> 1) & 1) << shift
            blue |= ((value >> 2) & 1) << shift
            value >>= 3
        palette += [red, green, blue]
    return palette


def write_palette_mask(path: Path, indices: np.ndarray, palette: list[int] | None = None) -> None:
    """Save class indices as a palette ("P" mode) PNG, as VOC does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.frombytes("P", (indices.shape[1], indices.shape[0]), indices.tobytes())
    image.putpalette(palette if palette is not None else voc_palette())
    image.save(path)


def write_voc(
    root: Path, lists: dict[str, list[str]], size: tuple[int, int] = (10, 14)
) -> dict[str, np.ndarray]:
    """Write JPEG images, palette masks and ImageSets lists; return the expected masks by id."""
    masks: dict[str, np.ndarray] = {}
    ids = sorted({item for items in lists.values() for item in items})
    for seed, item in enumerate(ids):
        height, width = size
        image = np.full((height, width, 3), (40 * seed % 256, 120, 200), np.uint8)
        (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(root / "JPEGImages" / f"{item}.jpg"), image[:, :, ::-1])
        mask = np.zeros((height, width), np.uint8)
        mask[2:6, 3:9] = 1 + seed % 3
        mask[2, 3:9] = 255  # VOC draws object borders as 255
        write_palette_mask(root / "SegmentationClass" / f"{item}.png", mask)
        masks[item] = mask
    sets = root / "ImageSets" / "Segmentation"
    sets.mkdir(parents=True, exist_ok=True)
    for name, items in lists.items():
        (sets / f"{name}.txt").write_text("".join(f"{item}\n" for item in items))
    return masks


LISTS = {"train": ["2007_000032", "2007_000039"], "val": ["2007_000063"]}


def test_palette_masks_give_indices_not_colours(tmp_path: Path) -> None:
    masks = write_voc(tmp_path, LISTS)
    assert Image.open(tmp_path / "SegmentationClass" / "2007_000032.png").mode == "P"
    dataset = VocDataset(tmp_path, split="train", num_classes=21)
    assert dataset.names == ["2007_000032", "2007_000039"]
    for sample in dataset:
        np.testing.assert_array_equal(sample.mask, masks[sample.name])
        assert set(np.unique(sample.mask)) <= {0, 1, 2, 3, 255}
        assert sample.image.shape == (10, 14, 3)
        assert (
            np.abs(sample.image[0, 0].astype(int) - [40 * dataset.names.index(sample.name), 120, 200]).max()
            <= 3
        )
    assert dataset.check() == []


def test_any_palette_gives_the_same_indices(tmp_path: Path) -> None:
    write_voc(tmp_path, {"train": ["a"]})
    odd = np.zeros((10, 14), np.uint8)
    odd[5:, :] = 2
    odd[0, 0] = 255
    white_for_two = [0, 0, 0] * 2 + [255, 255, 255] + [9, 9, 9] * 253
    write_palette_mask(tmp_path / "SegmentationClass" / "a.png", odd, white_for_two)
    mask = VocDataset(tmp_path, "train", num_classes=3)[0].mask
    np.testing.assert_array_equal(mask, odd)


def test_splits(tmp_path: Path) -> None:
    write_voc(tmp_path, {**LISTS, "trainval": LISTS["train"] + LISTS["val"]})
    assert VocDataset(tmp_path, "val").names == ["2007_000063"]
    assert len(VocDataset(tmp_path, ["train", "val", "trainval"])) == 3
    with pytest.raises(DatasetError, match=r"unknown split 'test'; available: 'train', 'trainval', 'val'"):
        VocDataset(tmp_path, "test")
    (tmp_path / "ImageSets" / "Segmentation" / "main.txt").write_text("2007_000032  1\n")
    with pytest.raises(DatasetError, match=r"main\.txt, line 1: expected one id per line"):
        VocDataset(tmp_path, "main")


def test_missing_files_are_named_at_construction(tmp_path: Path) -> None:
    write_voc(tmp_path, LISTS)
    (tmp_path / "SegmentationClass" / "2007_000039.png").unlink()
    with pytest.raises(DatasetError, match="no mask for 1: 2007_000039"):
        VocDataset(tmp_path, "train")
    with pytest.raises(DatasetError, match=r"ImageSets/Segmentation: folder is missing"):
        VocDataset(tmp_path / "JPEGImages")


def test_bad_pairs_are_reported(tmp_path: Path) -> None:
    write_voc(tmp_path, {"train": ["good", "colour", "class", "jpeg", "gone"]})
    masks, images = tmp_path / "SegmentationClass", tmp_path / "JPEGImages"
    Image.new("RGB", (14, 10), (128, 0, 0)).save(masks / "colour.png")
    big = np.zeros((10, 14), np.uint8)
    big[4, 4] = 21
    write_palette_mask(masks / "class.png", big)
    data = (images / "jpeg.jpg").read_bytes()
    (images / "jpeg.jpg").write_bytes(data[: len(data) // 2])
    dataset = VocDataset(tmp_path, "train", num_classes=21)
    (masks / "gone.png").unlink()
    problems = dataset.check()
    assert len(problems) == 4
    assert any("colour.png" in p and "3 channels" in p for p in problems)
    assert any("class.png" in p and "class ids [21]" in p for p in problems)
    assert any("jpeg.jpg" in p and "truncated" in p for p in problems)
    assert any("gone.png" in p and "missing" in p for p in problems)
    with pytest.raises(DatasetError, match=r"colour\.png"):
        dataset.load("colour")


def test_factory_voc(tmp_path: Path) -> None:
    write_voc(tmp_path, LISTS)
    dataset = open_dataset(DatasetConfig("voc", tmp_path, "val", 21))
    assert isinstance(dataset, VocDataset) and len(dataset) == 1
    with pytest.raises(DatasetError, match="voc format needs 'split'"):
        open_dataset(DatasetConfig("voc", tmp_path, None, 21))
    with pytest.raises(DatasetError, match="'split_file' is not used by the voc format"):
        open_dataset(DatasetConfig("voc", tmp_path, "val", 21, split_file=Path("x.txt")))
