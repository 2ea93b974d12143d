"""The two ways a frame source reports trouble: a bad start, and a failed read."""

from __future__ import annotations

__all__ = ["SourceError", "SourceReadError"]


class SourceError(ValueError):
    """A source URI is wrong, or the file or folder it names cannot be used.

    Raised by :func:`edge.sources.open_source` and :func:`edge.sources.parse_source_uri` before
    the first frame; the message names the URI or path and says what to do about it.
    """


class SourceReadError(RuntimeError):
    """Reading from an opened source failed (device error, vanished file or folder).

    A live source handles these itself by reopening (:class:`edge.sources.ReconnectingSource`);
    a file, folder or synthetic source raises it from ``read()`` when it cannot go on.
    """
