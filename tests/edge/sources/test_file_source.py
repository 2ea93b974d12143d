"""Video files: a real MP4 read back frame by frame, resizing, looping, pacing, and failures at start."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from edge.frame import utc_ms
from edge.sources import SourceError, open_source
from edge.sources.errors import SourceReadError
from tests.edge.sources.conftest import SIZE, frame_pixels, write_video


def test_mp4_is_read_back_in_order(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.mp4", 6)
    before = utc_ms()
    with open_source(f"file://{video}") as source:
        assert not source.live
        frames = list(source)
        assert source.read() is None
        stats = source.stats()
    assert [f.seq for f in frames] == list(range(6))
    assert all(f.image.shape == (*SIZE, 3) and f.image.dtype == np.uint8 for f in frames)
    stamps = [f.ts_ms for f in frames]
    assert stamps == sorted(stamps) and before <= stamps[0] <= utc_ms()
    assert all(f.source == f"file://{video}" and f.truth is None for f in frames)
    for index, frame in enumerate(frames):  # mp4v is lossy; flat colours survive closely
        assert np.abs(frame.image.astype(int) - frame_pixels(index)).mean() < 8
    assert stats.frames == 6 and stats.gaps == [] and stats.skipped == []


def test_bare_path_resize_and_loop(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.mp4", 3)
    with open_source(str(video), width=32, height=20, loop=True) as source:
        frames = [source.read() for _ in range(7)]
    assert all(f is not None and f.image.shape == (20, 32, 3) for f in frames)
    assert [f.seq for f in frames if f is not None] == list(range(7))


def test_width_alone_keeps_the_aspect_ratio(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.mp4", 2)
    with open_source(f"file://{video}?width=32") as source:
        frame = source.read()
    assert frame is not None and frame.image.shape == (24, 32, 3)


def test_fps_paces_delivery(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.mp4", 6)
    with open_source(f"file://{video}", fps=20) as source:
        start = time.monotonic()
        count = sum(1 for _ in source)
        elapsed = time.monotonic() - start
    assert count == 6
    assert 0.2 <= elapsed < 1.5  # 5 periods of 50 ms between 6 frames; loose for a busy machine


def test_missing_file_fails_at_start(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    with pytest.raises(SourceError, match=f"file://{missing}: video file does not exist: {missing}"):
        open_source(f"file://{missing}")


def test_garbage_file_fails_at_start(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(os.urandom(2000))
    with pytest.raises(SourceError, match=f"cannot open video file {bad}: OpenCV could not decode it"):
        open_source(str(bad))


def test_folder_given_as_file_says_use_dir(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"is a folder, not a video file \(use dir://"):
        open_source(f"file://{tmp_path}")


def test_loop_is_refused_for_a_camera() -> None:
    with pytest.raises(
        SourceError, match="'loop' applies to file, dir and synthetic sources, not to v4l2://"
    ):
        open_source("/dev/video0", loop=True)


def _write_truth(path: Path, count: int) -> Path:
    path.write_text("".join(json.dumps({"index": i, "thickness_mm": 50.0 + i}) + "\n" for i in range(count)))
    return path


def test_truth_file_rides_with_each_frame_and_restarts_on_loop(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.mp4", 3)
    _write_truth(tmp_path / "clip.truth.jsonl", 3)
    with open_source(f"file://{video}?truth=clip.truth.jsonl&loop=1") as source:  # relative: video's folder
        frames = [source.read() for _ in range(5)]
    assert [f.truth["index"] for f in frames if f is not None and f.truth] == [0, 1, 2, 0, 1]
    for index, frame in enumerate(frames):  # the truth belongs to the frame whose pixels it rides with
        assert frame is not None
        assert np.abs(frame.image.astype(int) - frame_pixels(frame.truth["index"])).mean() < 8, index


def test_truth_file_shorter_than_the_video_is_an_error_naming_it(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.mp4", 3)
    truth = _write_truth(tmp_path / "t.jsonl", 2)
    with open_source(f"file://{video}?truth={truth}") as source:
        assert source.read() is not None and source.read() is not None
        with pytest.raises(SourceReadError, match="the truth file has 2 entries but the video has more"):
            source.read()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "truth file does not exist: .*missing.jsonl"),
        ("", "truth file .*missing.jsonl is empty"),
        ('{"a": 1}\nnot json\n', "truth file .*missing.jsonl line 2 is not JSON"),
        ('{"a": 1}\n[1, 2]\n', "line 2 holds a list, expected a JSON object"),
    ],
)
def test_bad_truth_file_fails_at_start(tmp_path: Path, content: str | None, message: str) -> None:
    video = write_video(tmp_path / "clip.mp4", 2)
    if content is not None:
        (tmp_path / "missing.jsonl").write_text(content)
    with pytest.raises(SourceError, match=message):
        open_source(f"file://{video}?truth=missing.jsonl")


def test_truth_with_resizing_is_refused(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.mp4", 2)
    _write_truth(tmp_path / "t.jsonl", 2)
    with pytest.raises(SourceError, match="'truth' cannot be combined with width/height"):
        open_source(f"file://{video}?truth=t.jsonl&width=32")
    with pytest.raises(SourceError, match="option 'truth' needs a value"):
        open_source(f"file://{video}?truth=")
