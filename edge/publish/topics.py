"""The camera's MQTT topic tree (DESIGN.md contract 3).

Every topic hangs off the camera's prefix (ISA-95 style, e.g. ``plant1/meltshop/rh1/slagcam01``):

============================  ========================================================  ==========
topic                         what                                                      QoS/retain
============================  ========================================================  ==========
``<prefix>/status``           birth (online, versions, metric list), LWT and clean       1, retained
                              offline
``<prefix>/slag/thickness``   one per processed frame (or at ``thickness_rate_hz``)      1
``<prefix>/slag/measurement`` one per stable dip-cycle measurement                       1
``<prefix>/weld/result``      weld geometry + compact mask or a reference to the image   1
``<prefix>/metrics``          fps, stage latency, drops, outbox depth and evictions      0
``<prefix>/backfill/<sub>``   ``live-first`` order: stored history of ``<prefix>/<sub>``  1
``<prefix>/cmd/<name>``       commands, subscribed: ``rebirth``, ``reload-calibration``,  1
                              ``snapshot``
``<prefix>/cmd/reply``        the answer to every command (``cmd.reply/1``)              1
============================  ========================================================  ==========

The reply topic sits in the command branch so one ACL entry (``<prefix>/cmd/#``) covers the whole
exchange; the camera ignores what arrives on ``cmd/reply`` (its own replies, which MQTT 3.1.1
echoes back; MQTT 5 subscribes with *no local*). An MQTT 5 command that names a *response topic*
is answered there instead, with its correlation data.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["REPLY_NAME", "SUBTOPICS", "Topics"]

REPLY_NAME = "reply"
"""The reserved last level of the reply topic ``<prefix>/cmd/reply`` (not a command)."""

SUBTOPICS: dict[str, str] = {
    "status": "status",
    "thickness": "slag/thickness",
    "measurement": "slag/measurement",
    "weld": "weld/result",
    "metrics": "metrics",
}
"""The live subtopics under the prefix, by short name."""


@dataclass(frozen=True)
class Topics:
    """The topic names of one camera.

    Parameters
    ----------
    prefix
        The camera's topic prefix without a trailing ``/`` (e.g. ``plant1/meltshop/rh1/slagcam01``).
    """

    prefix: str

    def __post_init__(self) -> None:
        if not self.prefix or self.prefix.startswith("/") or self.prefix.endswith("/"):
            raise ValueError(
                f"topic prefix {self.prefix!r} must be non-empty without a leading or trailing '/'"
            )
        if any(c in self.prefix for c in "#+\x00"):
            raise ValueError(f"topic prefix {self.prefix!r} must not contain '#', '+' or NUL")

    def sub(self, subtopic: str) -> str:
        """``<prefix>/<subtopic>``."""
        return f"{self.prefix}/{subtopic}"

    @property
    def status(self) -> str:
        """Birth, LWT and offline messages (retained)."""
        return self.sub(SUBTOPICS["status"])

    @property
    def thickness(self) -> str:
        """Per-frame slag thickness."""
        return self.sub(SUBTOPICS["thickness"])

    @property
    def measurement(self) -> str:
        """Per-dip-cycle slag measurement."""
        return self.sub(SUBTOPICS["measurement"])

    @property
    def weld(self) -> str:
        """Weld results."""
        return self.sub(SUBTOPICS["weld"])

    @property
    def metrics(self) -> str:
        """Runtime metrics (QoS 0)."""
        return self.sub(SUBTOPICS["metrics"])

    @property
    def cmd_filter(self) -> str:
        """The subscription for commands: ``<prefix>/cmd/#``."""
        return self.sub("cmd/#")

    @property
    def cmd_base(self) -> str:
        """``<prefix>/cmd/``: a command's name is what follows."""
        return self.sub("cmd/")

    @property
    def reply(self) -> str:
        """Where command replies go (unless an MQTT 5 command names its own response topic)."""
        return self.sub(f"cmd/{REPLY_NAME}")

    def backfill(self, live_topic: str) -> str:
        """The backfill topic of ``live_topic``: ``<prefix>/backfill/<subtopic>``.

        Raises
        ------
        ValueError
            If ``live_topic`` is not under this prefix.
        """
        subtopic = self.subtopic(live_topic)
        if subtopic is None:
            raise ValueError(f"topic {live_topic!r} is not under the prefix {self.prefix!r}")
        return self.sub(f"backfill/{subtopic}")

    def subtopic(self, topic: str) -> str | None:
        """The part of ``topic`` after ``<prefix>/``, or ``None`` when it is not under the prefix."""
        head = f"{self.prefix}/"
        return topic[len(head) :] if topic.startswith(head) and len(topic) > len(head) else None

    def command_name(self, topic: str) -> str | None:
        """The command name of a message on ``<prefix>/cmd/<name>``, or ``None`` for other topics."""
        base = self.cmd_base
        return topic[len(base) :] if topic.startswith(base) else None
