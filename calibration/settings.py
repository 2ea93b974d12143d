"""Thresholds of the calibration steps, with their defaults and an optional TOML file to change them.

The file (``steelsight-calibrate --config FILE.toml ...``) holds one table::

    [calibrate]
    verify_tolerance_pct = 0.5   # verify: PASS when |error| <= this % of the known length
    min_views = 6                # intrinsics: fewest usable checkerboard views
    blur_threshold = 12.0        # intrinsics: views less sharp than this are rejected
    duplicate_px = 3.0           # intrinsics: mean corner shift (px) below which a view repeats another
    retake_rms_px = 1.0          # intrinsics: views with a larger reprojection RMS are to be retaken
    max_rms_px = 1.0             # intrinsics: FAIL (nothing saved) above this overall RMS

Unknown keys and bad values are errors that name the key.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path

from calibration.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["Settings", "load_settings"]


@dataclass(frozen=True)
class Settings:
    """Thresholds of the calibration steps (see the module docstring for each)."""

    verify_tolerance_pct: float = 0.5
    min_views: int = 6
    blur_threshold: float = 12.0
    duplicate_px: float = 3.0
    retake_rms_px: float = 1.0
    max_rms_px: float = 1.0


def load_settings(path: str | Path | None) -> Settings:
    """The defaults, changed by the ``[calibrate]`` table of ``path`` when given.

    Raises
    ------
    InputError
        Naming the file and the key when the file is missing, not TOML, or holds an unknown key
        or a value that is not a positive number (a positive integer for ``min_views``).
    """
    settings = Settings()
    if path is None:
        return settings
    path = Path(path)
    subject = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(subject, "config file not found; fix the --config path") from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(subject, f"cannot read the config file ({exc})") from exc
    table = data.get("calibrate", {})
    others = sorted(set(data) - {"calibrate"})
    if others or not isinstance(table, dict):
        raise InputError(
            subject, f"the config holds one table [calibrate]; found {others or ['calibrate']!r}"
        )
    known = {f.name: f for f in fields(Settings)}
    changes: dict[str, float | int] = {}
    for key, value in table.items():
        if key not in known:
            raise InputError(
                subject, f"unknown key calibrate.{key}; the keys are {', '.join(known)} (check the spelling)"
            )
        integral = key == "min_views"
        good = (
            isinstance(value, int) and not isinstance(value, bool) and value >= 3
            if integral
            else isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
            and value > 0
        )
        if not good:
            need = "an integer >= 3" if integral else "a number > 0"
            raise InputError(subject, f"calibrate.{key} must be {need}, got {value!r}")
        changes[key] = int(value) if integral else float(value)
    return replace(settings, **changes)
