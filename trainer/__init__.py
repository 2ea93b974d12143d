"""SteelSight desktop trainer: data, training, evaluation and export."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("steelsight")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"
