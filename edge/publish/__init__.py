"""Publishing the camera's results to SCADA over MQTT (contract 3 of DESIGN.md).

The pipeline stores every message in the on-disk outbox (:mod:`edge.publish.outbox`); the sender
thread publishes the stored rows and deletes each one when the broker acknowledges it.
Submodules are imported lazily by their users, so importing this package does not pull in an MQTT
client.
"""

from typing import Any

from edge.publish.outbox import (
    EVICTION_ORDER,
    KINDS,
    Outbox,
    OutboxDepth,
    OutboxError,
    OutboxRow,
)

# The MQTT side, imported on first use (``from edge.publish import Publisher`` loads paho then).
_LAZY = {
    "CommandHandler": "edge.publish.commands",
    "MetricSpec": "edge.publish.payloads",
    "ModelInfo": "edge.publish.payloads",
    "MqttClient": "edge.publish.client",
    "PayloadContext": "edge.publish.payloads",
    "Publisher": "edge.publish.publisher",
    "SCHEMAS": "edge.publish.payloads",
    "Sender": "edge.publish.sender",
    "Topics": "edge.publish.topics",
    "load_schema": "edge.publish.payloads",
    "make_publisher": "edge.publish.publisher",
}

__all__ = [
    "EVICTION_ORDER",
    "KINDS",
    "SCHEMAS",
    "CommandHandler",
    "MetricSpec",
    "ModelInfo",
    "MqttClient",
    "Outbox",
    "OutboxDepth",
    "OutboxError",
    "OutboxRow",
    "PayloadContext",
    "Publisher",
    "Sender",
    "Topics",
    "load_schema",
    "make_publisher",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'edge.publish' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
