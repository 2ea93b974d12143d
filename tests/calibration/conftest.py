"""Shared calibration test data: the demo images of a known camera, rendered once per test session."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from calibration.cli import main
from calibration.synthetic_board import write_demo


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo folder (10 checkerboard views, boards, rulers and a tube) and its truth."""
    out = tmp_path_factory.mktemp("calibration_demo")
    truth = write_demo(out, views=10)
    return {"dir": out, "truth": truth}


@pytest.fixture(scope="session")
def pending_intrinsics(demo: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``cam01.intrinsics.json`` from the demo views (the intrinsics step run once)."""
    out = tmp_path_factory.mktemp("intrinsics")
    code = main(
        [
            "intrinsics",
            "--images",
            str(demo["dir"] / "views"),
            "--pattern",
            "9x6",
            "--square-mm",
            "25",
            "--out",
            str(out / "cam01.json"),
            "--technician",
            "Test Tech",
        ]
    )
    assert code == 0
    path = out / "cam01.intrinsics.json"
    assert json.loads(path.read_text())["schema"] == "steelsight.intrinsics/1"
    return path


@pytest.fixture
def cal_dir(tmp_path: Path, pending_intrinsics: Path) -> Path:
    """A fresh folder holding the pending intrinsics of camera ``cam01`` (no calibration file yet)."""
    shutil.copy(pending_intrinsics, tmp_path / "cam01.intrinsics.json")
    return tmp_path


@pytest.fixture
def cal(demo: dict[str, Any], cal_dir: Path) -> Path:
    """``cam01.json`` in ``cal_dir``: the pending intrinsics and a board scale on the demo plane."""
    path = cal_dir / "cam01.json"
    board = str(demo["dir"] / "plane_board.png")
    assert main(["scale", "--out", str(path), "--board", board, "--pattern", "9x6", "--square-mm", "25"]) == 0
    return path
