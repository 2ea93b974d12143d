"""Dataset loaders for training and evaluation: plain, Pascal-VOC and Labelme layouts.

Every loader yields :class:`Sample` records (``uint8`` RGB image ``(H, W, 3)``, ``uint8``
class-id mask ``(H, W)``, 255 = ignore) and reports bad pairs by file name instead of
skipping them. Plain numpy only: the training code wraps these for torch.
"""

from __future__ import annotations

from trainer.data.factory import FORMATS, DatasetConfig, open_dataset
from trainer.data.fingerprint import (
    Fingerprint,
    dataset_fingerprint,
    fingerprint_details,
    fingerprint_with_count,
    image_content_groups,
)
from trainer.data.labelme import LabelmeDataset
from trainer.data.plain import PlainDataset
from trainer.data.sample import IGNORE_INDEX, IMAGE_SUFFIXES, DatasetError, Sample, SegmentationDataset
from trainer.data.split import holdout_split
from trainer.data.voc import VocDataset

__all__ = [
    "FORMATS",
    "IGNORE_INDEX",
    "IMAGE_SUFFIXES",
    "DatasetConfig",
    "DatasetError",
    "Fingerprint",
    "LabelmeDataset",
    "PlainDataset",
    "Sample",
    "SegmentationDataset",
    "VocDataset",
    "dataset_fingerprint",
    "fingerprint_details",
    "fingerprint_with_count",
    "holdout_split",
    "image_content_groups",
    "open_dataset",
]
