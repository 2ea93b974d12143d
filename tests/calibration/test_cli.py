"""``steelsight-calibrate`` as a user runs it."""

from __future__ import annotations

import subprocess
import sys

from calibration import __version__


def test_version_and_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "calibration", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"steelsight {__version__}"
    result = subprocess.run(
        [sys.executable, "-m", "calibration"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2 and "steelsight.calibration/1" in result.stdout
