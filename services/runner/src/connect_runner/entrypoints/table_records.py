"""The `runner-tables` consumer's record handler: create each defined custom table, list and PET right away, and
add the columns added to lists and PETs.

It runs inside `TransactionalConsumer`'s transaction, which also stores the record's offset, so the DDL
and the offset commit together (PostgreSQL DDL is transactional).
"""

from __future__ import annotations

from aiokafka.structs import ConsumerRecord

from connect_events import TABLES_TOPIC, Event, decode
from connect_runner.handlers import TABLE_HANDLERS
from connect_runtime.db import Conn


async def handle_table_record(conn: Conn, record: ConsumerRecord[bytes, bytes]) -> None:
    """Apply one `connect.tables` record; a decoding error goes to the dead-letter topic via the caller."""
    event = decode(TABLES_TOPIC, record.value or b"")
    if isinstance(event, Event):
        handler = TABLE_HANDLERS.get(type(event))
        if handler is not None:
            await handler(conn, event)
