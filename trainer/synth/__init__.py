"""Synthetic scenes with exact ground truth for the slag and weld tasks.

:func:`render_slag` draws an RH-degasser snorkel with a slag band (classes 0 background,
1 tube, 2 slag), :func:`render_weld` an etched weld macro-section (0 background, 1 weld), and
:func:`write_dataset` writes a numbered series of either in the project's plain dataset layout
with the ground truth beside it.
"""

from trainer.synth.slag import SLAG_CLASSES, SlagScene, SlagTruth, render_slag
from trainer.synth.weld import WELD_CLASSES, WELD_JOINTS, WeldScene, WeldTruth, render_weld
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
