from pathlib import Path

import numpy as np

from edge.synth import render_slag
from trainer.data.slag_truth import slag_truth
from trainer.synth.writer import write_dataset


def test_slag_truth_matches_the_rendered_scenes(tmp_path: Path) -> None:
    root = write_dataset("slag", 2, 7, tmp_path / "slag", size=(128, 128), progress=False)
    truth = slag_truth(root)
    assert sorted(truth) == ["slag_s7_00000", "slag_s7_00001"]
    for index in range(2):
        scene = render_slag(7, index, (128, 128)).truth
        row = truth[f"slag_s7_{index:05d}"]
        assert row["thickness_mm"] == scene.thickness_mm
        assert row["axis_angle_deg"] == scene.axis_angle_deg
        assert row["tube_diameter_mm"] == scene.tube_diameter_mm
        np.testing.assert_allclose(row["homography"], scene.homography_image_to_plane)


def test_sets_without_slag_truth_give_nothing(tmp_path: Path) -> None:
    weld = write_dataset("weld", 1, 7, tmp_path / "weld", size=(128, 128), progress=False)
    assert slag_truth(weld) == {}
    assert slag_truth(tmp_path / "no_such_folder") == {}
