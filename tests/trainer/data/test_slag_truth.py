import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.synth import render_slag
from trainer.data.sample import DatasetError
from trainer.data.slag_truth import slag_truth
from trainer.synth.writer import write_dataset


def test_slag_truth_matches_the_rendered_scenes(tmp_path: Path) -> None:
    root = write_dataset("slag", 2, 7, tmp_path / "slag", size=(128, 128), progress=False)
    truth = slag_truth(root)
    assert sorted(truth) == ["slag_s7_00000", "slag_s7_00001"]
    for index in range(2):
        scene = render_slag(7, index, (128, 128)).truth
        row = truth[f"slag_s7_{index:05d}"]
        assert row.thickness_mm == scene.thickness_mm
        assert row.axis_angle_deg == scene.axis_angle_deg
        assert row.tube_diameter_mm == scene.tube_diameter_mm
        assert row.image_size == (128, 128)
        np.testing.assert_allclose(row.homography, scene.homography_image_to_plane)


def test_measuring_the_true_mask_gives_the_true_thickness(tmp_path: Path) -> None:
    root = write_dataset("slag", 1, 7, tmp_path / "slag", size=(256, 256), progress=False)
    scene = slag_truth(root)["slag_s7_00000"]
    mask = cv2.imread(str(root / "masks" / "slag_s7_00000.png"), cv2.IMREAD_UNCHANGED)
    row = scene.measure(mask)
    assert row["stem"] == "slag_s7_00000" and row["true_mm"] == scene.thickness_mm
    assert row["quality"] == "GOOD"
    assert row["measured_mm"] == pytest.approx(scene.thickness_mm, rel=0.02)


def test_a_class_map_of_another_size_is_refused_by_scene(tmp_path: Path) -> None:
    root = write_dataset("slag", 1, 7, tmp_path / "slag", size=(128, 128), progress=False)
    scene = slag_truth(root)["slag_s7_00000"]
    with pytest.raises(ValueError, match=r"slag_s7_00000: the class map is 64x64 .* 128x128"):
        scene.measure(np.zeros((64, 64), np.uint8))


def test_sets_without_slag_truth_give_nothing(tmp_path: Path) -> None:
    weld = write_dataset("weld", 1, 7, tmp_path / "weld", size=(128, 128), progress=False)
    assert slag_truth(weld) == {}
    assert slag_truth(tmp_path / "no_such_folder") == {}


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("homography_image_to_plane", "[[1, 0", "line 2: not a slag scene's truth"),
        ("image_size", None, "line 2: not a slag scene's truth \\(no column 'image_size'\\)"),
    ],
)
def test_a_broken_truth_row_is_named(tmp_path: Path, column: str, value: str | None, message: str) -> None:
    root = write_dataset("slag", 1, 7, tmp_path / "slag", size=(128, 128), progress=False)
    path = root / "truth.csv"
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if value is None:
        for row in rows:
            del row[column]
    else:
        rows[0][column] = value
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(DatasetError, match=message):
        slag_truth(root)
