"""``steelsight-calibrate``: field calibration of a SteelSight camera."""

from __future__ import annotations

import argparse

from calibration import __version__


def _build_parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog="steelsight-calibrate",
        description=(
            "Calibrate a SteelSight camera in the field: intrinsics from checkerboard views, the "
            "pixel-to-mm scale, the region of interest, and verification against a known length. "
            "Writes the calibration file (schema steelsight.calibration/1) that the edge runtime loads. "
            "The calibration steps arrive with the calibration tools; this release only reports its version."
        ),
    )


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = _build_parser()
    parser.add_argument("--version", action="version", version=f"steelsight {__version__}")
    parser.parse_args(argv)
    parser.print_help()
    return 2
