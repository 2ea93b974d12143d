"""Write a file so that a reader (or a power cut) never sees it half written.

The implementation lives in :mod:`calibration.atomic_file` (edge may import calibration, not the
reverse); this module keeps edge's import path.
"""

from __future__ import annotations

from calibration.atomic_file import atomic_write

__all__ = ["atomic_write"]
