"""PlainDataset on tiny real datasets written to disk, bad pairs included."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from trainer.data import DatasetConfig, DatasetError, PlainDataset, Sample, open_dataset


def write_rgb(path: Path, rgb: np.ndarray, quality: int = 95) -> None:
    """Write an RGB array with OpenCV (which wants BGR)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix in (".jpg", ".jpeg") else []
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]), params)


def write_grey(path: Path, values: np.ndarray) -> None:
    """Write a single-channel 8-bit image (a greyscale picture or a class-id mask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), values)


def pattern(height: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A distinct RGB image and a mask with classes 0..2 and an ignore stripe."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    mask = np.zeros((height, width), np.uint8)
    mask[: height // 2, : width // 2] = 1
    mask[height // 2 :, width // 2 :] = 2
    mask[:, 0] = 255
    return image, mask


def write_plain_dataset(
    root: Path, splits: dict[str, str], size: tuple[int, int] = (12, 16)
) -> dict[str, Sample]:
    """Write PNG pairs for ``stem -> split`` plus ``splits.csv``; return the expected samples."""
    expected: dict[str, Sample] = {}
    for seed, stem in enumerate(splits):
        image, mask = pattern(*size, seed)
        write_rgb(root / "images" / f"{stem}.png", image)
        write_grey(root / "masks" / f"{stem}.png", mask)
        expected[stem] = Sample(stem, image, mask)
    lines = ["stem,split", *(f"{stem},{split}" for stem, split in splits.items())]
    (root / "splits.csv").write_text("\n".join(lines) + "\n")
    return expected


SPLITS = {"a_001": "training", "a_002": "training", "b_001": "test", "a_003": "training"}


def test_loads_exact_pixels_in_rgb_order(tmp_path: Path) -> None:
    expected = write_plain_dataset(tmp_path, SPLITS)
    dataset = PlainDataset(tmp_path, split="training", num_classes=3)
    assert dataset.names == ["a_001", "a_002", "a_003"]
    assert len(dataset) == 3
    for i, name in enumerate(dataset.names):
        sample = dataset[i]
        assert sample.name == name
        assert sample.image.dtype == np.uint8 and sample.image.shape == (12, 16, 3)
        assert sample.mask.dtype == np.uint8 and sample.mask.shape == (12, 16)
        np.testing.assert_array_equal(sample.image, expected[name].image)
        np.testing.assert_array_equal(sample.mask, expected[name].mask)
    assert dataset[-1].name == "a_003"
    assert [s.name for s in dataset] == dataset.names
    assert dataset.check() == []


def test_red_pixel_is_red(tmp_path: Path) -> None:
    write_plain_dataset(tmp_path, {"x": "s"})
    red = np.zeros((12, 16, 3), np.uint8)
    red[..., 0] = 255
    write_rgb(tmp_path / "images" / "x.png", red)
    assert PlainDataset(tmp_path)[0].image[0, 0].tolist() == [255, 0, 0]


def test_greyscale_and_jpeg_images_become_three_channels(tmp_path: Path) -> None:
    write_plain_dataset(tmp_path, {"grey": "s", "jpeg": "s"})
    grey = np.arange(12 * 16, dtype=np.uint8).reshape(12, 16)
    write_grey(tmp_path / "images" / "grey.png", grey)
    (tmp_path / "images" / "jpeg.png").unlink()
    flat = np.full((12, 16, 3), (200, 100, 50), np.uint8)
    write_rgb(tmp_path / "images" / "jpeg.jpg", flat)
    dataset = PlainDataset(tmp_path)
    sample = dataset.load("grey")
    assert sample.image.shape == (12, 16, 3)
    for channel in range(3):
        np.testing.assert_array_equal(sample.image[..., channel], grey)
    jpeg = dataset.load("jpeg").image
    assert jpeg.shape == (12, 16, 3)
    assert np.abs(jpeg.astype(int) - flat).max() <= 3


def test_split_selection(tmp_path: Path) -> None:
    write_plain_dataset(tmp_path, SPLITS)
    assert PlainDataset(tmp_path).names == list(SPLITS)
    assert PlainDataset(tmp_path, split="test").names == ["b_001"]
    assert PlainDataset(tmp_path, split=["test", "training"]).names == list(SPLITS)
    with pytest.raises(DatasetError, match=r"unknown split 'val'.*available: 'training' \(3\), 'test' \(1\)"):
        PlainDataset(tmp_path, split="val")


def test_layout_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        PlainDataset(tmp_path / "nowhere")
    write_plain_dataset(tmp_path, SPLITS)
    (tmp_path / "splits.csv").unlink()
    with pytest.raises(
        DatasetError, match=r"splits\.csv: split file is missing.*images/<stem>.*masks/<stem>\.png"
    ):
        PlainDataset(tmp_path)
    (tmp_path / "splits.csv").write_text("name,part\na_001,training\n")
    with pytest.raises(DatasetError, match="header 'stem,split'"):
        PlainDataset(tmp_path)
    (tmp_path / "splits.csv").write_text("stem,split\na_001,training\na_001,test\n")
    with pytest.raises(DatasetError, match="line 3: stem 'a_001' is listed again"):
        PlainDataset(tmp_path)


def test_listed_stem_without_files_is_named_at_construction(tmp_path: Path) -> None:
    write_plain_dataset(tmp_path, SPLITS)
    (tmp_path / "images" / "a_002.png").unlink()
    (tmp_path / "masks" / "a_003.png").unlink()
    with pytest.raises(DatasetError) as error:
        PlainDataset(tmp_path, split="training")
    assert "no image for 1: a_002" in str(error.value)
    assert "no mask for 1: a_003" in str(error.value)
    assert len(PlainDataset(tmp_path, split="test")) == 1


def test_two_images_for_one_stem_is_an_error(tmp_path: Path) -> None:
    write_plain_dataset(tmp_path, SPLITS)
    write_rgb(tmp_path / "images" / "a_001.jpg", np.zeros((12, 16, 3), np.uint8))
    with pytest.raises(DatasetError, match=r"more than one image file \(a_001.jpg, a_001.png\)"):
        PlainDataset(tmp_path)


def test_every_kind_of_bad_pair_is_named(tmp_path: Path) -> None:
    stems = ["good", "truncated", "nomask", "smaller", "rgbmask", "badclass"]
    write_plain_dataset(tmp_path, dict.fromkeys(stems, "s"))
    images, masks = tmp_path / "images", tmp_path / "masks"
    # A JPEG whose data ends early.
    (images / "truncated.png").unlink()
    noise = np.random.default_rng(1).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    write_rgb(images / "truncated.jpg", noise)
    data = (images / "truncated.jpg").read_bytes()
    (images / "truncated.jpg").write_bytes(data[: len(data) * 2 // 3])
    # A mask of the wrong size, a colour mask, and a class id beyond num_classes.
    write_grey(masks / "smaller.png", np.zeros((6, 16), np.uint8))
    write_rgb(masks / "rgbmask.png", np.zeros((12, 16, 3), np.uint8))
    bad = np.zeros((12, 16), np.uint8)
    bad[3, 3] = 7
    write_grey(masks / "badclass.png", bad)
    dataset = PlainDataset(tmp_path, num_classes=3)
    # A mask that disappears after the dataset was opened.
    (masks / "nomask.png").unlink()

    problems = dataset.check(progress=False)
    assert len(problems) == 5
    by_stem = {stem: [p for p in problems if f"{stem}." in p] for stem in stems}
    assert by_stem["good"] == []
    assert "truncated" in by_stem["truncated"][0]
    assert "mask file is missing" in by_stem["nomask"][0]
    assert "size mismatch" in by_stem["smaller"][0]
    assert "16x12" in by_stem["smaller"][0] and "16x6" in by_stem["smaller"][0]
    assert "3 channels" in by_stem["rgbmask"][0]
    assert "class ids [7]" in by_stem["badclass"][0]

    assert dataset.load("good").name == "good"
    for index, stem in enumerate(stems):
        if stem == "good":
            continue
        with pytest.raises(DatasetError, match=stem):
            dataset[index]


def test_ignore_index_is_allowed_and_no_class_check_without_num_classes(tmp_path: Path) -> None:
    write_plain_dataset(tmp_path, {"x": "s"})
    mask = np.full((12, 16), 255, np.uint8)
    mask[0, 0] = 9
    write_grey(tmp_path / "masks" / "x.png", mask)
    assert PlainDataset(tmp_path).check() == []
    assert len(PlainDataset(tmp_path, num_classes=3).check()) == 1
    assert PlainDataset(tmp_path, num_classes=10).check() == []
    with pytest.raises(DatasetError, match="num_classes"):
        PlainDataset(tmp_path, num_classes=0)


def test_subset_and_indexing(tmp_path: Path) -> None:
    write_plain_dataset(tmp_path, SPLITS)
    dataset = PlainDataset(tmp_path, num_classes=3)
    view = dataset.subset(["a_003", "b_001"])
    assert isinstance(view, PlainDataset)
    assert view.names == ["a_003", "b_001"]
    assert view[0].name == "a_003" and len(view) == 2
    assert "a_001" not in view and "a_001" in dataset
    assert len(dataset) == 4
    with pytest.raises(DatasetError, match="not samples of this plain dataset: zzz"):
        dataset.subset(["a_001", "zzz"])
    with pytest.raises(DatasetError, match="repeated: a_001"):
        dataset.subset(["a_001", "a_001"])
    with pytest.raises(IndexError):
        dataset[4]
    with pytest.raises(KeyError):
        dataset.load("zzz")


def test_factory_opens_plain_and_rejects_bad_configs(tmp_path: Path) -> None:
    write_plain_dataset(tmp_path, SPLITS)
    config = DatasetConfig(format="plain", root=str(tmp_path), split="test", num_classes=3)  # type: ignore[arg-type]
    assert isinstance(config.root, Path)
    dataset = open_dataset(config)
    assert isinstance(dataset, PlainDataset) and dataset.names == ["b_001"]
    same = DatasetConfig.from_mapping(
        {"format": "plain", "root": tmp_path, "split": "test", "num_classes": 3}
    )
    assert same == config
    with pytest.raises(DatasetError, match="unknown format 'coco'; use one of plain, voc, labelme"):
        open_dataset(DatasetConfig("coco", tmp_path, None, None))
    with pytest.raises(DatasetError, match="'class_map' is not used by the plain format"):
        open_dataset(DatasetConfig("plain", tmp_path, None, None, class_map={"a": 1}))
    with pytest.raises(DatasetError, match=r"unknown key.*splt"):
        DatasetConfig.from_mapping({"format": "plain", "root": tmp_path, "splt": "test"})
    with pytest.raises(DatasetError, match="missing key 'root'"):
        DatasetConfig.from_mapping({"format": "plain"})
