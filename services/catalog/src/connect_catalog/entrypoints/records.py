"""One Kafka record to the read models, inside the transaction the consumer opened."""

from __future__ import annotations

from connect_catalog.adapters.store import PostgresReadModel
from connect_catalog.handlers import HANDLERS
from connect_events import Event, decode
from connect_runtime.db import Conn
from connect_runtime.logs import log_context
from connect_runtime.offsets import Record


class NotAnEventError(TypeError):
    """A projected topic carried something other than an event."""


async def handle_record(conn: Conn, record: Record) -> None:
    """Decode `record` and project it; a record that cannot be decoded raises (and is dead-lettered)."""
    if record.value is None:
        raise NotAnEventError(f"{record.topic} carried a tombstone at offset {record.offset}")
    message = decode(record.topic, record.value)
    if not isinstance(message, Event):
        raise NotAnEventError(f"{record.topic} carried {type(message).__name__}")
    with log_context(correlation_id=str(message.correlation_id), aggregate=message.aggregate_id):
        await HANDLERS[record.topic](PostgresReadModel(conn), message)
