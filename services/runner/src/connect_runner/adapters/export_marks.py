"""Where an incremental export's next run starts (`export_marks`, ADR 0012): kept in the transaction that ends
the job's successful export, read when the next one selects its rows."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from connect_runtime.db import Conn


async def read_mark(pool: asyncpg.Pool, job_id: int) -> datetime | None:
    """The start of the rows the job's next export writes; None before its first successful one."""
    async with pool.acquire() as conn:
        found: datetime | None = await conn.fetchval("SELECT since FROM export_marks WHERE job_id = $1", job_id)
    return found


async def keep_mark(conn: Conn, job_id: int, run_id: int, since: datetime) -> None:
    """Keep `since` as the start of the job's next export (inside the transaction ending run `run_id`)."""
    await conn.execute(
        "INSERT INTO export_marks (job_id, run_id, since) VALUES ($1, $2, $3)"
        " ON CONFLICT (job_id) DO UPDATE SET run_id = excluded.run_id, since = excluded.since",
        job_id,
        run_id,
        since,
    )
