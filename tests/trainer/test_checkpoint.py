"""Checkpoints are written atomically and refused when they are not ours."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from trainer.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def test_round_trip_and_no_temporary_left(tmp_path: Path) -> None:
    path = save_checkpoint({"model": {"w": torch.ones(2)}, "epoch": 3}, tmp_path / "run" / "last.pt")
    state = load_checkpoint(path)
    assert state["epoch"] == 3 and torch.equal(state["model"]["w"], torch.ones(2))
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]


def test_failed_write_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    path = save_checkpoint({"epoch": 1}, tmp_path / "last.pt")
    # A state torch cannot pickle makes the write fail half-way.
    with pytest.raises(Exception):  # noqa: B017 - pickling raises several types
        save_checkpoint({"epoch": 2, "bad": lambda: None}, path)
    assert load_checkpoint(path)["epoch"] == 1
    assert not (tmp_path / "last.pt.tmp").exists()


def test_foreign_and_missing_files_are_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="not a SteelSight training checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00\x01")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(garbage)
