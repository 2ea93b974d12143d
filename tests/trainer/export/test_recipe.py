"""The bundle's recipe: synth commands that rebuild the data, the chain of runs, the export command."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from trainer.cli import main
from trainer.export.recipe import recipe


def _run(folder: Path, root: str, init_from: str | None, command: list[str]) -> Path:
    folder.mkdir(parents=True)
    config = {"model": {"init_from": init_from}, "data": {"train": {"root": root}, "val": {"root": root}}}
    run = {"command": command, "git_commit": "abc", "started": "2026-11-21T00:00:00Z", "config": config}
    (folder / "run.json").write_text(json.dumps(run))
    return folder


def test_recipe_walks_init_from_back_and_its_synth_command_rebuilds_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["synth", "--task", "slag", "--count", "3", "--seed", "4", "--size", "96x128",
                 "--val-fraction", "0.34", "--out", "data/train"]) == 0  # fmt: skip
    _run(
        tmp_path / "runs/a", "data/train", None, ["/venv/bin/steelsight-train", "train", "--config", "a.toml"]
    )
    _run(
        tmp_path / "runs/b",
        "data/train",
        "runs/a/best.pt",
        ["steelsight-train", "train", "--config", "b.toml"],
    )
    result = recipe(Path("runs/b"), ["steelsight-train", "export", "runs/b/best.pt"], ["data/test"])

    assert [r["run"] for r in result["runs"]] == ["runs/a", "runs/b"]
    assert result["runs"][0]["command"] == "steelsight-train train --config a.toml"
    assert result["export"] == "steelsight-train export runs/b/best.pt"
    assert result["data"][1] == {"root": "data/test", "command": None}  # not synthetic: no command
    command = result["data"][0]["command"]
    assert command.startswith("steelsight-train synth --task slag --count 3 --seed 4 --size 96x128")
    # running the recorded command writes the same dataset
    words = shlex.split(command)[1:]
    words[words.index("--out") + 1] = "data/again"
    assert main(words) == 0
    first = json.loads(Path("data/train/synth.json").read_text())
    again = json.loads(Path("data/again/synth.json").read_text())
    assert first == again
    assert Path("data/train/truth.csv").read_bytes() == Path("data/again/truth.csv").read_bytes()


def test_a_missing_run_json_ends_the_chain_and_a_loop_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _run(tmp_path / "runs/b", "data/x", "runs/gone/best.pt", ["train"])
    result = recipe(Path("runs/b"))
    assert [r["run"] for r in result["runs"]] == ["runs/gone", "runs/b"]
    assert result["runs"][0]["command"] is None and result["export"] is None
    _run(tmp_path / "runs/loop", "data/x", "runs/loop/best.pt", ["train"])
    assert len(recipe(Path("runs/loop"))["runs"]) == 1
