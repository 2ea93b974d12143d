"""The pictures a person looks at after the demo: an image strip and a video of the overlays."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from edge.atomic_file import atomic_write

__all__ = ["overlay_reel"]

log = logging.getLogger(__name__)


def overlay_reel(
    overlays: Path,
    strip: Path,
    video: Path | None = None,
    *,
    tiles: int = 8,
    columns: int = 4,
    tile_width: int = 384,
    fps: float = 2.0,
) -> int:
    """Tile evenly spaced overlay frames into one PNG, and optionally join all of them into an MP4.

    Parameters
    ----------
    overlays
        The folder of ``frame_<seq>.jpg`` overlays that ``steelsight-edge run --save-overlay`` writes.
    strip
        The PNG to write: ``tiles`` frames spread over the run, ``columns`` per row.
    video
        An MP4 with every overlay in order (``None``: no video).
    tiles, columns, tile_width
        Strip layout; each tile keeps its frame's aspect ratio.
    fps
        Frame rate of the video (slow enough to read the text on each frame).

    Returns
    -------
    int
        Number of overlays found.

    Raises
    ------
    FileNotFoundError
        When the folder holds no overlays (the run processed no frame).
    OSError
        When the strip or the video cannot be written.
    """
    frames = sorted(Path(overlays).glob("frame_*.jpg"))
    if not frames:
        raise FileNotFoundError(f"no overlays (frame_*.jpg) in {overlays}; did the run process any frame?")
    picks = np.unique(np.linspace(0, len(frames) - 1, min(tiles, len(frames))).round().astype(int))
    images = [cv2.imread(str(frames[i]), cv2.IMREAD_COLOR) for i in picks]
    images = [image for image in images if image is not None]
    if not images:
        raise OSError(f"the overlays in {overlays} cannot be read back")
    height, width = images[0].shape[:2]
    tile_height = round(height * tile_width / width)
    tiles_resized = [
        cv2.resize(image, (tile_width, tile_height), interpolation=cv2.INTER_AREA) for image in images
    ]
    rows = -(-len(tiles_resized) // columns)
    canvas = np.zeros((rows * tile_height, min(columns, len(tiles_resized)) * tile_width, 3), np.uint8)
    for index, tile in enumerate(tiles_resized):
        row, column = divmod(index, columns)
        canvas[
            row * tile_height : (row + 1) * tile_height, column * tile_width : (column + 1) * tile_width
        ] = tile
    ok, encoded = cv2.imencode(".png", canvas)
    if not ok:
        raise OSError(f"PNG encoding of the strip {strip} failed")
    atomic_write(strip, encoded.tobytes())
    if video is not None:
        writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
        if not writer.isOpened():
            raise OSError(f"cannot write the overlay video {video} (no mp4v encoder in this OpenCV build?)")
        try:
            for path in frames:
                image = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if image is not None and image.shape[:2] == (height, width):
                    writer.write(image)
        finally:
            writer.release()
    log.info("overlay strip %s from %d of %d frames", strip, len(images), len(frames))
    return len(frames)
