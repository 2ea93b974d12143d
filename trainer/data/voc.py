"""Pascal-VOC segmentation layout.

::

    root/
      JPEGImages/<id>.jpg                    (other accepted image suffixes work too)
      SegmentationClass/<id>.png             palette PNG: the palette *indices* are class ids,
                                             255 = ignore (VOC's object borders)
      ImageSets/Segmentation/<split>.txt     one id per line

The masks are read as palette indices with PIL; their colours are never looked at, so
any palette works.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from trainer.data.sample import (
    IMAGE_SUFFIXES,
    DatasetError,
    FilePairDataset,
    format_names,
    locate_pairs,
)

log = logging.getLogger(__name__)

LAYOUT = (
    "expected root/JPEGImages/<id>.jpg, root/SegmentationClass/<id>.png and "
    "root/ImageSets/Segmentation/<split>.txt"
)
_SETS = Path("ImageSets", "Segmentation")
# VOC's own images are JPEGs; other suffixes are accepted for VOC-style custom datasets.
_IMAGE_SUFFIXES = (".jpg", *(suffix for suffix in IMAGE_SUFFIXES if suffix != ".jpg"))


def read_id_list(path: Path) -> list[str]:
    """Read an ``ImageSets`` list: one id per line, blank lines and ``#`` comments ignored.

    Parameters
    ----------
    path
        The list file.

    Returns
    -------
    list of str
        The ids in file order.

    Raises
    ------
    DatasetError
        If a line holds more than one field (as the ``ImageSets/Main`` files do).
    """
    ids: list[str] = []
    with path.open(encoding="utf-8-sig") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if len(line.split()) != 1:
                raise DatasetError(
                    f"{path}, line {number}: expected one id per line, got {raw.strip()!r} "
                    "(is this an ImageSets/Main file? use ImageSets/Segmentation)"
                )
            ids.append(line)
    return ids


class VocDataset(FilePairDataset):
    """Pascal-VOC style segmentation pairs selected by an ``ImageSets/Segmentation`` list.

    Parameters
    ----------
    root
        The VOC folder (the one holding ``JPEGImages``), e.g. ``VOCdevkit/VOC2012``.
    split
        Name of a list in ``ImageSets/Segmentation`` (``"train"``, ``"val"``, ``"trainval"``)
        or several names, whose ids are concatenated (an id listed twice is kept once).
    num_classes
        Mask indices must be below this or 255; ``None`` skips the check (VOC itself has 21).

    Raises
    ------
    DatasetError
        If the layout is wrong, a split name is unknown (the available ones are listed), or a
        listed id has no image or no mask file (all such ids are named).
    """

    kind = "voc"

    def __init__(
        self,
        root: Path | str,
        split: str | Sequence[str] = "train",
        num_classes: int | None = None,
    ) -> None:
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(f"{root}: dataset folder does not exist; {LAYOUT}")
        sets = root / _SETS
        if not sets.is_dir():
            raise DatasetError(f"{sets}: folder is missing; {LAYOUT}")
        wanted = [split] if isinstance(split, str) else list(split)
        if not wanted or not all(isinstance(name, str) and name for name in wanted):
            raise DatasetError(f"split must be a list name or a non-empty list of names, got {split!r}")
        available = sorted(path.stem for path in sets.glob("*.txt"))
        unknown = [name for name in wanted if name not in available]
        if unknown:
            raise DatasetError(
                f"{sets}: unknown split {format_names(map(repr, unknown))}; "
                f"available: {', '.join(map(repr, available)) or 'none (no .txt lists)'}"
            )
        ids: list[str] = []
        seen: set[str] = set()
        for name in wanted:
            for item in read_id_list(sets / f"{name}.txt"):
                if item not in seen:
                    seen.add(item)
                    ids.append(item)
        if not ids:
            raise DatasetError(f"{sets}: the list(s) {', '.join(wanted)} hold no ids")
        self._paths = locate_pairs(
            root, ids, "JPEGImages", "SegmentationClass", _IMAGE_SUFFIXES, LAYOUT, noun="id"
        )
        self.split = split if isinstance(split, str) else tuple(wanted)
        super().__init__(root, ids, num_classes)
        log.debug("%s: %d samples (split %r)", root, len(ids), split)
