"""Adapter from a `connect.commands` record to `handle_command`, inside the consumer's transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import ValidationError

from connect_events import COMMANDS_TOPIC, Command, decode
from connect_runtime.db import Conn
from connect_runtime.logs import log_context
from connect_runtime.offsets import Record
from connect_scheduler.domain.envelope import occurred_at
from connect_scheduler.domain.malformed import identify_malformed
from connect_scheduler.handlers import handle_command, reject_malformed
from connect_scheduler.policy import STRICT, Policy


class PoisonCommandError(ValueError):
    """A record on the commands topic that names no command; it goes to the dead-letter topic."""


async def on_command_record(conn: Conn, record: Record, policy: Policy = STRICT) -> None:
    """Decode and handle one command under the operator's `policy`.

    A record that does not decode but names a command id is answered with a `malformed` refusal, so its
    sender is not left waiting. One that names none raises: it is retried, then dead-lettered.
    """
    if record.value is None:
        raise PoisonCommandError(f"empty record at offset {record.offset}")
    try:
        command = decode(COMMANDS_TOPIC, record.value)
    except ValidationError as exc:
        malformed = identify_malformed(record.value, exc, received_at=record_time(record))
        if malformed is None:
            raise PoisonCommandError(f"record at offset {record.offset} is not a command and names none") from exc
        await reject_malformed(conn, malformed)
        return
    if not isinstance(command, Command):
        raise PoisonCommandError(f"{type(command).__name__} is not a command")
    with log_context(correlation_id=str(command.correlation_id), command_id=str(command.command_id)):
        await handle_command(conn, command, policy=policy)


def record_time(record: Record) -> datetime:
    """When the record was produced (Kafka's timestamp, in milliseconds); the same on every redelivery."""
    now = datetime.now(UTC)
    timestamp = record.timestamp
    if not isinstance(timestamp, int) or timestamp < 0:
        return now
    try:  # a producer sets the timestamp: it may be beyond what a datetime can hold
        produced = datetime.fromtimestamp(timestamp / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return now
    return occurred_at(produced, fallback=now)
