"""Real files for the frame-source tests: small MP4 videos and image folders written with OpenCV."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

SIZE = (48, 64)  # (height, width): small, so the whole suite stays fast on two slow cores


def frame_pixels(index: int, size: tuple[int, int] = SIZE) -> np.ndarray:
    """A BGR test picture whose brightness encodes ``index`` (mp4v keeps flat areas close)."""
    image = np.zeros((*size, 3), np.uint8)
    image[:] = (index * 20 % 256, 100, 200)
    return image


def write_video(path: Path, count: int, size: tuple[int, int] = SIZE, fps: float = 10.0) -> Path:
    """Write ``count`` frames to an mp4v MP4 file with ``cv2.VideoWriter``."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (size[1], size[0]))
    assert writer.isOpened(), "this OpenCV build cannot write mp4v"
    for index in range(count):
        writer.write(frame_pixels(index, size))
    writer.release()
    return path


def write_images(folder: Path, names: Iterable[str], size: tuple[int, int] = SIZE) -> list[Path]:
    """Write one image per name (brightness from its position in ``names``); return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, name in enumerate(names):
        path = folder / name
        assert cv2.imwrite(str(path), frame_pixels(index, size))
        paths.append(path)
    return paths
