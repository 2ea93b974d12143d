"""The common parts of the trainer's dataset loaders.

Every loader reads image/mask pairs from disk and hands them out as :class:`Sample`
records in the project convention: the image is a ``uint8`` RGB array of shape
``(H, W, 3)`` (greyscale files are expanded to three channels) and the mask is a
``uint8`` array of shape ``(H, W)`` holding class ids, 255 meaning "ignore".

A loader never skips, resizes or pads a bad pair. :meth:`SegmentationDataset.load`
raises :class:`DatasetError` naming the file and the reason, and
:meth:`SegmentationDataset.check` reads every pair and returns one problem string
per bad pair, so a whole dataset can be audited in one pass.
"""

from __future__ import annotations

import abc
import copy
import logging
import operator
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, TypeVar

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

IGNORE_INDEX = 255
"""Mask value that marks pixels excluded from the loss and the metrics."""

IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
"""Image file suffixes the loaders accept, in order of preference (compared case-insensitively)."""

# PIL modes that hold 8 bits per channel and convert losslessly (apart from alpha) to RGB.
_EIGHT_BIT_IMAGE_MODES = frozenset({"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr"})
# PIL modes that hold one 8-bit value per pixel: grey levels or palette indices.
_SINGLE_CHANNEL_MASK_MODES = frozenset({"1", "L", "P"})
# Names that are listed in full in an error message before the rest is only counted.
_MAX_LISTED = 10


_DatasetT = TypeVar("_DatasetT", bound="SegmentationDataset")


class DatasetError(ValueError):
    """A dataset, or one of its files, cannot be used as it is; the message says which and why."""


@dataclass(frozen=True, eq=False)
class Sample:
    """One image/mask pair.

    Attributes
    ----------
    name
        The sample's name in its dataset (a file stem or an id).
    image
        ``uint8`` RGB array of shape ``(H, W, 3)``.
    mask
        ``uint8`` array of shape ``(H, W)`` holding class ids; 255 is "ignore".
    """

    name: str
    image: np.ndarray
    mask: np.ndarray


class Pair(NamedTuple):
    """What a loader decoded for one sample, with a description of where each array came from.

    Attributes
    ----------
    image
        The decoded image (validated by :meth:`SegmentationDataset.load`).
    mask
        The decoded or rasterised mask (validated the same way).
    image_source
        The image's file, used in error messages.
    mask_source
        The mask's file (or the annotation it was drawn from), used in error messages.
    """

    image: np.ndarray
    mask: np.ndarray
    image_source: str
    mask_source: str


def format_names(names: Iterable[str], limit: int = _MAX_LISTED) -> str:
    """Join names for an error message, listing at most ``limit`` and counting the rest.

    Parameters
    ----------
    names
        The names to list.
    limit
        How many to write out in full.

    Returns
    -------
    str
        For example ``"a, b, c and 7 more"``.
    """
    items = list(names)
    shown = ", ".join(items[:limit])
    if len(items) > limit:
        shown += f" and {len(items) - limit} more"
    return shown


def validate_num_classes(num_classes: int | None) -> int | None:
    """Check a class count: ``None`` (do not check class ids) or an int in 1..255.

    Parameters
    ----------
    num_classes
        The value to check.

    Returns
    -------
    int or None
        ``num_classes`` unchanged.

    Raises
    ------
    DatasetError
        If the value is not ``None`` and not an int in 1..255 (255 is the ignore index).
    """
    if num_classes is None:
        return None
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise DatasetError(f"num_classes must be an int or None, got {num_classes!r}")
    if not 1 <= int(num_classes) <= IGNORE_INDEX:
        raise DatasetError(
            f"num_classes must be in 1..{IGNORE_INDEX} ({IGNORE_INDEX} is the ignore index), "
            f"got {num_classes}"
        )
    return int(num_classes)


def decode_image(source: Path | Any, label: str, exif_transpose: bool = False) -> np.ndarray:
    """Decode an image file (or file object) to ``uint8`` RGB ``(H, W, 3)``.

    Truncated and corrupt files are errors (PIL is used because it refuses a JPEG whose
    data ends early; some OpenCV builds fill the rest with grey and only print a warning).
    Greyscale and palette images are expanded to RGB; an alpha channel is dropped.

    Parameters
    ----------
    source
        A path or a binary file object.
    label
        How to name the file in error messages (usually its path).
    exif_transpose
        Rotate/flip the pixels as the EXIF orientation tag says (Labelme does this when
        it shows an image, so its annotations are in the rotated frame).

    Returns
    -------
    numpy.ndarray
        ``uint8`` array of shape ``(H, W, 3)``, RGB order.

    Raises
    ------
    DatasetError
        If the file is missing, not an image, truncated or corrupt, or not 8 bits per channel.
    """
    try:
        with Image.open(source) as opened:
            opened.load()
            mode = opened.mode
            if mode not in _EIGHT_BIT_IMAGE_MODES:
                raise DatasetError(
                    f"{label}: image has PIL mode {mode!r} (more than 8 bits per channel); "
                    "SteelSight reads 8-bit images: convert it to 8-bit RGB or greyscale"
                )
            picture = ImageOps.exif_transpose(opened) if exif_transpose else opened
            if picture.mode == "L":
                grey = np.asarray(picture, dtype=np.uint8)
                return np.repeat(grey[:, :, None], 3, axis=2)
            if picture.mode != "RGB":
                picture = picture.convert("RGB")
            return np.array(picture, dtype=np.uint8)
    except FileNotFoundError:
        raise DatasetError(f"{label}: image file is missing") from None
    except UnidentifiedImageError:
        raise DatasetError(f"{label}: not a readable image (unknown or corrupt format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(f"{label}: image is truncated or corrupt ({exc}); replace the file") from None


def decode_mask(path: Path, label: str | None = None) -> np.ndarray:
    """Decode a single-channel 8-bit mask PNG to its stored values (class ids).

    Palette PNGs give their palette indices, never their colours.

    Parameters
    ----------
    path
        The mask file.
    label
        How to name the file in error messages (default: the path).

    Returns
    -------
    numpy.ndarray
        ``uint8`` array of shape ``(H, W)``.

    Raises
    ------
    DatasetError
        If the file is missing, unreadable, corrupt, has more than one channel or more than 8 bits.
    """
    name = label if label is not None else str(path)
    try:
        with Image.open(path) as opened:
            opened.load()
            mode = opened.mode
            if mode not in _SINGLE_CHANNEL_MASK_MODES:
                channels = len(opened.getbands())
                if channels > 1:
                    reason = f"mask has {channels} channels (PIL mode {mode!r}), not one"
                else:
                    reason = f"mask has PIL mode {mode!r} (more than 8 bits per pixel)"
                raise DatasetError(
                    f"{name}: {reason}; masks must be single-channel 8-bit PNGs of class ids "
                    "(greyscale or palette): re-export the mask"
                )
            values = np.array(opened)
    except FileNotFoundError:
        raise DatasetError(f"{name}: mask file is missing") from None
    except UnidentifiedImageError:
        raise DatasetError(f"{name}: not a readable mask image (unknown or corrupt format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(f"{name}: mask is truncated or corrupt ({exc}); replace the file") from None
    return values.astype(np.uint8, copy=False)


def index_files(folder: Path, suffixes: Sequence[str]) -> tuple[dict[str, Path], dict[str, list[Path]]]:
    """Map the stems of a folder's files with the given suffixes to their paths, in one listing.

    Parameters
    ----------
    folder
        The folder to list (not recursive).
    suffixes
        Accepted suffixes with their dot, lower case, in order of preference.

    Returns
    -------
    found : dict of str to Path
        Stem -> the file with the most preferred suffix.
    ambiguous : dict of str to list of Path
        Stems that occur with more than one accepted suffix -> all of their files.
    """
    rank = {suffix: position for position, suffix in enumerate(suffixes)}
    candidates: dict[str, list[Path]] = {}
    with _scandir(folder) as entries:
        for entry in entries:
            path = Path(entry.path)
            if path.suffix.lower() in rank and entry.is_file():
                candidates.setdefault(path.stem, []).append(path)
    found: dict[str, Path] = {}
    ambiguous: dict[str, list[Path]] = {}
    for stem, paths in candidates.items():
        paths.sort(key=lambda p: (rank[p.suffix.lower()], p.name))
        found[stem] = paths[0]
        if len(paths) > 1:
            ambiguous[stem] = paths
    return found, ambiguous


def _scandir(folder: Path) -> Any:
    """``os.scandir`` with a :class:`DatasetError` naming the folder when it cannot be listed."""
    try:
        return os.scandir(folder)
    except OSError as exc:
        raise DatasetError(f"{folder}: cannot list the folder ({exc.strerror or exc})") from None


def missing_files_error(root: Path, missing: Mapping[str, Sequence[str]], layout: str) -> DatasetError:
    """Build the error for names whose files are absent, one line per kind of file.

    Parameters
    ----------
    root
        The dataset root.
    missing
        Kind of file (for example ``"image"``) -> names lacking it.
    layout
        One line describing where the files are expected.

    Returns
    -------
    DatasetError
        The error to raise.
    """
    lines = [f"{root}: some listed samples have no files ({layout}):"]
    for kind, names in missing.items():
        if names:
            lines.append(f"  no {kind} for {len(names)}: {format_names(names)}")
    lines.append("Add the files or remove the names from the list.")
    return DatasetError("\n".join(lines))


class SegmentationDataset(abc.ABC):
    """Base of the loaders: an ordered list of sample names and a way to read each pair.

    Subclasses set :attr:`kind`, call ``__init__`` with their names, and implement
    :meth:`files` and :meth:`_read`.

    Parameters
    ----------
    root
        The dataset's root folder.
    names
        The sample names in order; they must be unique.
    num_classes
        Class ids must be below this (or 255 = ignore); ``None`` skips that check.

    Attributes
    ----------
    kind
        Short name of the format ("plain", "voc", "labelme"); prefixes the fingerprint.
    root
        The dataset's root folder.
    names
        The sample names, in order; ``dataset[i]`` is the sample named ``names[i]``.
    num_classes
        The class count the masks are checked against, or ``None``.
    """

    kind: ClassVar[str] = "segmentation"

    def __init__(self, root: Path, names: Sequence[str], num_classes: int | None) -> None:
        self.root = Path(root)
        self.num_classes = validate_num_classes(num_classes)
        self._set_names(names)

    def _set_names(self, names: Sequence[str]) -> None:
        index: dict[str, int] = {}
        duplicates: list[str] = []
        for position, name in enumerate(names):
            if name in index:
                duplicates.append(name)
            index[name] = position
        if duplicates:
            raise DatasetError(
                f"{self.root}: sample names must be unique; repeated: {format_names(duplicates)}"
            )
        self.names: list[str] = list(names)
        self._index = index

    # -- what subclasses provide ------------------------------------------------------------------

    @abc.abstractmethod
    def files(self, name: str) -> dict[str, Path]:
        """The files the sample ``name`` is made from, by role (``"image"``, ``"mask"``, ...).

        Used by the fingerprint, which hashes these files' bytes.
        """

    @abc.abstractmethod
    def _read(self, name: str) -> Pair:
        """Decode the sample ``name``; raise :class:`DatasetError` naming the file on failure."""

    def fingerprint_params(self) -> dict[str, Any]:
        """Settings besides the files that change the samples (hashed into the fingerprint)."""
        return {}

    # -- the public interface ---------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> Sample:
        """The ``index``-th sample (negative indices count from the end).

        Raises
        ------
        IndexError
            If ``index`` is out of range.
        DatasetError
            If the pair is missing, unreadable or inconsistent.
        """
        position = operator.index(index)
        if not -len(self.names) <= position < len(self.names):
            raise IndexError(f"sample index {index} out of range for {len(self.names)} samples")
        return self.load(self.names[position])

    def __iter__(self) -> Iterator[Sample]:
        for name in self.names:
            yield self.load(name)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, samples={len(self)})"

    def load(self, name: str) -> Sample:
        """Read, validate and return the sample called ``name``.

        Raises
        ------
        KeyError
            If ``name`` is not in this dataset.
        DatasetError
            If the pair is missing, unreadable or inconsistent; the message names the file(s).
        """
        if name not in self._index:
            raise KeyError(f"{name!r} is not a sample of {self!r}")
        pair = self._read(name)
        self._validate(name, pair)
        return Sample(name=name, image=pair.image, mask=pair.mask)

    def check(self, progress: bool = False) -> list[str]:
        """Read every pair and report the bad ones.

        Parameters
        ----------
        progress
            Show a tqdm progress bar.

        Returns
        -------
        list of str
            One message per bad pair, naming the file(s) and the reason; empty when all are good.
        """
        names: Iterable[str] = self.names
        if progress:
            from tqdm import tqdm

            names = tqdm(self.names, desc=f"checking {self.root.name}", unit="pair")
        problems: list[str] = []
        for name in names:
            try:
                self.load(name)
            except DatasetError as exc:
                problems.append(str(exc))
        if problems:
            log.warning("%s: %d of %d pairs are bad", self.root, len(problems), len(self))
        else:
            log.info("%s: all %d pairs are good", self.root, len(self))
        return problems

    def subset(self: _DatasetT, names: Iterable[str]) -> _DatasetT:
        """A view of this dataset restricted to ``names``, in the order given.

        Parameters
        ----------
        names
            Names of samples of this dataset, without repeats.

        Returns
        -------
        SegmentationDataset
            A dataset of the same type sharing this one's settings (and file index).

        Raises
        ------
        DatasetError
            If a name is not in this dataset or is repeated.
        """
        chosen = list(names)
        unknown = [name for name in chosen if name not in self._index]
        if unknown:
            raise DatasetError(
                f"{self.root}: {len(unknown)} names are not samples of this {self.kind} dataset: "
                f"{format_names(unknown)}; pick names from dataset.names"
            )
        view = copy.copy(self)
        view._set_names(chosen)
        return view

    # -- validation -------------------------------------------------------------------------------

    def _validate(self, name: str, pair: Pair) -> None:
        image, mask = pair.image, pair.mask
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise DatasetError(
                f"{pair.image_source}: image decoded to {image.dtype} {image.shape}, "
                "expected uint8 (H, W, 3); convert it to 8-bit RGB"
            )
        if mask.ndim != 2:
            raise DatasetError(
                f"{pair.mask_source}: mask has shape {mask.shape}, not single-channel (H, W); "
                "masks must hold one class id per pixel"
            )
        if mask.dtype != np.uint8:
            raise DatasetError(f"{pair.mask_source}: mask is {mask.dtype}, expected uint8 class ids")
        if mask.shape != image.shape[:2]:
            raise DatasetError(
                f"{name}: size mismatch: image {pair.image_source} is {image.shape[1]}x{image.shape[0]} "
                f"but mask {pair.mask_source} is {mask.shape[1]}x{mask.shape[0]} (WxH); "
                "the mask must match its image pixel for pixel"
            )
        if self.num_classes is not None and self.num_classes < IGNORE_INDEX:
            counts = np.bincount(mask.ravel(), minlength=IGNORE_INDEX + 1)
            bad = np.flatnonzero(counts[self.num_classes : IGNORE_INDEX]) + self.num_classes
            if bad.size:
                raise DatasetError(
                    f"{pair.mask_source}: class ids {bad.tolist()} are out of range for num_classes="
                    f"{self.num_classes} (allowed 0..{self.num_classes - 1} and {IGNORE_INDEX} = ignore); "
                    "fix the mask or raise num_classes"
                )


def locate_pairs(
    root: Path,
    names: Sequence[str],
    image_folder: str,
    mask_folder: str,
    image_suffixes: Sequence[str],
    layout: str,
    noun: str = "stem",
) -> dict[str, tuple[Path, Path]]:
    """Find the image and mask file of every name, or raise naming every name that lacks one.

    Parameters
    ----------
    root
        Dataset folder holding ``image_folder`` and ``mask_folder``.
    names
        The sample names (file stems) to find.
    image_suffixes
        Accepted image file endings; masks are ``.png``.
    layout
        One-line description of the expected layout, quoted in errors.
    noun
        What a name is called in messages ("stem", "id").
    """
    for folder in (image_folder, mask_folder):
        if not (root / folder).is_dir():
            raise DatasetError(f"{root / folder}: folder is missing; {layout}")
    images, ambiguous = index_files(root / image_folder, image_suffixes)
    masks, _ = index_files(root / mask_folder, (".png",))
    clashes = [name for name in names if name in ambiguous]
    if clashes:
        examples = "; ".join(", ".join(p.name for p in ambiguous[name]) for name in clashes[:3])
        raise DatasetError(
            f"{root / image_folder}: {len(clashes)} {noun}s have more than one image file ({examples}); "
            f"keep one image per {noun}"
        )
    no_image = [name for name in names if name not in images]
    no_mask = [name for name in names if name not in masks]
    if no_image or no_mask:
        raise missing_files_error(root, {"image": no_image, "mask": no_mask}, layout)
    return {name: (images[name], masks[name]) for name in names}


class FilePairDataset(SegmentationDataset):
    """A dataset whose samples are one image file and one mask file each (plain, VOC).

    Subclasses fill ``_paths`` (name -> (image, mask)) and ``split`` before calling
    ``SegmentationDataset.__init__``.
    """

    _paths: dict[str, tuple[Path, Path]]
    split: str | tuple[str, ...] | None

    def files(self, name: str) -> dict[str, Path]:
        """The image and mask file of the sample ``name``."""
        image, mask = self._paths[name]
        return {"image": image, "mask": mask}

    def _read(self, name: str) -> Pair:
        image_path, mask_path = self._paths[name]
        image = decode_image(image_path, str(image_path))
        mask = decode_mask(mask_path)
        return Pair(image, mask, str(image_path), str(mask_path))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, samples={len(self)})"
