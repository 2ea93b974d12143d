"""Helpers of the calibration tests: running ``steelsight-calibrate`` in-process and capturing its output."""

from __future__ import annotations

import pytest

from calibration.cli import main

BOARD = ["--pattern", "9x6", "--square-mm", "25"]
"""The demo checkerboard's arguments."""


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``steelsight-calibrate argv``; return its exit code, stdout and stderr."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err
