"""Compact binary-mask encodings for publishing weld masks (DESIGN.md, contract 3).

Two encodings, both lossless for a binary mask:

COCO run-length encoding (RLE)
    The mask is read in column-major (Fortran) order, top to bottom within a column, columns
    left to right, and stored as the lengths of alternating runs of 0 and 1, starting with a
    run of 0 (which is 0 long when the first pixel is set). ``{"size": [h, w], "counts": ...}``
    where ``counts`` is either that list of ints (the *uncompressed* form) or the COCO API's
    compressed ASCII string: each count, from the fourth on as the difference to the count two
    places before it, is written as a signed little-endian base-32 number in 6-bit groups
    (5 data bits and a continuation bit, offset by 48 to printable ASCII). Our compressed string
    equals ``pycocotools.mask.encode`` byte for byte.
1-bit PNG
    A greyscale PNG with bit depth 1 (OpenCV's ``IMWRITE_PNG_BILEVEL``), readable by any PNG
    decoder (``cv2.imread`` gives 0/255). For JSON the bytes travel as base64.

Input masks are 2-D ``bool`` or integer arrays; any non-zero value is foreground. Decoded masks
are ``uint8`` 0/1.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

__all__ = [
    "MASK_ENCODINGS",
    "b64decode",
    "b64encode",
    "decode_mask",
    "decode_png_1bit",
    "decode_rle",
    "encode_mask",
    "encode_png_1bit",
    "encode_rle",
    "rle_area",
    "rle_counts",
    "rle_counts_from_string",
    "rle_counts_to_string",
    "rle_to_mask",
]

log = logging.getLogger(__name__)

MASK_ENCODINGS: tuple[str, ...] = ("coco_rle", "png_1bit")
"""The ``encoding`` names :func:`encode_mask` writes and :func:`decode_mask` reads."""

_ASCII_OFFSET = 48  # '0': the first printable character of the COCO string alphabet
_DATA_BITS = 5
_DATA_MASK = 0x1F
_SIGN_BIT = 0x10
_MORE_BIT = 0x20


def _check_mask(mask: np.ndarray, name: str = "mask") -> np.ndarray:
    """``mask`` as a 2-D ``bool`` array; ValueError naming what was expected otherwise."""
    if not isinstance(mask, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(mask).__name__}")
    if mask.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (height, width) array, got shape {mask.shape}")
    if mask.dtype != np.bool_ and not np.issubdtype(mask.dtype, np.integer):
        raise ValueError(f"{name} must be bool or an integer type (non-zero = foreground), got {mask.dtype}")
    return mask.astype(bool, copy=False)


def _check_size(size: Sequence[int]) -> tuple[int, int]:
    """``(height, width)`` from a COCO ``size`` field."""
    try:
        height, width = (int(v) for v in size)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"RLE size must be [height, width], got {size!r}") from exc
    if height < 0 or width < 0:
        raise ValueError(f"RLE size must be non-negative, got {size!r}")
    return height, width


# --------------------------------------------------------------------------------------------
# COCO RLE


def rle_counts(mask: np.ndarray) -> list[int]:
    """Uncompressed COCO run lengths of a binary mask.

    Parameters
    ----------
    mask
        2-D ``bool`` or integer array ``(height, width)``; non-zero is foreground.

    Returns
    -------
    list of int
        Alternating run lengths of 0 and 1 in column-major order, starting with a (possibly
        empty) run of 0; they sum to ``height * width``.

    Raises
    ------
    ValueError
        If ``mask`` is not a 2-D bool/integer array.
    """
    flat = _check_mask(mask).ravel(order="F")
    if flat.size == 0:
        return []
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    counts = np.diff(bounds).tolist()
    if flat[0]:
        counts.insert(0, 0)
    return [int(c) for c in counts]


def rle_to_mask(counts: Sequence[int], size: Sequence[int]) -> np.ndarray:
    """Decode uncompressed COCO run lengths.

    Parameters
    ----------
    counts
        Alternating run lengths of 0 and 1 (column-major), starting with a run of 0.
    size
        ``(height, width)`` of the mask.

    Returns
    -------
    numpy.ndarray
        ``uint8`` mask ``(height, width)`` of 0 and 1.

    Raises
    ------
    ValueError
        If a count is negative or the counts do not sum to ``height * width``.
    """
    height, width = _check_size(size)
    runs = np.asarray(list(counts), dtype=np.int64)
    if runs.size and runs.min() < 0:
        raise ValueError("RLE counts must be non-negative")
    if int(runs.sum()) != height * width:
        raise ValueError(
            f"RLE counts sum to {int(runs.sum())}, but size {height}x{width} needs {height * width}"
        )
    values = (np.arange(runs.size) % 2).astype(np.uint8)
    flat = np.repeat(values, runs)
    return flat.reshape((height, width), order="F")


def rle_counts_to_string(counts: Sequence[int]) -> str:
    """The COCO API's compressed string of uncompressed run lengths.

    Each count (from index 3 on, minus the count two places before it, as ``maskApi.c``
    does) is written as a signed number in groups of 5 bits, least significant first; a group
    carries a continuation flag (0x20) and the last group's 0x10 bit is the sign. Each group
    is offset by 48 into printable ASCII.

    Parameters
    ----------
    counts
        Uncompressed run lengths (see :func:`rle_counts`).

    Returns
    -------
    str
        The ASCII string (``pycocotools`` returns the same characters as ``bytes``).
    """
    out: list[str] = []
    values = [int(c) for c in counts]
    for i, count in enumerate(values):
        x = count - values[i - 2] if i > 2 else count
        more = True
        while more:
            group = x & _DATA_MASK
            x >>= _DATA_BITS  # arithmetic shift: negative numbers end at -1
            more = x != -1 if group & _SIGN_BIT else x != 0
            if more:
                group |= _MORE_BIT
            out.append(chr(group + _ASCII_OFFSET))
    return "".join(out)


def rle_counts_from_string(text: str | bytes) -> list[int]:
    """Uncompressed run lengths from a COCO compressed RLE string (inverse of :func:`rle_counts_to_string`).

    Raises
    ------
    ValueError
        If the string holds characters outside the COCO alphabet or ends inside a number.
    """
    data = text.encode("ascii") if isinstance(text, str) else bytes(text)
    counts: list[int] = []
    pos = 0
    while pos < len(data):
        x = 0
        shift = 0
        while True:
            if pos >= len(data):
                raise ValueError("compressed RLE string ends inside a number")
            group = data[pos] - _ASCII_OFFSET
            if not 0 <= group < 64:
                raise ValueError(f"compressed RLE string holds an invalid character {chr(data[pos])!r}")
            pos += 1
            x |= (group & _DATA_MASK) << shift
            shift += _DATA_BITS
            if not group & _MORE_BIT:
                if group & _SIGN_BIT:
                    x -= 1 << shift
                break
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def encode_rle(mask: np.ndarray, *, compressed: bool = True) -> dict[str, Any]:
    """COCO RLE of a binary mask, JSON-ready.

    Parameters
    ----------
    mask
        2-D ``bool`` or integer array; non-zero is foreground.
    compressed
        ``True``: ``counts`` is the COCO compressed string (``str``); ``False``: the list of
        run lengths.

    Returns
    -------
    dict
        ``{"size": [height, width], "counts": str | list[int]}``.
    """
    height, width = _check_mask(mask).shape
    counts = rle_counts(mask)
    return {"size": [height, width], "counts": rle_counts_to_string(counts) if compressed else counts}


def _rle_counts(rle: Mapping[str, Any]) -> Sequence[int]:
    """The run lengths of a COCO RLE, whether its counts are a string, bytes or a list."""
    if not isinstance(rle, Mapping) or "size" not in rle or "counts" not in rle:
        raise ValueError("RLE must be a mapping with 'size' and 'counts'")
    counts = rle["counts"]
    if isinstance(counts, (str, bytes, bytearray)):
        return rle_counts_from_string(counts)
    return counts


def decode_rle(rle: Mapping[str, Any]) -> np.ndarray:
    """Decode a COCO RLE ``{"size": [h, w], "counts": ...}`` with string, bytes or list counts.

    Returns
    -------
    numpy.ndarray
        ``uint8`` mask ``(height, width)`` of 0 and 1.

    Raises
    ------
    ValueError
        If a field is missing or malformed.
    """
    return rle_to_mask(_rle_counts(rle), rle["size"])


def rle_area(rle: Mapping[str, Any]) -> int:
    """Number of foreground pixels of a COCO RLE (the sum of its odd-indexed runs)."""
    return int(sum(_rle_counts(rle)[1::2]))


# --------------------------------------------------------------------------------------------
# 1-bit PNG and base64


def encode_png_1bit(mask: np.ndarray, compression: int = 9) -> bytes:
    """A 1-bit greyscale PNG of a binary mask.

    Parameters
    ----------
    mask
        2-D ``bool`` or integer array; non-zero is foreground (written as white).
    compression
        zlib level 0..9.

    Returns
    -------
    bytes
        The PNG file contents.

    Raises
    ------
    ValueError
        If ``mask`` is not a 2-D bool/integer array or is empty.
    """
    binary = _check_mask(mask)
    if binary.size == 0:
        raise ValueError(f"mask must not be empty, got shape {binary.shape}")
    image = binary.astype(np.uint8) * np.uint8(255)
    ok, buffer = cv2.imencode(
        ".png", image, [cv2.IMWRITE_PNG_BILEVEL, 1, cv2.IMWRITE_PNG_COMPRESSION, int(compression)]
    )
    if not ok:  # pragma: no cover - OpenCV reports no reason
        raise RuntimeError("OpenCV could not encode the mask as PNG")
    return buffer.tobytes()


def decode_png_1bit(data: bytes) -> np.ndarray:
    """Decode a mask PNG (1-bit or 8-bit greyscale) to a ``uint8`` 0/1 array.

    Raises
    ------
    ValueError
        If the bytes are not a decodable PNG.
    """
    buffer = np.frombuffer(bytes(data), np.uint8)
    image = cv2.imdecode(buffer, cv2.IMREAD_GRAYSCALE) if buffer.size else None
    if image is None:
        raise ValueError("the mask bytes are not a decodable PNG image")
    return (image > 0).astype(np.uint8)


def b64encode(data: bytes) -> str:
    """Standard base64 (RFC 4648, with padding) of ``data`` as an ASCII ``str`` for JSON."""
    return base64.b64encode(bytes(data)).decode("ascii")


def b64decode(text: str) -> bytes:
    """Inverse of :func:`b64encode`; ValueError on invalid base64."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"invalid base64 mask data: {exc}") from exc


# --------------------------------------------------------------------------------------------
# Payload form


def encode_mask(mask: np.ndarray, encoding: str = "coco_rle") -> dict[str, Any]:
    """A JSON-ready compact mask for a payload.

    Parameters
    ----------
    mask
        2-D ``bool`` or integer array; non-zero is foreground.
    encoding
        ``"coco_rle"``: ``{"encoding", "size": [h, w], "counts": <COCO compressed string>}``;
        ``"png_1bit"``: ``{"encoding", "size": [h, w], "data": <base64 of a 1-bit PNG>}``.

    Returns
    -------
    dict
        The encoded mask.

    Raises
    ------
    ValueError
        For an unknown encoding or a bad mask.
    """
    if encoding == "coco_rle":
        return {"encoding": encoding, **encode_rle(mask, compressed=True)}
    if encoding == "png_1bit":
        height, width = _check_mask(mask).shape
        return {"encoding": encoding, "size": [height, width], "data": b64encode(encode_png_1bit(mask))}
    raise ValueError(f"encoding must be one of {', '.join(MASK_ENCODINGS)}, got {encoding!r}")


def decode_mask(payload: Mapping[str, Any]) -> np.ndarray:
    """Inverse of :func:`encode_mask`: the ``uint8`` 0/1 mask.

    Raises
    ------
    ValueError
        For an unknown encoding, malformed fields, or a PNG whose size disagrees with ``size``.
    """
    encoding = payload.get("encoding") if isinstance(payload, Mapping) else None
    if encoding == "coco_rle":
        return decode_rle(payload)
    if encoding == "png_1bit":
        mask = decode_png_1bit(b64decode(payload["data"]))
        size = _check_size(payload.get("size", mask.shape))
        if mask.shape != size:
            raise ValueError(f"the PNG is {mask.shape[0]}x{mask.shape[1]}, but size says {size[0]}x{size[1]}")
        return mask
    raise ValueError(f"encoding must be one of {', '.join(MASK_ENCODINGS)}, got {encoding!r}")
