"""Synthetic scenes rendered live: BGR frames with their truth, deterministic per seed."""

from __future__ import annotations

import time
from collections.abc import Callable
from itertools import islice
from typing import Any

import numpy as np
import pytest

from edge.sources import SourceError, open_source
from edge.synth import render_slag, render_weld


@pytest.mark.parametrize(("scene", "render"), [("slag", render_slag), ("weld", render_weld)])
def test_frames_are_bgr_with_truth(scene: str, render: Callable[..., Any]) -> None:
    with open_source(f"synthetic://{scene}?seed=7&count=3", width=96, height=64) as source:
        frames = list(source)
    assert [f.seq for f in frames] == [0, 1, 2]
    for index, frame in enumerate(frames):
        expected = render(7, index, (64, 96))
        assert frame.image.shape == (64, 96, 3) and frame.image.dtype == np.uint8
        np.testing.assert_array_equal(frame.image, expected.image[..., ::-1])  # renderers draw RGB
        assert frame.truth == expected.truth.to_dict()
        assert frame.truth["image_size"] == [64, 96]


def test_same_seed_same_frames_other_seed_other_frames() -> None:
    def first_two(uri: str) -> list[np.ndarray]:
        with open_source(uri, width=64) as source:
            return [frame.image for frame in islice(source, 2)]

    a, b, c = (
        first_two("synthetic://slag?seed=3"),
        first_two("synthetic://slag?seed=3"),
        first_two("synthetic://slag"),
    )
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])
    assert a[0].shape == (64, 64, 3)  # width alone renders a square


def test_stream_is_endless_without_count_and_loops_with_count() -> None:
    with open_source("synthetic://weld", width=64) as source:
        assert all(source.read() is not None for _ in range(5))
    with open_source("synthetic://weld?count=2&loop=1", width=64) as source:
        frames = list(islice(source, 4))
    assert [f.seq for f in frames] == [0, 1, 2, 3]
    assert np.array_equal(frames[0].image, frames[2].image)


def test_fps_paces_delivery() -> None:
    with open_source("synthetic://slag?count=5&fps=25", width=64) as source:
        start = time.monotonic()
        assert len(list(source)) == 5
        elapsed = time.monotonic() - start
    assert 0.12 <= elapsed < 1.5  # 4 periods of 40 ms; loose for a busy machine


def test_too_small_render_size_is_refused() -> None:
    with pytest.raises(
        SourceError, match="synthetic://slag: synthetic scenes need at least 64x64 pixels, got 32x32"
    ):
        open_source("synthetic://slag", width=32)
