"""SteelSight field calibration: writes the calibration file the edge runtime reads; never imports torch."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("steelsight")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"
