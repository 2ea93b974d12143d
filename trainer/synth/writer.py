"""Write a series of synthetic scenes as a dataset in the project's plain layout.

::

    out/
      images/<stem>.png     uint8 RGB scene (PNG)
      masks/<stem>.png      single-channel uint8 class ids
      splits.csv            header "stem,split"
      truth.csv             header "stem,<truth fields>"; nested values as compact JSON
      truth.json            list of {"stem": ..., <truth fields>} objects
      synth.json            how the dataset was made (marks the folder as a synthetic dataset)

Stems are ``f"{task}_s{seed}_{index:05d}"``. The same arguments always write byte-identical
files, so a dataset can be regenerated instead of stored.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from edge.synth.slag import SLAG_CLASSES, render_slag
from edge.synth.textures import check_size
from edge.synth.weld import WELD_CLASSES, render_weld
from trainer.data.plain import SPLITS_FILE, write_splits_csv
from trainer.data.truth_rows import TRUTH_FILE

log = logging.getLogger(__name__)

__all__ = ["META_FILE", "SCHEMA", "TASKS", "dataset_stem", "write_dataset"]

SCHEMA = "steelsight.synth/1"
"""Schema tag written into ``synth.json``."""

META_FILE = "synth.json"
"""The file that marks a folder as a dataset written by :func:`write_dataset`."""

TASKS: dict[str, tuple[Callable[..., Any], tuple[str, ...]]] = {
    "slag": (render_slag, SLAG_CLASSES),
    "weld": (render_weld, WELD_CLASSES),
}
"""Task name -> (scene renderer, class names by id)."""

_TOP_LEVEL = frozenset({"images", "masks", SPLITS_FILE, TRUTH_FILE, "truth.json", META_FILE})
_STEM = re.compile(r"^(?:slag|weld)_s\d+_\d{5,}\.png$")
_SPLIT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def dataset_stem(task: str, seed: int, index: int) -> str:
    """The file stem of scene ``index``: ``f"{task}_s{seed}_{index:05d}"``."""
    return f"{task}_s{seed}_{index:05d}"


def _check_int(name: str, value: object, minimum: int) -> int:
    """Return ``value`` as an int if it is an integer >= ``minimum``, else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _csv_cell(value: Any) -> str:
    """One truth value as CSV text: numbers and strings as they are, sequences as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _csv_text(header: list[str], rows: list[list[str]]) -> str:
    """CSV text with ``\\n`` line endings."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _prepare_out(out: Path, video: Path | None) -> None:
    """Make ``out`` ready: create it, or clear a previous synthetic dataset; refuse anything else."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"out {str(out)!r} exists and is not a folder; give a new or empty folder")
    if not out.exists():
        out.mkdir(parents=True)
        return
    entries = sorted(out.iterdir())
    if not entries:
        return
    meta_path = out / META_FILE
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        is_synthetic = isinstance(meta, dict) and meta.get("schema") == SCHEMA
    except (OSError, ValueError):
        meta, is_synthetic = None, False
    if not is_synthetic:
        raise ValueError(
            f"out {str(out)!r} is not empty and is not a synthetic dataset written by write_dataset "
            f"(no valid {META_FILE}); give a new or empty folder"
        )
    allowed = set(_TOP_LEVEL)
    old_video = meta.get("video_in_out") if isinstance(meta, dict) else None
    if isinstance(old_video, str) and old_video:
        allowed.add(old_video)
    if video is not None and video.parent.resolve() == out.resolve():
        allowed.add(video.name)
    foreign = [entry.name for entry in entries if entry.name not in allowed]
    for folder in ("images", "masks"):
        path = out / folder
        if path.is_dir():
            foreign += [f"{folder}/{p.name}" for p in sorted(path.iterdir()) if not _STEM.match(p.name)]
        elif path.exists():
            foreign.append(folder)
    if foreign:
        listed = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise ValueError(
            f"out {str(out)!r} holds a synthetic dataset plus files write_dataset did not write ({listed}); "
            "remove them or give another folder"
        )
    log.info("%s: replacing the synthetic dataset there", out)
    for folder in ("images", "masks"):
        if (out / folder).is_dir():
            shutil.rmtree(out / folder)
    for name in allowed - {"images", "masks"}:
        (out / name).unlink(missing_ok=True)


def write_dataset(
    task: str,
    count: int,
    seed: int,
    out: Path,
    size: tuple[int, int] = (512, 512),
    split: str = "train",
    val_fraction: float = 0.0,
    video: Path | None = None,
    fps: float = 10.0,
    *,
    progress: bool = True,
) -> Path:
    """Render ``count`` scenes of ``task`` and write them as a plain-layout dataset.

    Parameters
    ----------
    task
        ``"slag"`` or ``"weld"``.
    count
        Number of scenes (>= 1); scene ``i`` is ``render_<task>(seed, i, size)``.
    seed
        Dataset seed (>= 0).
    out
        Output folder: new, empty, or a synthetic dataset written earlier (which is replaced).
    size
        ``(height, width)`` of every scene.
    split
        Split name of the scenes not in the validation part (e.g. ``"train"``, ``"test"``).
    val_fraction
        Fraction in ``[0, 1]`` of scenes, taken from the end, that get the split ``"val"``
        (``ceil(count * val_fraction)`` scenes).
    video
        Optional MP4 file (``.mp4``) that receives all scenes in order, for viewing or for a
        ``file://`` camera source.
    fps
        Frame rate of the video.
    progress
        Show a tqdm progress bar.

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    ValueError
        For an unknown task, a bad count, seed, size, split name, fraction, fps or video suffix,
        or an ``out`` that is a file or a non-empty folder other than an earlier synthetic dataset.
    OSError
        If an image, a mask or the video cannot be written.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(map(repr, TASKS))}, got {task!r}")
    count = _check_int("count", count, 1)
    seed = _check_int("seed", seed, 0)
    height, width = check_size(size)
    if not isinstance(split, str) or not _SPLIT_NAME.match(split):
        raise ValueError(f"split must be a name of letters, digits, '_', '.' or '-', got {split!r}")
    if not isinstance(val_fraction, (int, float)) or not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction must be a number in [0, 1], got {val_fraction!r}")
    if not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a finite number > 0, got {fps!r}")
    out = Path(out)
    if video is not None:
        video = Path(video)
        if video.suffix.lower() != ".mp4":
            raise ValueError(f"video must be an .mp4 file, got {str(video)!r}")
        if video.exists() and video.is_dir():
            raise ValueError(f"video {str(video)!r} is a folder; give an .mp4 file name")
    _prepare_out(out, video)

    render, classes = TASKS[task]
    n_val = min(count, math.ceil(count * float(val_fraction) - 1e-9)) if val_fraction > 0 else 0
    (out / "images").mkdir()
    (out / "masks").mkdir()
    writer = None
    if video is not None:
        video.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"mp4v"), float(fps), (width, height))
        if not writer.isOpened():
            raise OSError(f"cannot open {str(video)!r} for writing with the mp4v codec")

    splits: list[tuple[str, str]] = []
    truths: list[dict[str, Any]] = []
    try:
        for index in tqdm(range(count), desc=f"synth {task}", unit="scene", disable=not progress):
            scene = render(seed, index, (height, width))
            stem = dataset_stem(task, seed, index)
            bgr = cv2.cvtColor(scene.image, cv2.COLOR_RGB2BGR)
            for path, array in (
                (out / "images" / f"{stem}.png", bgr),
                (out / "masks" / f"{stem}.png", scene.mask),
            ):
                if not cv2.imwrite(str(path), array):
                    raise OSError(f"cannot write {str(path)!r}")
            if writer is not None:
                writer.write(bgr)
            splits.append((stem, "val" if index >= count - n_val else split))
            truths.append({"stem": stem, **scene.truth.to_dict()})
    finally:
        if writer is not None:
            writer.release()

    write_splits_csv(out / SPLITS_FILE, splits)
    fields = list(truths[0])
    rows = [[_csv_cell(truth[field]) for field in fields] for truth in truths]
    (out / TRUTH_FILE).write_text(_csv_text(fields, rows), encoding="utf-8")
    (out / "truth.json").write_text(json.dumps(truths, indent=1) + "\n", encoding="utf-8")
    video_in_out = video.name if video is not None and video.parent.resolve() == out.resolve() else None
    meta = {
        "schema": SCHEMA,
        "task": task,
        "count": count,
        "seed": seed,
        "size": [height, width],
        "split": split,
        "val_fraction": float(val_fraction),
        "val_count": n_val,
        "classes": [{"id": i, "name": name} for i, name in enumerate(classes)],
        "stem_format": f"{task}_s{seed}_{{index:05d}}",
        "video_in_out": video_in_out,
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    log.info(
        "%s: wrote %d %s scenes (%d val)%s", out, count, task, n_val, f", video {video}" if video else ""
    )
    return out
