"""Ground truth beside a video: one JSON object per frame, read as the frames are decoded.

A recorded validation video (slag thickness measured by hand for each dip) or the demo's
synthetic furnace video carries its truth in a JSON Lines file: line ``i`` is the truth of frame
``i`` (blank lines are not allowed, so the numbering cannot slip). ``file://x.mp4?truth=x.jsonl``
attaches it to the frames, where ``measure.scale_from_truth`` and the demo's comparison read it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge.sources.errors import SourceError

__all__ = ["truth_file"]


def truth_file(uri: str, path: str | Path, video: Path) -> list[dict[str, Any]]:
    """Read a frame-truth JSON Lines file.

    Parameters
    ----------
    uri
        The source URI, for messages.
    path
        The truth file; a relative path is taken from the video's folder (``~`` is expanded).
    video
        The video the truth belongs to.

    Returns
    -------
    list of dict
        The truth of frame ``i`` at index ``i``.

    Raises
    ------
    SourceError
        If the file is missing or unreadable, a line is not a JSON object, or it is empty; the
        message names the file and the line.
    """
    file = Path(path).expanduser()
    if not file.is_absolute():
        file = video.parent / file
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceError(f"{uri}: truth file does not exist: {file}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"{uri}: cannot read truth file {file}: {exc}") from None
    entries: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SourceError(
                f"{uri}: truth file {file} line {number} is not JSON ({exc.msg}); "
                "write one JSON object per frame, one per line"
            ) from None
        if not isinstance(entry, dict):
            raise SourceError(
                f"{uri}: truth file {file} line {number} holds a {type(entry).__name__}, "
                "expected a JSON object (the truth of one frame)"
            )
        entries.append(entry)
    if not entries:
        raise SourceError(f"{uri}: truth file {file} is empty; it needs one JSON object per video frame")
    return entries
