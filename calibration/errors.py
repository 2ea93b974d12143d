"""The error every calibration step raises for input the technician must fix (exit code 2 in the CLI)."""

from __future__ import annotations

__all__ = ["InputError"]


class InputError(ValueError):
    """Bad input to a calibration step: the message names the file or argument and says what to do.

    Attributes
    ----------
    subject
        The file or command-line argument the error is about (e.g. ``"--points"`` or a path).
    """

    def __init__(self, subject: str, message: str) -> None:
        super().__init__(f"{subject}: {message}")
        self.subject = subject
