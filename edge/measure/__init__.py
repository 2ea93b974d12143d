"""Measurements from segmentation masks (numpy, OpenCV, SciPy and pymatting only; no torch).

Slag: :func:`measure_slag` (thickness along the tube axis, with quality) and the
:class:`DipCycleAggregator` that turns a frame stream into one measurement per dip. Weld:
:func:`measure_weld` (area, width, depth, contour) after :func:`refine_weld_mask` (closed-form
matting on the uncertain band). Masks travel as COCO RLE or 1-bit PNG (:func:`encode_mask`).
"""

from edge.measure.dip_cycle import DipCycleAggregator, DipCycleConfig, SlagCycleMeasurement
from edge.measure.mask_encoding import (
    MASK_ENCODINGS,
    decode_mask,
    decode_png_1bit,
    decode_rle,
    encode_mask,
    encode_png_1bit,
    encode_rle,
)
from edge.measure.matting import MattingConfig, MattingResult, refine_weld_mask
from edge.measure.matting import warm_up as warm_up_matting
from edge.measure.quality import MeasureQuality, QualityCode
from edge.measure.slag import SlagMeasureConfig, SlagMeasurement, measure_slag
from edge.measure.slag_thickness import SlagRuns, SlagThickness, sample_slag_runs, slag_thickness
from edge.measure.tube_axis import AxisEstimate, SideLine, estimate_tube_axis
from edge.measure.weld import WeldMeasureConfig, WeldMeasurement, measure_weld

__all__ = [
    "MASK_ENCODINGS",
    "AxisEstimate",
    "DipCycleAggregator",
    "DipCycleConfig",
    "MattingConfig",
    "MattingResult",
    "MeasureQuality",
    "QualityCode",
    "SideLine",
    "SlagCycleMeasurement",
    "SlagMeasureConfig",
    "SlagMeasurement",
    "SlagRuns",
    "SlagThickness",
    "WeldMeasureConfig",
    "WeldMeasurement",
    "decode_mask",
    "decode_png_1bit",
    "decode_rle",
    "encode_mask",
    "encode_png_1bit",
    "encode_rle",
    "estimate_tube_axis",
    "measure_slag",
    "measure_weld",
    "refine_weld_mask",
    "sample_slag_runs",
    "slag_thickness",
    "warm_up_matting",
]
