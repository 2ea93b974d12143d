"""Synthetic scenes with exact ground truth for the slag and weld tasks (numpy and OpenCV only).

:func:`render_slag` draws an RH-degasser snorkel with a slag band (classes 0 background,
1 tube, 2 slag), :func:`render_weld` an etched weld macro-section (0 background, 1 weld). The
edge runtime renders them live for ``synthetic://`` sources; the trainer writes them out as
datasets (:func:`trainer.synth.write_dataset`).
"""

from edge.synth.slag import SLAG_CLASSES, SlagScene, SlagTruth, render_slag
from edge.synth.weld import WELD_CLASSES, WELD_JOINTS, WeldScene, WeldTruth, render_weld

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
]
