"""Source URIs: what a camera's ``source`` setting may say, parsed into kind, target and options.

Accepted forms (contract 4, ``[camera] source``)::

    csi://0                        Jetson CSI camera, sensor id 0 (GStreamer nvarguscamerasrc)
    v4l2:///dev/video0  v4l2://0   V4L2 device by path or index; a bare /dev/... path also works
    rtsp://user:pw@cam/stream      RTSP (or rtsps) stream; the query belongs to the camera
    file:///data/x.mp4             video file; a bare path to a file also works
    dir:///data/frames/            folder of images; a bare path to a folder (or ending in /) too
    synthetic://slag               live-rendered synthetic scenes (slag or weld)

Options follow ``?`` as ``name=value`` pairs joined by ``&`` (for ``rtsp://`` they follow ``#``,
because the query of an RTSP URL is part of the camera's address). Every kind takes ``width``,
``height`` and ``fps``; the others depend on the kind (see :data:`KIND_OPTIONS`). Boolean options
accept ``1/0``, ``true/false``, ``yes/no``, ``on/off``, or no value at all (``?loop`` means
``loop=1``). An unknown option, a repeated option or a bad value is a :class:`SourceError`
that names it. A bare path carries no options (everything in it is the path).

Options by kind (besides ``width``, ``height``, ``fps``):

- ``csi``: ``flip`` (nvvidconv flip-method 0..7).
- ``v4l2``: ``fourcc`` (pixel format asked of the device, e.g. ``MJPG``).
- ``rtsp``: ``latency`` (rtspsrc jitter buffer, ms), ``tcp`` (RTP over TCP).
- ``file``, ``dir``: ``loop`` (start over at the end), ``live`` (treat as a live source: it never
  ends, failures are bridged by reopening with backoff and reported as gaps; a live ``dir`` is a
  hot folder that a camera writes into, see :mod:`edge.sources.folder`).
- ``file`` also: ``truth`` (a JSON Lines file, one object per video frame in order, attached to
  each frame as its ground truth: a recorded validation video, or the demo's synthetic furnace
  video; a relative path is taken from the video's folder; see :mod:`edge.sources.truth_file`).
- ``synthetic``: ``seed``, ``count`` (number of scenes; default endless), ``loop``.

``file:///abs/path`` and ``file://localhost/abs/path`` are absolute; ``file://rel/path`` is read
as the relative path ``rel/path`` (likewise for ``dir://``). ``~`` is expanded when opening.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, unquote_plus, urlsplit

from edge.sources.errors import SourceError

__all__ = [
    "KIND_OPTIONS",
    "LIVE_KINDS",
    "SOURCE_KINDS",
    "SYNTHETIC_SCENES",
    "OptionValue",
    "SourceUri",
    "parse_source_uri",
    "redact_uri",
]

OptionValue = int | float | bool | str

SOURCE_KINDS = ("csi", "v4l2", "rtsp", "file", "dir", "synthetic")
"""The source kinds, in the order the error messages list them."""

LIVE_KINDS = frozenset({"csi", "v4l2", "rtsp"})
"""Kinds that are live (a camera or stream) whatever their options say."""

SYNTHETIC_SCENES = ("slag", "weld")
"""The scenes a ``synthetic://`` source can render."""

_SCHEMES = {
    "csi": "csi",
    "v4l2": "v4l2",
    "rtsp": "rtsp",
    "rtsps": "rtsp",
    "file": "file",
    "dir": "dir",
    "synthetic": "synthetic",
}
_TRUE = frozenset({"", "1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_SECRET_KEYS = re.compile(r"(?i)([?&#](?:password|passwd|pwd|pass|token|key|secret)=)[^&#]*")
_USERINFO = re.compile(r"(://[^/@:?#]*:)[^@/?#]*@")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SCHEME_NO_SLASHES = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(?!//)")


def _positive_int(text: str) -> int:
    if not re.fullmatch(r"\+?\d+", text) or int(text) <= 0:
        raise ValueError("is not a whole number > 0")
    return int(text)


def _non_negative_int(text: str) -> int:
    if not re.fullmatch(r"\+?\d+", text):
        raise ValueError("is not a whole number >= 0")
    return int(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("is not a number") from None
    if not value > 0 or value == float("inf"):
        raise ValueError("is not a number > 0")
    return value


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("is not a yes/no value (use 1 or 0)")


def _flip_method(text: str) -> int:
    if not re.fullmatch(r"[0-7]", text):
        raise ValueError("is not an nvvidconv flip-method 0..7")
    return int(text)


def _file_path(text: str) -> str:
    if not text.strip():
        raise ValueError("is empty; give the path of a file")
    return text


def _fourcc(text: str) -> str:
    if len(text) != 4 or not text.isascii() or not text.isprintable():
        raise ValueError("is not a four-character code such as MJPG or YUYV")
    return text


_Parser = Callable[[str], OptionValue]
_COMMON: dict[str, _Parser] = {"width": _positive_int, "height": _positive_int, "fps": _positive_float}

KIND_OPTIONS: Mapping[str, Mapping[str, _Parser]] = {
    "csi": {**_COMMON, "flip": _flip_method},
    "v4l2": {**_COMMON, "fourcc": _fourcc},
    "rtsp": {**_COMMON, "latency": _non_negative_int, "tcp": _boolean},
    "file": {**_COMMON, "loop": _boolean, "live": _boolean, "truth": _file_path},
    "dir": {**_COMMON, "loop": _boolean, "live": _boolean},
    "synthetic": {**_COMMON, "seed": _non_negative_int, "count": _positive_int, "loop": _boolean},
}
"""For each kind, its option names and the parser of each value."""


@dataclass(frozen=True)
class SourceUri:
    """A parsed source URI.

    Attributes
    ----------
    kind
        One of :data:`SOURCE_KINDS`.
    target
        What to open: the sensor id (``"0"``) for csi; a device path or index for v4l2; the URL
        without its ``#options`` for rtsp; a file or folder path for file and dir; the scene
        name for synthetic.
    options
        The options, parsed to ``int``, ``float``, ``bool`` or ``str``.
    uri
        The URI as given.
    """

    kind: str
    target: str
    options: Mapping[str, OptionValue] = field(default_factory=dict)
    uri: str = ""

    def int_option(self, name: str) -> int | None:
        """Option ``name`` as an ``int``, or ``None`` when it is not given."""
        value = self.options.get(name)
        return None if value is None else int(value)

    def float_option(self, name: str) -> float | None:
        """Option ``name`` as a ``float``, or ``None`` when it is not given."""
        value = self.options.get(name)
        return None if value is None else float(value)

    def bool_option(self, name: str, default: bool = False) -> bool:
        """Option ``name`` as a ``bool``, or ``default`` when it is not given."""
        return bool(self.options.get(name, default))

    @property
    def shown(self) -> str:
        """The URI for logs and messages, with passwords replaced by ``***``."""
        return redact_uri(self.uri)

    def __repr__(self) -> str:
        """Like the dataclass repr, with passwords hidden (reprs end up in logs)."""
        target, options = redact_uri(self.target), dict(self.options)
        return f"SourceUri(kind={self.kind!r}, target={target!r}, options={options!r}, uri={self.shown!r})"


def redact_uri(uri: str) -> str:
    """``uri`` with the password of its user info and secret-looking query values replaced by ``***``.

    Parameters
    ----------
    uri
        Any source URI or path.

    Returns
    -------
    str
        The same text, safe to log.
    """
    return _SECRET_KEYS.sub(r"\1***", _USERINFO.sub(r"\1***@", uri))


def parse_source_uri(uri: str) -> SourceUri:
    """Parse a source URI or bare path (see the module documentation for the forms).

    Parameters
    ----------
    uri
        E.g. ``"csi://0"``, ``"/dev/video0"``, ``"synthetic://slag?seed=7&count=100"``.

    Returns
    -------
    SourceUri
        Kind, target and typed options.

    Raises
    ------
    SourceError
        Naming the bad part: an unknown kind, a bad target, an unknown or repeated option or a
        bad option value.
    """
    if not isinstance(uri, str) or not uri.strip():
        raise SourceError(f"empty source URI {uri!r}: use e.g. csi://0, /dev/video0 or file:///data/x.mp4")
    text = uri.strip()
    shown = redact_uri(text)
    match = _SCHEME_RE.match(text)
    if match is None:
        bare = _SCHEME_NO_SLASHES.match(text)
        if bare and bare.group(1).lower() in _SCHEMES:
            raise SourceError(f"{shown}: write {bare.group(1).lower()}://... (the '//' is missing)")
        return SourceUri(kind=_bare_path_kind(text), target=text, options={}, uri=text)

    scheme = match.group(1).lower()
    kind = _SCHEMES.get(scheme)
    if kind is None:
        known = ", ".join(f"{k}://" for k in SOURCE_KINDS)
        raise SourceError(f"{shown}: unknown source kind '{scheme}://' (use one of {known} or a bare path)")
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise SourceError(f"{shown}: not a valid URI ({exc})") from None

    if kind == "rtsp":
        target = text.split("#", 1)[0]
        if not parts.netloc:
            raise SourceError(f"{shown}: no camera host (use rtsp://host[:port]/path)")
        options = _parse_options(parts.fragment, kind, shown)
        return SourceUri(kind=kind, target=target, options=options, uri=text)

    options = _parse_options(parts.query, kind, shown)
    if parts.fragment:
        raise SourceError(f"{shown}: unexpected '#{parts.fragment}' (options go after '?')")
    target = _target(kind, parts.netloc, unquote(parts.path), shown)
    return SourceUri(kind=kind, target=target, options=options, uri=text)


def _bare_path_kind(text: str) -> str:
    """``v4l2`` for ``/dev/...``, ``dir`` for an existing folder or a path ending in ``/``, else ``file``."""
    if text.startswith("/dev/"):
        return "v4l2"
    if text.endswith("/") or Path(text).expanduser().is_dir():
        return "dir"
    return "file"


def _target(kind: str, netloc: str, path: str, shown: str) -> str:
    """The target of a non-RTSP URI from its host and path parts."""
    if kind == "csi":
        if path not in ("", "/"):
            raise SourceError(f"{shown}: unexpected path '{path}' (use csi://0, csi://1, ...)")
        if not netloc.isdigit():
            raise SourceError(f"{shown}: sensor id '{netloc}' is not a number (use csi://0, csi://1, ...)")
        return str(int(netloc))
    if kind == "v4l2":
        if netloc:
            if not netloc.isdigit() or path not in ("", "/"):
                raise SourceError(
                    f"{shown}: '{netloc}{path}' is neither a device index nor an absolute device path "
                    "(use v4l2:///dev/video0 with three slashes, or v4l2://0)"
                )
            return str(int(netloc))
        if not path.startswith("/"):
            raise SourceError(f"{shown}: no device given (use v4l2:///dev/video0 or v4l2://0)")
        return path
    if kind == "synthetic":
        if netloc not in SYNTHETIC_SCENES or path not in ("", "/"):
            scenes = " or ".join(f"synthetic://{s}" for s in SYNTHETIC_SCENES)
            raise SourceError(f"{shown}: unknown synthetic scene '{netloc}{path}' (use {scenes})")
        return netloc
    # file and dir: file:///abs/path, file://localhost/abs/path, or file://relative/path.
    full = path if netloc in ("", "localhost") else netloc + path
    if not full:
        example = "file:///data/x.mp4" if kind == "file" else "dir:///data/frames/"
        raise SourceError(f"{shown}: no path given (use e.g. {example})")
    return full


def _parse_options(text: str, kind: str, shown: str) -> dict[str, OptionValue]:
    """Parse ``name=value&...`` against the options of ``kind``."""
    known = KIND_OPTIONS[kind]
    options: dict[str, OptionValue] = {}
    if not text:
        return options
    pairs = [piece.partition("=") for piece in text.split("&") if piece]
    for raw_name, _, raw_value in pairs:
        name, value = unquote_plus(raw_name), unquote_plus(raw_value)
        if not name:
            raise SourceError(f"{shown}: an option has no name ('={raw_value}'); write name=value")
        if name not in known:
            names = ", ".join(sorted(known))
            raise SourceError(f"{shown}: unknown option '{name}' for {kind}:// sources (known: {names})")
        if name in options:
            raise SourceError(f"{shown}: option '{name}' is given twice")
        parser = known[name]
        if value == "" and parser is not _boolean:
            raise SourceError(f"{shown}: option '{name}' needs a value ({name}=...)")
        try:
            options[name] = parser(value)
        except ValueError as exc:
            raise SourceError(f"{shown}: option '{name}={value}' {exc}") from None
    return options
