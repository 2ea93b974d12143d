"""Command parsing and execution (no broker: the replies are checked as built)."""

from __future__ import annotations

from typing import Any

import pytest

from edge.publish.commands import COMMANDS, Command, CommandError, CommandHandler, Reply, parse_command
from edge.publish.topics import Topics

TOPICS = Topics("plant1/rh1/cam")


class Props:
    """MQTT 5 publish properties as paho hands them over (only the two fields used)."""

    def __init__(self, response_topic: str | None = None, correlation: bytes | None = None) -> None:
        if response_topic is not None:
            self.ResponseTopic = response_topic
        if correlation is not None:
            self.CorrelationData = correlation


def test_parse_valid_commands() -> None:
    command = parse_command(TOPICS, "plant1/rh1/cam/cmd/rebirth", b'{"id": "a"}')
    assert command == Command("rebirth", {"id": "a"}, "a")
    empty = parse_command(TOPICS, "plant1/rh1/cam/cmd/snapshot", b"")
    assert empty is not None and empty.error is None and empty.args == {}
    assert set(COMMANDS) == {"rebirth", "reload-calibration", "snapshot"}


@pytest.mark.parametrize(
    ("topic", "payload", "error"),
    [
        ("plant1/rh1/cam/cmd/rebirth", b"{oops", "payload is not valid JSON"),
        ("plant1/rh1/cam/cmd/rebirth", b"\xff\xfe", "payload is not valid JSON"),
        ("plant1/rh1/cam/cmd/rebirth", b'"text"', "must be a JSON object, got str"),
        ("plant1/rh1/cam/cmd/format-disk", b"{}", "unknown command 'format-disk'; known: rebirth"),
        ("plant1/rh1/cam/cmd/", b"{}", "no command name"),
        ("plant1/rh1/cam/cmd/rebirth", b"{" + b" " * 70000 + b"}", "larger than"),
    ],
)
def test_malformed_commands_carry_their_error(topic: str, payload: bytes, error: str) -> None:
    command = parse_command(TOPICS, topic, payload)
    assert command is not None and command.error is not None and error in command.error


def test_replies_and_other_topics_are_not_commands() -> None:
    assert parse_command(TOPICS, TOPICS.reply, b"{}") is None
    assert parse_command(TOPICS, TOPICS.status, b"{}") is None


def test_request_id_kinds() -> None:
    assert parse_command(TOPICS, TOPICS.sub("cmd/rebirth"), b'{"id": 5}').request_id == 5  # type: ignore[union-attr]
    odd = parse_command(TOPICS, TOPICS.sub("cmd/rebirth"), b'{"id": [1]}')
    assert odd is not None and odd.request_id == "[1]"


def test_response_topic_and_correlation_are_kept_and_wildcards_refused() -> None:
    command = parse_command(TOPICS, TOPICS.sub("cmd/rebirth"), b"{}", Props("scada/r/1", b"\x00\x01"))
    assert (
        command is not None and command.response_topic == "scada/r/1" and command.correlation == b"\x00\x01"
    )
    wild = parse_command(TOPICS, TOPICS.sub("cmd/rebirth"), b"{}", Props("scada/#"))
    assert wild is not None and wild.response_topic is None


def test_execute_maps_results_and_errors_to_replies() -> None:
    sent: list[Reply] = []

    def refuse(_command: Command) -> Any:
        raise CommandError("not now")

    def crash(_command: Command) -> Any:
        raise RuntimeError("boom")

    handler = CommandHandler(
        TOPICS,
        {"rebirth": lambda c: {"rebirth": True}, "snapshot": refuse, "reload-calibration": crash},
        sent.append,
    )
    ok = handler.execute(parse_command(TOPICS, TOPICS.sub("cmd/rebirth"), b'{"id": 1}'))  # type: ignore[arg-type]
    assert ok == Reply(TOPICS.reply, "rebirth", True, 1, {"rebirth": True}, None, None)
    refused = handler.execute(parse_command(TOPICS, TOPICS.sub("cmd/snapshot"), b""))  # type: ignore[arg-type]
    assert not refused.ok and refused.error == "not now"
    crashed = handler.execute(parse_command(TOPICS, TOPICS.sub("cmd/reload-calibration"), b""))  # type: ignore[arg-type]
    assert not crashed.ok and "failed: boom" in (crashed.error or "")
    missing = CommandHandler(TOPICS, {}, sent.append).execute(
        parse_command(TOPICS, TOPICS.sub("cmd/rebirth"), b"")  # type: ignore[arg-type]
    )
    assert not missing.ok and "not available" in (missing.error or "")


def test_worker_thread_answers_every_queued_command() -> None:
    sent: list[Reply] = []
    handler = CommandHandler(TOPICS, {"rebirth": lambda c: None}, sent.append)
    handler.start()
    for i in range(5):
        handler.on_message(TOPICS.sub("cmd/rebirth"), f'{{"id": {i}}}'.encode())
    handler.on_message(TOPICS.sub("cmd/oops"), b"{")
    handler.on_message(TOPICS.reply, b"{}")  # ignored
    handler.stop()
    assert [r.request_id for r in sent] == [0, 1, 2, 3, 4, None]
    assert handler.handled == 6 and handler.failed == 1
