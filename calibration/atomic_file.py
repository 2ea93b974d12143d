"""Write a file so that a reader (or a power cut) never sees it half written.

The one implementation for the whole project: the edge runtime re-exports it from
``edge.atomic_file`` (edge may import calibration, never the reverse).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write"]


def atomic_write(path: str | os.PathLike[str], data: bytes | bytearray | memoryview) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    The folder is created when missing. The temporary file is flushed and fsynced before the
    rename and the folder is fsynced after it (POSIX), so the new content survives a power cut;
    a reader sees either the old file or the complete new one, never a partial write. The file
    gets the usual umask-based mode, not ``mkstemp``'s private 0600, and on any failure the
    temporary file is removed. ``data`` may be any object with the buffer protocol (e.g.
    TensorRT's ``IHostMemory``).

    Parameters
    ----------
    path
        The file to write (replaced when it exists).
    data
        The bytes to write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(memoryview(data))
            stream.flush()
            os.fsync(stream.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)  # the camera's service user must read what the installer wrote
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
