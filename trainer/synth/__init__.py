"""Synthetic datasets: the edge package's scene renderers written out in the plain layout.

The renderers live in :mod:`edge.synth` (the camera runtime draws them live for its
``synthetic://`` sources and must not depend on the trainer); :func:`write_dataset` writes a
numbered series of scenes with their ground truth beside them, and optionally a video.
"""

from edge.synth import (
    SLAG_CLASSES,
    WELD_CLASSES,
    WELD_JOINTS,
    SlagScene,
    SlagTruth,
    WeldScene,
    WeldTruth,
    render_slag,
    render_weld,
)
from trainer.synth.writer import write_dataset

__all__ = [
    "SLAG_CLASSES",
    "WELD_CLASSES",
    "WELD_JOINTS",
    "SlagScene",
    "SlagTruth",
    "WeldScene",
    "WeldTruth",
    "render_slag",
    "render_weld",
    "write_dataset",
]
