"""``python -m trainer``: same as ``steelsight-train``."""

from trainer.cli import main

raise SystemExit(main())
