"""Custom tables in the audience database, created from their definition when missing."""

from __future__ import annotations

from connect_events import TableSpec
from connect_runner.domain.statements import create_table
from connect_runtime.db import Conn

# Concurrent CREATE ... IF NOT EXISTS of one name can still collide in the catalogue; serialise them.
DDL_LOCK = "SELECT pg_advisory_xact_lock(7100010)"


async def ensure_table(conn: Conn, table: TableSpec) -> None:
    """Create the table (and the `custom` schema) unless it exists; an existing table is left as it is."""
    async with conn.transaction():
        await conn.execute(DDL_LOCK)
        await conn.execute(create_table(table))
