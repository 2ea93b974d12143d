"""The project's plain dataset layout (the one the NEU-Seg copy in ``shared/data`` uses).

::

    root/
      images/<stem>.<jpg|jpeg|png|bmp|tif|tiff>   8-bit RGB or greyscale
      masks/<stem>.png                            single-channel uint8 class ids, 255 = ignore
      splits.csv                                  header "stem,split", one row per sample
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from calibration.atomic_file import atomic_write
from trainer.data.sample import (
    IMAGE_SUFFIXES,
    DatasetError,
    FilePairDataset,
    format_names,
    locate_pairs,
)

log = logging.getLogger(__name__)

SPLITS_FILE = "splits.csv"
LAYOUT = (
    "expected root/images/<stem>.<jpg|jpeg|png|bmp|tif>, root/masks/<stem>.png and "
    "root/splits.csv with the header 'stem,split'"
)


def read_splits_csv(path: Path) -> list[tuple[str, str]]:
    """Read a ``splits.csv`` file into ``(stem, split)`` rows, in file order.

    Parameters
    ----------
    path
        The CSV file; its header must name the columns ``stem`` and ``split`` (others are ignored).

    Returns
    -------
    list of (str, str)
        The rows; blank lines are skipped.

    Raises
    ------
    DatasetError
        If the file is missing, has no ``stem``/``split`` header, a row lacks a value, or a
        stem is listed twice.
    """
    if not path.is_file():
        raise DatasetError(f"{path}: split file is missing; {LAYOUT}")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [column.strip().lower() for column in next(reader, [])]
        if "stem" not in header or "split" not in header:
            raise DatasetError(
                f"{path}: the first line must be the header 'stem,split', found {','.join(header)!r}"
            )
        stem_column, split_column = header.index("stem"), header.index("split")
        rows: list[tuple[str, str]] = []
        first_line: dict[str, int] = {}
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            line = reader.line_num
            cells = [cell.strip() for cell in row]
            stem = cells[stem_column] if stem_column < len(cells) else ""
            split = cells[split_column] if split_column < len(cells) else ""
            if not stem or not split:
                raise DatasetError(f"{path}, line {line}: both 'stem' and 'split' need a value, got {row!r}")
            if stem in first_line:
                raise DatasetError(
                    f"{path}, line {line}: stem {stem!r} is listed again (first on line {first_line[stem]}); "
                    "each stem belongs to exactly one split"
                )
            first_line[stem] = line
            rows.append((stem, split))
    return rows


def write_splits_csv(path: Path, rows: Iterable[tuple[str, str]]) -> None:
    """Write ``(stem, split)`` rows as a ``splits.csv`` file that :func:`read_splits_csv` reads back.

    The file is replaced atomically: a reader (or a power cut) sees the old split or the new one.
    """
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["stem", "split"])
    writer.writerows(rows)
    atomic_write(path, text.getvalue().encode("utf-8"))


class PlainDataset(FilePairDataset):
    """Image/mask pairs in ``images/`` and ``masks/`` with the split of each stem in ``splits.csv``.

    Parameters
    ----------
    root
        The dataset folder.
    split
        One split name, several, or ``None`` for every row of ``splits.csv``.
    num_classes
        Mask values must be below this or 255; ``None`` skips the check.

    Raises
    ------
    DatasetError
        If the layout is wrong, a split name is unknown, or a selected stem has no image or
        no mask file (all such stems are named).
    """

    kind = "plain"

    def __init__(
        self,
        root: Path | str,
        split: str | Sequence[str] | None = None,
        num_classes: int | None = None,
    ) -> None:
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(f"{root}: dataset folder does not exist; {LAYOUT}")
        rows = read_splits_csv(root / SPLITS_FILE)
        wanted = _wanted_splits(split)
        if wanted is None:
            stems = [stem for stem, _ in rows]
        else:
            counts: dict[str, int] = {}
            for _, name in rows:
                counts[name] = counts.get(name, 0) + 1
            unknown = [name for name in wanted if name not in counts]
            if unknown:
                available = ", ".join(f"{name!r} ({count})" for name, count in counts.items())
                raise DatasetError(
                    f"{root / SPLITS_FILE}: unknown split {format_names(map(repr, unknown))}; "
                    f"available: {available or 'none (the file has no rows)'}"
                )
            stems = [stem for stem, name in rows if name in wanted]
        if not stems:
            raise DatasetError(f"{root / SPLITS_FILE}: no rows; list every sample as 'stem,split'")
        self._paths = locate_pairs(root, stems, "images", "masks", IMAGE_SUFFIXES, LAYOUT)
        self.split: str | tuple[str, ...] | None = (
            split if wanted is None or isinstance(split, str) else tuple(wanted)
        )
        super().__init__(root, stems, num_classes)
        log.debug("%s: %d samples (split %r)", root, len(stems), split)


def _wanted_splits(split: str | Sequence[str] | None) -> list[str] | None:
    """Normalise the ``split`` argument to a list of names (``None`` = all)."""
    if split is None:
        return None
    if isinstance(split, str):
        return [split]
    names = list(split)
    if not names or not all(isinstance(name, str) and name for name in names):
        raise DatasetError(f"split must be a name, a non-empty list of names or None, got {split!r}")
    return names
