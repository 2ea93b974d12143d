"""``dir://`` sources: the images of a folder in natural name order, or a hot folder a camera writes into.

Images are the files named ``*.png``, ``*.jpg``, ``*.jpeg``, ``*.bmp``, ``*.tif`` or ``*.tiff``
(any case) directly in the folder; names starting with ``.`` (temporary files) and subfolders
are ignored. Natural order compares digit runs as numbers: ``img2.png`` comes before
``img10.png``.

A folder opened normally is read once (or over and over with ``loop``), listed again at the
start of each pass. A corrupt or unusable image is logged as a warning that names it, recorded
in ``stats().skipped`` and skipped; the stream goes on.

A folder opened ``live`` (``dir:///incoming/?live=1``) is a hot folder: the source delivers the
images already there, then each new image as it appears (polling every 50 ms), and never ends.
Images are delivered once each, by name, also across reopens. A new file that cannot be decoded
yet is retried while it is younger than 2 s (it may still be being written), then skipped. Run
live, the source sits behind :class:`edge.sources.ReconnectingSource`: a folder that vanishes is
reopened with backoff, and a folder that receives no image for the stall timeout counts as a gap.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from edge.sources.base import ImageSource, Picture
from edge.sources.errors import SourceError, SourceReadError
from edge.sources.images import OutputSize, UnusableImageError, to_bgr8

__all__ = ["IMAGE_SUFFIXES", "FolderSource", "list_images", "natural_key", "open_folder"]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
"""File name endings (compared case-insensitively) of the images a folder source reads."""

POLL_S = 0.05
"""How often a hot folder is listed while it has no new image."""
SETTLE_S = 2.0
"""A new file younger than this that fails to decode is retried (it may be half written)."""

_PATTERNS = ", ".join(f"*{suffix}" for suffix in IMAGE_SUFFIXES)
_READ_FLAGS = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[tuple[int, int, str], ...], str]:
    """Sort key that orders digit runs by value: ``img2`` < ``img10`` (case-insensitive, then exact)."""
    parts = tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part.casefold())
        for part in _DIGITS.split(name)
        if part
    )
    return parts, name


def list_images(folder: Path) -> list[str]:
    """Names of the images directly in ``folder``, in natural order.

    Raises
    ------
    OSError
        If the folder cannot be listed (missing, not a folder, no permission).
    """
    with os.scandir(folder) as entries:
        names = [
            entry.name
            for entry in entries
            if not entry.name.startswith(".")
            and entry.name.lower().endswith(IMAGE_SUFFIXES)
            and entry.is_file()
        ]
    return sorted(names, key=natural_key)


def _decode(path: Path) -> np.ndarray:
    """The image at ``path`` as BGR uint8.

    Raises
    ------
    UnusableImageError
        If it cannot be decoded or is not an 8-bit image; the message says why.
    """
    try:
        data = cv2.imread(str(path), _READ_FLAGS)
    except cv2.error as exc:
        raise UnusableImageError(f"OpenCV failed on it ({str(exc).strip()})") from None
    if data is None:
        if not path.exists():
            raise UnusableImageError("the file vanished before it could be read")
        raise UnusableImageError("OpenCV could not decode it (corrupt, truncated or not an image)")
    return to_bgr8(data)


def open_folder(
    uri: str,
    folder: str | Path,
    *,
    live: bool = False,
    loop: bool = False,
    stop: threading.Event | None = None,
    size: OutputSize | None = None,
    fps: float | None = None,
    seen: set[str] | None = None,
) -> FolderSource:
    """Check ``folder`` and open a :class:`FolderSource` on it.

    Parameters
    ----------
    uri
        The source URI (for messages and frames).
    folder
        The folder (``~`` is expanded).
    live
        Open it as a hot folder (see the module documentation); an empty folder is then fine.
    loop
        Start over after the last image (not with ``live``).
    stop
        When set, reading ends.
    size
        Frame size to deliver.
    fps
        Delivery rate; ``None`` delivers as fast as the images decode.
    seen
        Hot folder only: names delivered before (shared across reopens, updated in place).

    Returns
    -------
    FolderSource
        The open source.

    Raises
    ------
    SourceError
        If the folder does not exist, is not a folder, cannot be listed, has no images (when not
        ``live``), or its first image is 16-bit or otherwise unusable.
    """
    path = Path(folder).expanduser()
    if loop and live:
        raise SourceError(
            f"{uri}: 'loop' and 'live' exclude each other for a folder (a hot folder never ends)"
        )
    if not path.exists():
        raise SourceError(f"{uri}: folder does not exist: {path}")
    if not path.is_dir():
        raise SourceError(f"{uri}: {path} is a file, not a folder (use file://{path} for a video file)")
    try:
        names = list_images(path)
    except OSError as exc:
        raise SourceError(f"{uri}: cannot read folder {path}: {exc.strerror or exc}") from None
    if not live:
        if not names:
            raise SourceError(f"{uri}: no images ({_PATTERNS}) in folder {path}")
        _check_first(uri, path / names[0])
    return FolderSource(uri, path, names, live=live, loop=loop, stop=stop, size=size, fps=fps, seen=seen)


def _check_first(uri: str, path: Path) -> None:
    """Refuse the folder when its first image decodes but cannot be used (16-bit, floating point).

    A first image that does not decode at all is left to :meth:`FolderSource.read`, which skips it.
    """
    try:
        data = cv2.imread(str(path), _READ_FLAGS)
    except cv2.error:
        return
    if data is None:
        return
    try:
        to_bgr8(data)
    except UnusableImageError as exc:
        raise SourceError(f"{uri}: cannot use {path}: {exc}") from None


class FolderSource(ImageSource):
    """Frames from the images of a folder (use :func:`open_folder`, which checks the folder first).

    Parameters
    ----------
    uri
        The source URI.
    folder
        The folder.
    names
        Its images in natural order, as listed when opening.
    live, loop, stop, size, fps, seen
        See :func:`open_folder`.
    """

    def __init__(
        self,
        uri: str,
        folder: Path,
        names: list[str],
        *,
        live: bool = False,
        loop: bool = False,
        stop: threading.Event | None = None,
        size: OutputSize | None = None,
        fps: float | None = None,
        seen: set[str] | None = None,
    ) -> None:
        super().__init__(uri, live=live, stop=stop, size=size, fps=fps)
        self.folder = folder
        self._loop = loop
        self._names = names
        self._index = 0
        self._delivered_this_pass = 0
        self._seen = seen if seen is not None else set()
        self._pending: list[str] = [name for name in names if name not in self._seen]

    def _next_picture(self) -> Picture | None:
        return self._next_live() if self.live else self._next_in_order()

    def _next_in_order(self) -> Picture | None:
        while not self._halted():
            if self._index >= len(self._names) and not (self._loop and self._start_pass()):
                return None
            name = self._names[self._index]
            self._index += 1
            try:
                image = _decode(self.folder / name)
            except UnusableImageError as exc:
                self._skip(name, str(exc))
                continue
            self._delivered_this_pass += 1
            return Picture(image)
        return None

    def _start_pass(self) -> bool:
        """List the folder again for the next loop; ``False`` when looping cannot go on."""
        if self._delivered_this_pass == 0:
            log.error(
                "%s: no image in %s could be read during a whole pass; ending the loop", self.uri, self.folder
            )
            return False
        try:
            self._names = list_images(self.folder)
        except OSError as exc:
            raise SourceReadError(
                f"{self.uri}: cannot list folder {self.folder}: {exc.strerror or exc}"
            ) from None
        if not self._names:
            log.error("%s: folder %s has no images any more; ending the loop", self.uri, self.folder)
            return False
        self._index = 0
        self._delivered_this_pass = 0
        return True

    def _next_live(self) -> Picture | None:
        while not self._halted():
            if not self._pending:
                self._relist()
            while self._pending:
                name = self._pending.pop(0)
                path = self.folder / name
                try:
                    image = _decode(path)
                except UnusableImageError as exc:
                    if self._young(path):
                        continue  # perhaps still being written: the next listing offers it again
                    self._seen.add(name)
                    self._skip(name, str(exc))
                    continue
                self._seen.add(name)
                return Picture(image)
            if self._wait(POLL_S):
                return None
        return None

    def _relist(self) -> None:
        """List the hot folder: forget names that left it, queue the new ones."""
        try:
            names = list_images(self.folder)
        except FileNotFoundError:
            raise SourceReadError(f"folder {self.folder} does not exist any more") from None
        except OSError as exc:
            raise SourceReadError(f"cannot list folder {self.folder}: {exc.strerror or exc}") from None
        self._seen.intersection_update(names)
        self._pending = [name for name in names if name not in self._seen]

    @staticmethod
    def _young(path: Path) -> bool:
        """Whether ``path`` was modified less than :data:`SETTLE_S` ago."""
        try:
            return time.time() - path.stat().st_mtime < SETTLE_S
        except OSError:
            return False
