"""Measurements from segmentation masks (numpy, OpenCV and SciPy only; no torch)."""

from edge.measure.slag_thickness import SlagThickness, slag_thickness

__all__ = ["SlagThickness", "slag_thickness"]
