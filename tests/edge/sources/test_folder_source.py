"""Image folders: natural order, grey and colour images, corrupt files, and failures at start."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.sources import SourceError, natural_key, open_source
from tests.edge.sources.conftest import SIZE, frame_pixels, write_images


def test_natural_order_puts_img2_before_img10() -> None:
    names = ["img10.png", "img2.png", "IMG1.png", "img2b.png", "img02.png"]
    assert sorted(names, key=natural_key) == ["IMG1.png", "img02.png", "img2.png", "img2b.png", "img10.png"]


def test_folder_is_read_in_natural_order(tmp_path: Path) -> None:
    names = ["img1.png", "img2.jpg", "img10.bmp", "img11.TIF"]
    write_images(tmp_path, names)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".img0.png").write_bytes(b"hidden temp file")
    with open_source(f"dir://{tmp_path}") as source:
        frames = list(source)
    assert [f.seq for f in frames] == [0, 1, 2, 3]
    for index, frame in enumerate(frames):
        assert frame.image.shape == (*SIZE, 3) and frame.image.dtype == np.uint8
        assert np.abs(frame.image.astype(int) - frame_pixels(index)).max() <= 3  # jpeg is lossy


def test_grey_image_becomes_three_channels(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "grey.png"), np.full(SIZE, 77, np.uint8))
    with open_source(str(tmp_path)) as source:
        frame = source.read()
    assert frame is not None and frame.image.shape == (*SIZE, 3) and (frame.image == 77).all()


def test_corrupt_image_is_named_recorded_and_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_images(tmp_path, ["a1.png", "a2.png", "a4.png"])
    (tmp_path / "a3.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with caplog.at_level(logging.WARNING), open_source(f"dir://{tmp_path}") as source:
        frames = list(source)
        stats = source.stats()
    assert [f.seq for f in frames] == [0, 1, 2]
    assert np.abs(frames[2].image.astype(int) - frame_pixels(2)).max() == 0  # a4 follows a2
    assert [s.name for s in stats.skipped] == ["a3.png"]
    assert "could not decode" in stats.skipped[0].reason
    assert any("a3.png" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_resize_and_loop(tmp_path: Path) -> None:
    write_images(tmp_path, ["1.png", "2.png"])
    with open_source(f"dir://{tmp_path}?loop=1&width=32&height=32") as source:
        frames = [source.read() for _ in range(5)]
    assert all(f is not None and f.image.shape == (32, 32, 3) for f in frames)
    assert [f.seq for f in frames if f is not None] == [0, 1, 2, 3, 4]


def test_missing_folder_fails_at_start(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    with pytest.raises(SourceError, match=f"dir://{missing}: folder does not exist: {missing}"):
        open_source(f"dir://{missing}")


def test_empty_folder_fails_at_start(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(SourceError, match=rf"no images \(\*\.png, \*\.jpg, .*\) in folder {tmp_path}"):
        open_source(f"dir://{tmp_path}")


def test_sixteen_bit_images_are_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cv2.imwrite(str(tmp_path / "deep.png"), np.full(SIZE, 4000, np.uint16))
    with pytest.raises(SourceError, match=r"deep.png: 16-bit uint16 image refused: frames must be 8-bit"):
        open_source(f"dir://{tmp_path}")
    # A 16-bit image later in the folder is skipped and recorded like a corrupt one.
    write_images(tmp_path, ["a.png"])
    with caplog.at_level(logging.WARNING), open_source(f"dir://{tmp_path}") as source:
        assert len(list(source)) == 1
        assert [(s.name, "16-bit" in s.reason) for s in source.stats().skipped] == [("deep.png", True)]
