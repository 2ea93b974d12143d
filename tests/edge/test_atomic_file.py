"""Atomic writes leave a complete, normally readable file and no temporary files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import calibration.atomic_file
from edge.atomic_file import atomic_write


def test_edge_uses_the_calibration_writer() -> None:
    assert atomic_write is calibration.atomic_file.atomic_write


def test_written_file_has_umask_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "manifest.json", b"{}")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "manifest.json").stat().st_mode)
    assert mode == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_missing_folder_is_created(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.bin"
    atomic_write(target, memoryview(b"data"))
    assert target.read_bytes() == b"data"


def test_failed_write_keeps_the_old_file_and_removes_the_temporary_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.json"
    target.write_bytes(b"old")

    def fail(*_args: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(calibration.atomic_file.os, "replace", fail)
    with pytest.raises(OSError, match="disk gone"):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
