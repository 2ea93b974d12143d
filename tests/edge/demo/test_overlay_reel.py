"""The overlay strip and video: tiles spread over the run, every frame in the video, an error without any."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.demo import overlay_reel


def _overlays(folder: Path, count: int) -> None:
    folder.mkdir()
    for seq in range(count):
        image = np.full((60, 80, 3), seq * 20, np.uint8)  # brightness tells the frame
        assert cv2.imwrite(str(folder / f"frame_{seq:08d}.jpg"), image)


def test_strip_tiles_spread_over_the_run_and_video_has_every_frame(tmp_path: Path) -> None:
    _overlays(tmp_path / "overlays", 10)
    strip, video = tmp_path / "strip.png", tmp_path / "reel.mp4"
    assert overlay_reel(tmp_path / "overlays", strip, video, tiles=4, columns=2, tile_width=40) == 10
    image = cv2.imread(str(strip))
    assert image.shape == (2 * 30, 2 * 40, 3)
    levels = [int(image[r * 30 + 15, c * 40 + 20, 0]) for r in range(2) for c in range(2)]
    # tiles 0, 3, 6, 9 of 10 (first and last included), in order
    assert levels == pytest.approx([0, 60, 120, 180], abs=6)
    capture = cv2.VideoCapture(str(video))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    assert count == 10


def test_no_overlays_is_an_error_naming_the_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no overlays \(frame_\*.jpg\) in .*empty"):
        overlay_reel(tmp_path / "empty", tmp_path / "strip.png")
