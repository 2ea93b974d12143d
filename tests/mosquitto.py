"""The real Mosquitto broker of the tests: :class:`edge.demo.local_broker.LocalBroker`, plus a skip.

Usable from any test folder::

    from tests.mosquitto import Mosquitto, require_mosquitto

    broker = Mosquitto(tmp_path / "broker").start()
    broker.kill(); broker.start(); broker.stop()
"""

from __future__ import annotations

from edge.demo.local_broker import MOSQUITTO, free_port, mosquitto_missing
from edge.demo.local_broker import LocalBroker as Mosquitto

__all__ = ["MOSQUITTO", "Mosquitto", "free_port", "mosquitto_missing", "require_mosquitto"]


def require_mosquitto() -> None:
    """Skip the calling test with the reason when Mosquitto is missing."""
    import pytest

    reason = mosquitto_missing()
    if reason is not None:
        pytest.skip(reason)
