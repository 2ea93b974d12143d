"""Frames with their class map blended in, for a person to look at (``--save-overlay DIR``)."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from edge.atomic_file import atomic_write

__all__ = ["PALETTE_BGR", "OverlayWriter", "draw_overlay"]

log = logging.getLogger(__name__)

PALETTE_BGR = np.array(
    [
        [0, 0, 0],  # 0 background: left as it is
        [255, 160, 0],  # 1 tube (slag task) / weld (weld task): blue
        [0, 80, 255],  # 2 slag: orange-red
        [0, 220, 0],
        [200, 0, 200],
        [0, 220, 220],
    ],
    np.uint8,
)
"""Colours per class id (BGR); class 0 and the 255 "not measured" value are not tinted."""


def draw_overlay(
    image: np.ndarray, classes: np.ndarray, lines: list[str] | None = None, alpha: float = 0.45
) -> np.ndarray:
    """Blend ``classes`` (``HxW`` uint8 ids, 255 = not measured) over ``image`` (``HxWx3`` BGR).

    Class 0 is left untinted, class boundaries are drawn in white, and ``lines`` of text are
    written top-left on a dark band. Returns a new image.
    """
    if classes.shape != image.shape[:2]:
        raise ValueError(f"class map {classes.shape} does not match the image {image.shape[:2]}")
    out = image.copy()
    ids = classes.astype(np.intp)
    tinted = (ids > 0) & (ids < len(PALETTE_BGR))
    if tinted.any():
        colours = PALETTE_BGR[np.where(tinted, ids, 0)]
        blend = (out.astype(np.float32) * (1 - alpha) + colours.astype(np.float32) * alpha).astype(np.uint8)
        out[tinted] = blend[tinted]
    edges = cv2.morphologyEx(classes, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    out[edges & (classes != 255)] = (255, 255, 255)
    if lines:
        scale = max(0.4, image.shape[1] / 1400)
        height = int(22 * scale / 0.5)
        cv2.rectangle(out, (0, 0), (image.shape[1], height * len(lines) + 6), (0, 0, 0), -1)
        for i, text in enumerate(lines):
            cv2.putText(
                out,
                text,
                (6, height * (i + 1)),
                cv2.FONT_HERSHEY_SIMPLEX,
                scale,
                (255, 255, 255),
                1,
                cv2.LINE_AA,
            )
    return out


class OverlayWriter:
    """Write overlays as JPEG files named by frame sequence number into ``folder``.

    Parameters
    ----------
    folder
        Created when missing; a folder that cannot be written fails here, naming it.
    every
        Write every n-th frame (1 = all).
    quality
        JPEG quality 1-100.
    """

    def __init__(self, folder: Path, every: int = 1, quality: int = 90) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1 frame, got {every}")
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            probe = self.folder / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise OSError(f"cannot write overlays to {self.folder}: {exc}; choose a writable folder") from exc
        self.every = every
        self.quality = quality
        self.written = 0
        self._failures = 0

    def write(self, seq: int, image: np.ndarray, classes: np.ndarray, lines: list[str] | None = None) -> None:
        """Draw and save frame ``seq`` when it is due; a failed write is logged, never raised."""
        if seq % self.every:
            return
        ok, encoded = cv2.imencode(
            ".jpg", draw_overlay(image, classes, lines), [cv2.IMWRITE_JPEG_QUALITY, self.quality]
        )
        try:
            if not ok:
                raise OSError("JPEG encoding failed")
            atomic_write(self.folder / f"frame_{seq:08d}.jpg", encoded.tobytes())
            self.written += 1
        except OSError as exc:
            self._failures += 1
            if self._failures == 1 or self._failures % 100 == 0:
                log.warning(
                    "overlay %d not written to %s (%d failures): %s", seq, self.folder, self._failures, exc
                )
