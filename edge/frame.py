"""The unit that travels through the camera pipeline: one captured frame and what is known about it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Frame", "QualityVerdict", "utc_ms"]


def utc_ms() -> int:
    """The current time as integer milliseconds since the Unix epoch (UTC)."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class QualityVerdict:
    """The image-quality gate's verdict on one frame.

    Attributes
    ----------
    ok
        ``True`` when every check passed; measurements from a frame that is not ``ok`` are
        marked UNCERTAIN or BAD downstream.
    reasons
        One short reason per failed check, e.g. ``"too dark (mean 12.0 < 25.0)"``; empty when ``ok``.
    figures
        The measured figures, e.g. ``{"mean": 112.0, "saturated": 0.01, "sharpness": 340.0,
        "occluded": 0.0}``.
    """

    ok: bool
    reasons: tuple[str, ...] = ()
    figures: dict[str, float] = field(default_factory=dict)


@dataclass
class Frame:
    """One captured frame.

    Attributes
    ----------
    image
        ``HxWx3`` uint8 pixels in BGR order (OpenCV's convention, what every source yields).
    seq
        The source's frame counter, starting at 0 and increasing by one per delivered frame
        (gaps from a reconnect do not reuse numbers).
    ts_ms
        Capture time, UTC milliseconds (taken when the frame was read from the device).
    source
        The source URI, for logs.
    truth
        Ground truth of a synthetic frame (the scene's recorded truth as a dict), else ``None``.
    quality
        The image-quality gate's verdict, filled by the pipeline before inference.
    timings
        Per-stage durations in seconds, filled by the pipeline (``"capture"``, ``"preprocess"``,
        ``"infer"``, ``"post"``).
    """

    image: np.ndarray
    seq: int
    ts_ms: int
    source: str
    truth: dict[str, Any] | None = None
    quality: QualityVerdict | None = None
    timings: dict[str, float] = field(default_factory=dict)
