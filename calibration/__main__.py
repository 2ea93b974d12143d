"""``python -m calibration``: same as ``steelsight-calibrate``."""

from calibration.cli import main

raise SystemExit(main())
