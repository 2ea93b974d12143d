"""write_dataset: the plain layout, the truth files, the split, the video, reruns and refusals."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from trainer.synth import render_slag, render_weld, write_dataset

SIZE = (96, 128)


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def slag_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "slag"
    video = out.parent / "slag.mp4"
    assert (
        write_dataset("slag", 5, 4, out, SIZE, val_fraction=0.4, video=video, fps=5.0, progress=False) == out
    )
    return out


def test_layout_images_and_masks(slag_set: Path) -> None:
    stems = [f"slag_s4_{i:05d}" for i in range(5)]
    assert sorted(p.name for p in slag_set.iterdir()) == [
        "images",
        "masks",
        "splits.csv",
        "synth.json",
        "truth.csv",
        "truth.json",
    ]
    assert sorted(p.name for p in (slag_set / "images").iterdir()) == [f"{s}.png" for s in stems]
    assert sorted(p.name for p in (slag_set / "masks").iterdir()) == [f"{s}.png" for s in stems]
    for index, stem in enumerate(stems):
        scene = render_slag(4, index, SIZE)
        image = cv2.imread(str(slag_set / "images" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), scene.image)
        mask = cv2.imread(str(slag_set / "masks" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        assert mask.ndim == 2 and mask.dtype == np.uint8
        np.testing.assert_array_equal(mask, scene.mask)


def test_splits_and_truth_files(slag_set: Path) -> None:
    assert (slag_set / "splits.csv").read_text() == (
        "stem,split\nslag_s4_00000,train\nslag_s4_00001,train\nslag_s4_00002,train\n"
        "slag_s4_00003,val\nslag_s4_00004,val\n"
    )
    records = json.loads((slag_set / "truth.json").read_text())
    assert [r["stem"] for r in records] == [f"slag_s4_{i:05d}" for i in range(5)]
    with (slag_set / "truth.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for index, (record, row) in enumerate(zip(records, rows, strict=True)):
        truth = render_slag(4, index, SIZE).truth
        assert record == {"stem": record["stem"], **json.loads(json.dumps(truth.to_dict()))}
        assert list(row) == ["stem", *truth.to_dict()]
        assert row["stem"] == record["stem"]
        assert float(row["thickness_mm"]) == truth.thickness_mm
        assert float(row["axis_angle_deg"]) == truth.axis_angle_deg
        assert json.loads(row["homography_image_to_plane"]) == record["homography_image_to_plane"]
    meta = json.loads((slag_set / "synth.json").read_text())
    assert meta["schema"] == "steelsight.synth/1" and meta["task"] == "slag" and meta["count"] == 5
    assert [c["name"] for c in meta["classes"]] == ["background", "tube", "slag"]


def test_video_has_every_scene(slag_set: Path) -> None:
    capture = cv2.VideoCapture(str(slag_set.parent / "slag.mp4"))
    try:
        assert capture.isOpened()
        frames = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        capture.release()
    assert len(frames) == 5
    assert all(frame.shape == (*SIZE, 3) for frame in frames)
    # Lossy, but the frames are the scenes in order (BGR on both sides).
    first = cv2.imread(str(slag_set / "images" / "slag_s4_00000.png"))
    errors = [np.abs(frame.astype(int) - first.astype(int)).mean() for frame in frames]
    assert int(np.argmin(errors)) == 0 and errors[0] < 12


def test_rerun_is_byte_identical_and_replaces_a_previous_dataset(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    write_dataset("weld", 3, 2, first, SIZE, split="test", video=first / "w.mp4", progress=False)
    write_dataset("weld", 7, 9, second, SIZE, progress=False)  # something else first ...
    write_dataset("weld", 3, 2, second, SIZE, split="test", video=second / "w.mp4", progress=False)
    assert tree_bytes(first) == tree_bytes(second)  # ... replaced by exactly the same files
    assert "images/weld_s9_00006.png" not in tree_bytes(second)
    assert {line.split(",")[1] for line in (first / "splits.csv").read_text().split()[1:]} == {"test"}
    record = json.loads((first / "truth.json").read_text())[1]
    assert record == {
        "stem": "weld_s2_00001",
        **json.loads(json.dumps(render_weld(2, 1, SIZE).truth.to_dict())),
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "rebar"}, "task"),
        ({"count": 0}, "count"),
        ({"count": True}, "count"),
        ({"count": 2.0}, "count"),
        ({"seed": -4}, "seed"),
        ({"size": (10, 10)}, "size"),
        ({"split": ""}, "split"),
        ({"split": "a,b"}, "split"),
        ({"val_fraction": 1.5}, "val_fraction"),
        ({"fps": 0.0}, "fps"),
        ({"video": Path("scenes.avi")}, "video"),
    ],
)
def test_bad_arguments_are_refused(tmp_path: Path, kwargs: dict, message: str) -> None:
    arguments = {"task": "slag", "count": 2, "seed": 0, "out": tmp_path / "out", "size": SIZE, **kwargs}
    with pytest.raises(ValueError, match=message):
        write_dataset(**arguments, progress=False)
    assert not (tmp_path / "out").exists()


def test_foreign_folders_are_refused(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        write_dataset("slag", 1, 0, a_file, SIZE, progress=False)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a synthetic dataset"):
        write_dataset("slag", 1, 0, busy, SIZE, progress=False)
    assert (busy / "notes.txt").read_text() == "keep me"
    old = write_dataset("weld", 1, 0, tmp_path / "old", SIZE, progress=False)
    (old / "images" / "real_photo.png").write_bytes(b"")
    with pytest.raises(ValueError, match="real_photo"):
        write_dataset("weld", 1, 0, old, SIZE, progress=False)
    assert (old / "images" / "real_photo.png").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert write_dataset("weld", 1, 0, empty, SIZE, progress=False) == empty
