"""The quality of one measurement: GOOD, UNCERTAIN or BAD, with its Sparkplug code and a reason.

Shared by the slag and weld measurements and written into every MQTT payload (contract 3:
``quality`` ``"GOOD"`` / ``"UNCERTAIN"`` / ``"BAD"``, ``quality_code`` 192 / 64 / 0 as in
Sparkplug B / OPC UA, ``quality_reason``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["MeasureQuality", "QualityCode"]


class QualityCode(str, Enum):
    """The three quality levels; the value is the payload string."""

    GOOD = "GOOD"
    UNCERTAIN = "UNCERTAIN"
    BAD = "BAD"

    @property
    def sparkplug(self) -> int:
        """The Sparkplug B / OPC UA quality code: 192 GOOD, 64 UNCERTAIN, 0 BAD."""
        return _SPARKPLUG[self]

    def __str__(self) -> str:  # "GOOD", not "QualityCode.GOOD", in messages and f-strings
        return self.value

    __format__ = str.__format__


_SPARKPLUG = {QualityCode.GOOD: 192, QualityCode.UNCERTAIN: 64, QualityCode.BAD: 0}


@dataclass(frozen=True)
class MeasureQuality:
    """The quality of a measurement.

    Build it with :meth:`good`, :meth:`uncertain` or :meth:`bad`; combine two with :meth:`worst`.

    Attributes
    ----------
    code
        ``"GOOD"``, ``"UNCERTAIN"`` or ``"BAD"`` (stored as a :class:`QualityCode`, a ``str``).
    sparkplug
        192, 64 or 0; must match ``code``.
    reason
        Why the measurement is not GOOD (several reasons joined by ``"; "``); empty when GOOD.
    """

    code: str
    sparkplug: int
    reason: str = ""

    def __post_init__(self) -> None:
        try:
            code = QualityCode(self.code)
        except ValueError:
            raise ValueError(f"code must be one of GOOD, UNCERTAIN, BAD, got {self.code!r}") from None
        if self.sparkplug != code.sparkplug:
            raise ValueError(f"sparkplug must be {code.sparkplug} for {code.value}, got {self.sparkplug!r}")
        if code is not QualityCode.GOOD and not self.reason:
            raise ValueError(f"a {code.value} quality needs a reason")
        object.__setattr__(self, "code", code)

    @classmethod
    def good(cls) -> MeasureQuality:
        """A GOOD quality (192, no reason)."""
        return cls(QualityCode.GOOD, 192, "")

    @classmethod
    def uncertain(cls, reason: str) -> MeasureQuality:
        """An UNCERTAIN quality (64) with its reason."""
        return cls(QualityCode.UNCERTAIN, 64, reason)

    @classmethod
    def bad(cls, reason: str) -> MeasureQuality:
        """A BAD quality (0) with its reason."""
        return cls(QualityCode.BAD, 0, reason)

    @property
    def is_good(self) -> bool:
        """``True`` when the code is GOOD."""
        return self.code is QualityCode.GOOD

    @staticmethod
    def worst(a: MeasureQuality, b: MeasureQuality) -> MeasureQuality:
        """The worse of two qualities (BAD < UNCERTAIN < GOOD).

        When both have the same code their reasons are joined with ``"; "`` (a repeated reason
        is kept once); otherwise the worse one is returned as it is.
        """
        if a.sparkplug != b.sparkplug:
            return a if a.sparkplug < b.sparkplug else b
        reasons = [part for part in (a.reason, b.reason) if part]
        if len(reasons) == 2 and reasons[1] in reasons[0].split("; "):
            reasons.pop()
        return MeasureQuality(a.code, a.sparkplug, "; ".join(reasons))

    def as_payload(self) -> dict[str, str | int]:
        """The payload fields ``quality``, ``quality_code`` and ``quality_reason``."""
        return {
            "quality": QualityCode(self.code).value,
            "quality_code": self.sparkplug,
            "quality_reason": self.reason,
        }
