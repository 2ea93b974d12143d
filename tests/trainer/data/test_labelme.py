"""LabelmeDataset: shapes rasterised in order, images from files or imageData, errors by name."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from trainer.data import DatasetConfig, DatasetError, LabelmeDataset, open_dataset

CLASSES = {"slag": 1, "tube": 2, "ignore": 255}
HEIGHT, WIDTH = 30, 40


def shape(label: str, points: list[list[float]], shape_type: str | None = "polygon") -> dict[str, Any]:
    """One Labelme shape record."""
    return {"label": label, "points": points, "shape_type": shape_type, "group_id": None, "flags": {}}


SHAPES = [
    shape("slag", [[2, 2], [20, 2], [20, 20], [2, 20]]),
    shape("tube", [[30, 25], [15, 15]], "rectangle"),
    shape("slag", [[32, 6], [32, 10]], "circle"),
    shape("ignore", [[0, 28], [39, 28]], "linestrip"),
]


def picture(seed: int = 0) -> np.ndarray:
    """A random RGB image of the annotation size."""
    return np.random.default_rng(seed).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)


def write_labelme(
    folder: Path,
    name: str,
    shapes: list[dict[str, Any]],
    image: np.ndarray | None = None,
    embed: bool = False,
    image_path: str | None = None,
    size: tuple[int, int] = (HEIGHT, WIDTH),
) -> np.ndarray:
    """Write ``<name>.json`` (and its PNG image unless embedded); return the RGB image."""
    folder.mkdir(parents=True, exist_ok=True)
    rgb = picture() if image is None else image
    ok, png = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    assert ok
    record = {
        "version": "5.4.1",
        "flags": {},
        "shapes": shapes,
        "imagePath": image_path or f"{name}.png",
        "imageData": base64.b64encode(png.tobytes()).decode("ascii") if embed else None,
        "imageHeight": size[0],
        "imageWidth": size[1],
    }
    if not embed:
        (folder / (image_path or f"{name}.png").replace("\\", "/")).parent.mkdir(parents=True, exist_ok=True)
        (folder / (image_path or f"{name}.png").replace("\\", "/")).write_bytes(png.tobytes())
    (folder / f"{name}.json").write_text(json.dumps(record))
    return rgb


def assert_expected_mask(mask: np.ndarray) -> None:
    """The pixels SHAPES must produce, later shapes drawn over earlier ones."""
    assert mask.shape == (HEIGHT, WIDTH) and mask.dtype == np.uint8
    assert mask[10, 10] == 1  # inside the polygon only
    assert mask[18, 18] == 2  # polygon overlapped by the later rectangle
    assert mask[22, 25] == 2  # rectangle only
    assert mask[6, 32] == 1 and mask[6, 35] == 1  # circle of radius 4 around (32, 6)
    assert mask[6, 38] == 0
    assert mask[28, 5] == 255 and mask[28, 20] == 255  # the ignore line over everything
    assert mask[0, 39] == 0 and mask[21, 5] == 0  # background
    assert set(np.unique(mask).tolist()) == {0, 1, 2, 255}


def test_shapes_are_rasterised_in_order(tmp_path: Path) -> None:
    image = write_labelme(tmp_path, "frame_001", SHAPES)
    dataset = LabelmeDataset(tmp_path, CLASSES, num_classes=3)
    assert dataset.names == ["frame_001"]
    sample = dataset[0]
    np.testing.assert_array_equal(sample.image, image)
    assert_expected_mask(sample.mask)
    assert dataset.check() == []
    assert set(dataset.files("frame_001")) == {"annotation", "image"}
    assert sample.mask[24, 5] == 255  # Labelme's default line width is 10 pixels
    thin = LabelmeDataset(tmp_path, CLASSES, line_width=2)[0].mask
    assert thin[24, 5] == 0 and thin[28, 5] == 255


def test_embedded_image_data_and_windows_paths(tmp_path: Path) -> None:
    embedded = write_labelme(tmp_path, "embedded", SHAPES, image=picture(1), embed=True)
    windows = write_labelme(tmp_path, "windows", SHAPES[:1], image=picture(2), image_path="..\\pics\\w.png")
    assert (tmp_path.parent / "pics" / "w.png").is_file()
    dataset = LabelmeDataset(tmp_path, CLASSES)
    np.testing.assert_array_equal(dataset.load("embedded").image, embedded)
    assert_expected_mask(dataset.load("embedded").mask)
    assert set(dataset.files("embedded")) == {"annotation"}
    np.testing.assert_array_equal(dataset.load("windows").image, windows)


def test_unknown_label_names_file_label_and_known_labels(tmp_path: Path) -> None:
    write_labelme(tmp_path, "good", SHAPES)
    write_labelme(tmp_path, "bad", [*SHAPES, shape("weld", [[1, 1], [5, 1], [5, 5]])])
    dataset = LabelmeDataset(tmp_path, CLASSES)
    with pytest.raises(DatasetError) as error:
        dataset.load("bad")
    message = str(error.value)
    assert str(tmp_path / "bad.json") in message
    assert "unknown label 'weld'" in message
    assert "'ignore', 'slag', 'tube'" in message
    problems = dataset.check()
    assert len(problems) == 1 and "bad.json" in problems[0] and "'weld'" in problems[0]


def test_missing_image_names_both_paths(tmp_path: Path) -> None:
    write_labelme(tmp_path, "lost", SHAPES)
    (tmp_path / "lost.png").unlink()
    with pytest.raises(DatasetError) as error:
        LabelmeDataset(tmp_path, CLASSES)[0]
    assert str(tmp_path / "lost.json") in str(error.value)
    assert str(tmp_path / "lost.png") in str(error.value)


def test_size_mismatch_and_bad_files(tmp_path: Path) -> None:
    write_labelme(tmp_path, "size", SHAPES, size=(HEIGHT + 1, WIDTH))
    write_labelme(tmp_path, "point", [shape("slag", [[3, 3]], "point")])
    write_labelme(tmp_path, "short", [shape("slag", [[3, 3], [4, 4]])])
    write_labelme(tmp_path, "truncated", SHAPES)
    data = (tmp_path / "truncated.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "broken.json").write_text("{not json")
    dataset = LabelmeDataset(tmp_path, CLASSES)
    problems = dict(zip(["broken", "point", "short", "size", "truncated"], dataset.check(), strict=True))
    assert "broken.json: not valid JSON" in problems["broken"]
    assert "shape_type 'point' is not supported" in problems["point"]
    assert "a polygon cannot have 2 points" in problems["short"]
    assert "31x40" in problems["size"] and "30x40" in problems["size"]
    assert "truncated.png" in problems["truncated"]
    with pytest.raises(DatasetError, match="imageHeight x imageWidth is 31x40"):
        dataset.load("size")


def test_split_file_and_class_map_checks(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        write_labelme(tmp_path / "ann", name, SHAPES)
    (tmp_path / "ann" / "val.txt").write_text("# validation\nc.json\na\n")
    dataset = LabelmeDataset(tmp_path / "ann", CLASSES, split_file=Path("val.txt"))
    assert dataset.names == ["c", "a"]
    (tmp_path / "ann" / "val.txt").write_text("a\nzz\n")
    with pytest.raises(DatasetError, match="no annotation for 1: zz"):
        LabelmeDataset(tmp_path / "ann", CLASSES, split_file=tmp_path / "ann" / "val.txt")
    with pytest.raises(DatasetError, match="split file not found"):
        LabelmeDataset(tmp_path / "ann", CLASSES, split_file=Path("nope.txt"))
    with pytest.raises(DatasetError, match="class id of 'tube' is 2, not below num_classes=2"):
        LabelmeDataset(tmp_path / "ann", CLASSES, num_classes=2)
    with pytest.raises(DatasetError, match=r"no Labelme \.json files"):
        LabelmeDataset(tmp_path, CLASSES)


def test_factory_labelme(tmp_path: Path) -> None:
    write_labelme(tmp_path, "a", SHAPES)
    dataset = open_dataset(DatasetConfig("labelme", tmp_path, None, 3, class_map=CLASSES))
    assert isinstance(dataset, LabelmeDataset) and len(dataset) == 1
    with pytest.raises(DatasetError, match="labelme format needs 'class_map'"):
        open_dataset(DatasetConfig("labelme", tmp_path, None, 3))
    with pytest.raises(DatasetError, match="'split' is not used by the labelme format"):
        open_dataset(DatasetConfig("labelme", tmp_path, "train", 3, class_map=CLASSES))
