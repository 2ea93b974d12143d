"""The demo's furnace video: deterministic, and each frame's truth rides with that frame's pixels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge.demo import furnace_video
from edge.sources import open_source
from edge.synth import render_slag


def test_video_frames_and_truth_line_up(tmp_path: Path) -> None:
    video = furnace_video(tmp_path / "out dir", 4, seed=11, size=(128, 160))  # a space in the path too
    lines = [json.loads(line) for line in video.truth.read_text().splitlines()]
    assert video.frames == 4 and len(lines) == 4
    with open_source(video.source_uri) as source:
        frames = list(source)
    assert [f.seq for f in frames] == [0, 1, 2, 3]
    for index, frame in enumerate(frames):
        scene = render_slag(11, index, (128, 160))
        assert frame.truth == lines[index]
        assert frame.truth["scene"] == index and frame.truth["seed"] == 11
        assert frame.truth["thickness_mm"] == pytest.approx(scene.truth.thickness_mm, abs=0)
        assert video.thickness_mm[index] == scene.truth.thickness_mm
        # MP4 is lossy: the decoded frame is close to its own scene, far from the next one's
        own = np.abs(frame.image[..., ::-1].astype(int) - scene.image).mean()
        other = np.abs(
            frame.image[..., ::-1].astype(int) - render_slag(11, index + 1, (128, 160)).image
        ).mean()
        assert own < 10 and other > 2.5 * own, (own, other)


def test_same_seed_same_truth(tmp_path: Path) -> None:
    first = furnace_video(tmp_path / "a", 3, seed=5, size=(96, 96))
    second = furnace_video(tmp_path / "b", 3, seed=5, size=(96, 96))
    assert first.truth.read_bytes() == second.truth.read_bytes()
    assert first.thickness_mm == second.thickness_mm


def test_bad_count_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="count must be a whole number >= 1, got 0"):
        furnace_video(tmp_path, 0)
