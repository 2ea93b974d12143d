"""The demo's synthetic furnace video: rendered slag scenes as an MP4 with a truth file beside it."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.atomic_file import atomic_write
from edge.synth import render_slag

__all__ = ["FurnaceVideo", "furnace_video"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FurnaceVideo:
    """What :func:`furnace_video` wrote.

    Attributes
    ----------
    video
        The MP4 file (mp4v, as OpenCV's pip wheels can write it).
    truth
        The JSON Lines file: line ``i`` is the truth of frame ``i`` (the scene's
        :class:`edge.synth.SlagTruth` fields plus ``scene`` and ``seed``).
    frames
        Frames in the video.
    thickness_mm
        True slag thickness of each frame.
    seconds
        Time spent rendering and encoding.
    """

    video: Path
    truth: Path
    frames: int
    thickness_mm: tuple[float, ...]
    seconds: float

    @property
    def source_uri(self) -> str:
        """The ``file://`` source URI that plays the video with its truth attached."""
        return f"file://{self.video.resolve()}?truth={self.truth.name}"


def furnace_video(
    out: Path,
    count: int = 40,
    *,
    seed: int = 2026,
    size: tuple[int, int] = (512, 512),
    fps: float = 5.0,
    name: str = "furnace",
) -> FurnaceVideo:
    """Render ``count`` synthetic snorkel scenes into ``out/<name>.mp4`` and ``out/<name>.truth.jsonl``.

    Each frame is an independent dip as :func:`edge.synth.render_slag` draws it (tube pose, slag
    thickness from 40 to 300 mm, furnace light, smoke, glare, noise); the MP4 encoding adds the
    compression a recorded video has, so the network sees what a replayed recording would give it.

    Parameters
    ----------
    out
        Folder to write into (created).
    count
        Number of frames (>= 1).
    seed
        Scene seed: the same seed gives the same scenes. The demo bundle was trained on seed 1 and
        tested on seed 2; keep other seeds for the demo so it shows unseen scenes.
    size
        ``(height, width)`` of the frames.
    fps
        Frame rate written into the file (players use it; the camera paces by its own config).
    name
        File stem.

    Raises
    ------
    ValueError
        For a count below 1.
    OSError
        When the folder or the video cannot be written (the message names the file).
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a whole number >= 1, got {count!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    video_path = out / f"{name}.mp4"
    truth_path = out / f"{name}.truth.jsonl"
    height, width = size
    started = time.monotonic()
    writer = cv2.VideoWriter(str(video_path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"cannot write the demo video {video_path} (no mp4v encoder in this OpenCV build?)")
    lines: list[str] = []
    thickness: list[float] = []
    try:
        for index in range(count):
            scene = render_slag(seed, index, size)
            writer.write(np.ascontiguousarray(scene.image[..., ::-1]))  # RGB -> BGR
            truth = {"scene": index, "seed": seed, **scene.truth.to_dict()}
            lines.append(json.dumps(truth))
            thickness.append(scene.truth.thickness_mm)
            log.debug("rendered scene %d/%d: %.1f mm", index + 1, count, scene.truth.thickness_mm)
    finally:
        writer.release()
    atomic_write(truth_path, ("\n".join(lines) + "\n").encode())
    seconds = time.monotonic() - started
    log.info("wrote %s (%d frames) and %s in %.1f s", video_path, count, truth_path, seconds)
    return FurnaceVideo(video_path, truth_path, count, tuple(thickness), seconds)
