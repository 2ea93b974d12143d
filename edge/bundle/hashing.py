"""Streamed SHA-256 digests of bundle files (models can be hundreds of MB)."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK_BYTES = 1 << 20
"""Bytes read per step: large enough to be fast, small enough to keep memory flat."""


def sha256_file(path: Path, chunk_bytes: int = CHUNK_BYTES) -> str:
    """Return the lowercase hex SHA-256 digest of a file, read in chunks.

    Parameters
    ----------
    path
        The file to hash.
    chunk_bytes
        How many bytes to read per step.

    Returns
    -------
    str
        64 lowercase hexadecimal characters.

    Raises
    ------
    OSError
        When the file cannot be opened or read.
    """
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        while chunk := stream.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()
