"""Atomic writes leave a complete, normally readable file and no temporary files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from edge.atomic_file import atomic_write


def test_written_file_has_umask_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "manifest.json", b"{}")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "manifest.json").stat().st_mode)
    assert mode == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]
