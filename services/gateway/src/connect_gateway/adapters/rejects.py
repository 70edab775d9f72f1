"""Reads the rejects of runs from the runner's `run_rejects` table in the audience database (schema owned by the
runner), with a server-side cursor so that a run's millions of rejects are never held at once."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import asyncpg

from connect_gateway.domain.rejects import RejectRecord
from connect_gateway.ports import AudienceUnavailableError

REJECTS = "SELECT line_no, reason, raw_line FROM run_rejects WHERE job_id = $1 AND run_id = $2 ORDER BY line_no"
BATCH_ROWS = 2000  # rows per round trip of the cursor, and per piece of a download


class PgRejectStore:
    """`RejectStore` over the audience database (the pool should be read-only)."""

    def __init__(self, pool: asyncpg.Pool, batch_rows: int = BATCH_ROWS) -> None:
        self._pool = pool
        self._batch_rows = batch_rows

    async def batches(self, job_id: int, run_id: int) -> AsyncGenerator[list[RejectRecord], None]:
        """A run's rejects in line order, `batch_rows` at a time, from one cursor in one transaction."""
        try:
            async with self._pool.acquire() as connection, connection.transaction(readonly=True):
                cursor = await connection.cursor(REJECTS, job_id, run_id)
                while rows := await cursor.fetch(self._batch_rows):
                    yield [RejectRecord(row["line_no"], row["reason"], row["raw_line"]) for row in rows]
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # Also the runner not having created its tables yet (UndefinedTableError).
            raise AudienceUnavailableError(f"{type(exc).__name__}: {exc}") from exc
