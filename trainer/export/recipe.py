"""The commands that rebuild a bundle: synthetic data, every training run it descends from, the export.

A bundle fine-tuned in stages (``model.init_from``) descends from several runs; each run folder's
``run.json`` holds its command line and commit. :func:`recipe` walks that chain back to the first
run, adds the ``steelsight-train synth`` command of every synthetic dataset the runs used (from the
dataset's ``synth.json``), and ends with the export command, so ``manifest.training.recipe`` says
how to make the bundle again from nothing.
"""

from __future__ import annotations

import json
import logging
import shlex
from pathlib import Path
from typing import Any

__all__ = ["recipe"]

log = logging.getLogger(__name__)

_MAX_RUNS = 20


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _synth_command(root: str, meta: dict[str, Any]) -> str:
    """The ``steelsight-train synth`` command that writes a dataset like ``meta`` describes."""
    words = ["steelsight-train", "synth", "--task", str(meta["task"]), "--count", str(meta["count"])]
    words += ["--seed", str(meta["seed"])]
    size = meta.get("size")
    if isinstance(size, list) and len(size) == 2 and list(size) != [512, 512]:
        words += ["--size", f"{size[0]}x{size[1]}"]
    if meta.get("split") not in (None, "train"):
        words += ["--split", str(meta["split"])]
    if meta.get("val_fraction"):
        words += ["--val-fraction", f"{meta['val_fraction']:g}"]
    words += ["--out", root]
    return shlex.join(words)


def _run_entry(run_dir: Path, run: dict[str, Any]) -> dict[str, Any]:
    command = run.get("command")
    if isinstance(command, list) and command and Path(str(command[0])).name == "steelsight-train":
        command = ["steelsight-train", *command[1:]]  # not this machine's venv path
    return {
        "run": str(run_dir),
        "command": shlex.join(command) if isinstance(command, list) else command,
        "git_commit": run.get("git_commit"),
        "started": run.get("started"),
    }


def recipe(
    run_dir: Path, export_command: list[str] | None = None, extra_roots: list[str] | None = None
) -> dict[str, Any]:
    """The commands behind a checkpoint's bundle, oldest first.

    Parameters
    ----------
    run_dir
        The run folder of the exported checkpoint (with ``run.json``).
    export_command
        The export's own command line (``None``: not recorded).
    extra_roots
        More dataset folders to list (the export's evaluation set).

    Returns
    -------
    dict
        ``data``: synth commands of the synthetic datasets used (others are listed by root only);
        ``runs``: one entry per training run, the first run first (``run``, ``command``,
        ``git_commit``, ``started``); ``export``: the export command. A run whose ``run.json`` is
        missing ends the chain with ``"command": null`` and is logged.
    """
    runs: list[dict[str, Any]] = []
    roots: list[str] = []
    current: Path | None = Path(run_dir)
    seen: set[Path] = set()
    while current is not None and len(runs) < _MAX_RUNS and current.resolve() not in seen:
        seen.add(current.resolve())
        run = _read_json(current / "run.json")
        if run is None:
            log.warning("no readable run.json in %s; the recipe stops there", current)
            runs.append({"run": str(current), "command": None, "git_commit": None, "started": None})
            break
        runs.append(_run_entry(current, run))
        config = run.get("config") or {}
        for split in ("train", "val"):
            root = ((config.get("data") or {}).get(split) or {}).get("root")
            if isinstance(root, str) and root not in roots:
                roots.append(root)
        init_from = (config.get("model") or {}).get("init_from")
        current = Path(init_from).parent if isinstance(init_from, str) else None
    for root in extra_roots or ():
        if root not in roots:
            roots.append(root)
    data = []
    for root in roots:
        meta = _read_json(Path(root) / "synth.json")
        if meta is not None and {"task", "count", "seed"} <= meta.keys():
            data.append({"root": root, "command": _synth_command(root, meta)})
        else:
            data.append({"root": root, "command": None})
    return {
        "data": data,
        "runs": runs[::-1],
        "export": shlex.join(export_command) if export_command else None,
    }
