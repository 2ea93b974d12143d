"""A content fingerprint of a dataset, written into every model bundle's manifest.

The fingerprint is a SHA-256 over the sorted sample names and the bytes of every file
each sample is made from (for each file: its role, its path relative to the dataset
root, its length and its bytes), plus the loader settings that change the samples
(the Labelme class map). Files are streamed in chunks, never decoded and never held
in memory all at once. Moving the dataset folder keeps the fingerprint; changing,
adding, removing or renaming any file, or choosing other samples, changes it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from trainer.data.sample import DatasetError, SegmentationDataset

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_SCHEME = 1  # bump when what is hashed changes, so old and new fingerprints never collide


@dataclass(frozen=True)
class Fingerprint:
    """A dataset fingerprint with what it covers.

    Attributes
    ----------
    value
        ``"<kind>:sha256:<hex digest>"``, e.g. ``"plain:sha256:3f1c..."``.
    count
        Number of samples hashed.
    files
        Number of files hashed.
    size
        Total bytes hashed from files.
    """

    value: str
    count: int
    files: int
    size: int

    def __str__(self) -> str:
        return self.value


def fingerprint_details(dataset: SegmentationDataset) -> Fingerprint:
    """Fingerprint a dataset and report how many samples, files and bytes it covers.

    Parameters
    ----------
    dataset
        Any loader (or a subset of one).

    Returns
    -------
    Fingerprint
        The fingerprint string with the sample count, file count and byte count.

    Raises
    ------
    DatasetError
        If a file of the dataset cannot be read (the message names it).
    """
    digest = hashlib.sha256()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    params = json.dumps(dataset.fingerprint_params(), sort_keys=True, separators=(",", ":"))
    _update_text(digest, f"steelsight.dataset/{_SCHEME}")
    _update_text(digest, dataset.kind)
    _update_text(digest, params)
    names = sorted(dataset.names)
    files = 0
    size = 0
    for name in names:
        _update_text(digest, name)
        sample_files = dataset.files(name)
        digest.update(len(sample_files).to_bytes(4, "big"))
        for role, path in sorted(sample_files.items()):
            _update_text(digest, role)
            _update_text(digest, _relative(path, dataset.root))
            size += _update_file(digest, path, view)
            files += 1
    value = f"{dataset.kind}:sha256:{digest.hexdigest()}"
    log.debug(
        "fingerprint of %r: %s (%d samples, %d files, %d bytes)", dataset, value, len(names), files, size
    )
    return Fingerprint(value=value, count=len(names), files=files, size=size)


def dataset_fingerprint(dataset: SegmentationDataset) -> str:
    """The fingerprint string of a dataset: ``"<kind>:sha256:<hex digest>"``.

    See :func:`fingerprint_details` for what is hashed and what it raises.
    """
    return fingerprint_details(dataset).value


def fingerprint_with_count(dataset: SegmentationDataset) -> tuple[str, int]:
    """The fingerprint string and the number of samples it covers."""
    details = fingerprint_details(dataset)
    return details.value, details.count


def image_content_groups(dataset: SegmentationDataset, names: Iterable[str] | None = None) -> dict[str, str]:
    """Group samples whose image files are byte-for-byte identical.

    Meant for :func:`trainer.data.split.holdout_split`'s ``groups`` argument, so exact
    duplicate images (NEU-Seg has three such pairs in its training split) land on the same
    side of a train/validation split.

    Parameters
    ----------
    dataset
        The dataset; every sample must have an ``"image"`` file.
    names
        The samples to group (default: all).

    Returns
    -------
    dict of str to str
        Sample name -> SHA-256 hex digest of its image file.
    """
    buffer = memoryview(bytearray(_CHUNK))
    groups: dict[str, str] = {}
    for name in dataset.names if names is None else names:
        sample_files = dataset.files(name)
        if "image" not in sample_files:
            raise DatasetError(f"{name}: sample has no image file to group by (embedded image?)")
        digest = hashlib.sha256()
        _update_file(digest, sample_files["image"], buffer, with_length=False)
        groups[name] = digest.hexdigest()
    return groups


def _update_text(digest: hashlib._Hash, text: str) -> None:
    """Hash a length-prefixed UTF-8 string, so that concatenations cannot collide."""
    data = text.encode("utf-8")
    digest.update(len(data).to_bytes(8, "big"))
    digest.update(data)


def _update_file(digest: hashlib._Hash, path: Path, buffer: memoryview, with_length: bool = True) -> int:
    """Stream a file into the digest (prefixed with its length); return the byte count."""
    try:
        with path.open("rb", buffering=0) as handle:
            length = os.fstat(handle.fileno()).st_size
            if with_length:
                digest.update(length.to_bytes(8, "big"))
            total = 0
            while True:
                read = handle.readinto(buffer)
                if not read:
                    break
                digest.update(buffer[:read])
                total += read
    except OSError as exc:
        reason = exc.strerror or exc
        raise DatasetError(f"{path}: cannot read the file for the fingerprint ({reason})") from None
    if total != length:
        raise DatasetError(f"{path}: the file changed size while it was being hashed; try again")
    return total


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` in POSIX form (absolute when it lies outside the root)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
