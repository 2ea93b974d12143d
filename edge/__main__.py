"""``python -m edge``: same as ``steelsight-edge``."""

from edge.cli import main

raise SystemExit(main())
