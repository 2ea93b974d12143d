"""Open any supported dataset from one config record (what the trainer's config file holds)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.data.labelme import LabelmeDataset
from trainer.data.plain import PlainDataset
from trainer.data.sample import DatasetError, SegmentationDataset
from trainer.data.voc import VocDataset

FORMATS = ("plain", "voc", "labelme")
"""The dataset formats :func:`open_dataset` understands."""


@dataclass(frozen=True)
class DatasetConfig:
    """Where a dataset is and how to read it.

    Attributes
    ----------
    format
        ``"plain"`` (images/, masks/, splits.csv), ``"voc"`` (Pascal-VOC) or ``"labelme"``.
    root
        The dataset folder.
    split
        plain: a split name, a list of names, or ``None`` for all rows; voc: a list name
        (or several) from ``ImageSets/Segmentation``, required; labelme: must be ``None``
        (use ``split_file``).
    num_classes
        Masks are checked against this (ids below it or 255); ``None`` skips the check.
    class_map
        labelme only, required: shape label -> class id.
    split_file
        labelme only, optional: file listing the sample names to use.
    """

    format: str
    root: Path
    split: str | list[str] | None = None
    num_classes: int | None = None
    class_map: dict[str, int] | None = None
    split_file: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))
        if self.split_file is not None:
            object.__setattr__(self, "split_file", Path(self.split_file))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> DatasetConfig:
        """Build a config from a parsed config-file table, rejecting unknown or missing keys.

        Parameters
        ----------
        values
            Keys named like the fields; ``split``, ``num_classes``, ``class_map`` and
            ``split_file`` may be left out (``None``).

        Raises
        ------
        DatasetError
            Naming the unknown or missing key.
        """
        fields = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise DatasetError(
                f"dataset config: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(fields)}"
            )
        for key in ("format", "root"):
            if key not in values:
                raise DatasetError(f"dataset config: missing key {key!r}")
        return cls(
            format=values["format"],
            root=values["root"],
            split=values.get("split"),
            num_classes=values.get("num_classes"),
            class_map=values.get("class_map"),
            split_file=values.get("split_file"),
        )


def open_dataset(config: DatasetConfig) -> SegmentationDataset:
    """Open the dataset a config describes.

    Parameters
    ----------
    config
        The dataset's format, folder and options.

    Returns
    -------
    SegmentationDataset
        A :class:`PlainDataset`, :class:`VocDataset` or :class:`LabelmeDataset`.

    Raises
    ------
    DatasetError
        If the format is unknown, a field the format needs is missing or a field it does
        not use is set (the message names the field), or the dataset itself is bad.
    """
    fmt = config.format
    if fmt not in FORMATS:
        raise DatasetError(f"dataset config: unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    unused = {
        "plain": ("class_map", "split_file"),
        "voc": ("class_map", "split_file"),
        "labelme": ("split",),
    }[fmt]
    for field in unused:
        if getattr(config, field) is not None:
            hint = " (labelme selects samples with split_file)" if field == "split" else ""
            raise DatasetError(f"dataset config: {field!r} is not used by the {fmt} format; remove it{hint}")
    if fmt == "plain":
        return PlainDataset(config.root, split=config.split, num_classes=config.num_classes)
    if fmt == "voc":
        if config.split is None:
            raise DatasetError(
                "dataset config: the voc format needs 'split' "
                "(the name of a list in ImageSets/Segmentation, e.g. 'train')"
            )
        return VocDataset(config.root, split=config.split, num_classes=config.num_classes)
    if config.class_map is None:
        raise DatasetError("dataset config: the labelme format needs 'class_map' (shape label -> class id)")
    return LabelmeDataset(
        config.root,
        class_map=config.class_map,
        split_file=config.split_file,
        num_classes=config.num_classes,
    )
