"""Adapter from a `connect.commands` record to `handle_command`, inside the consumer's transaction."""

from __future__ import annotations

from connect_events import COMMANDS_TOPIC, Command, decode
from connect_runtime.db import Conn
from connect_runtime.offsets import Record
from connect_scheduler.handlers import handle_command


class PoisonCommandError(ValueError):
    """A record on the commands topic that is not a command; it goes to the dead-letter topic."""


async def on_command_record(conn: Conn, record: Record) -> None:
    """Decode and handle one command; an undecodable record raises, so it is retried then dead-lettered."""
    if record.value is None:
        raise PoisonCommandError(f"empty record at offset {record.offset}")
    command = decode(COMMANDS_TOPIC, record.value)
    if not isinstance(command, Command):
        raise PoisonCommandError(f"{type(command).__name__} is not a command")
    await handle_command(conn, command)
