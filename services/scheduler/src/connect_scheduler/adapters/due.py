"""The due table: one row per live job, waking the scheduler when the job has something ahead (its next fire,
its expiration), and remembering the last fire recorded.

Rows follow the job stream in the same transaction as every change to it (`reschedule`), so a ticker never
decides on a row older than the job. Tickers claim the rows whose time has come with `FOR UPDATE SKIP LOCKED`:
several scheduler instances share the table, each row is worked on by one of them at a time, and the others
skip it instead of waiting. Claiming walks the partial `wake_at` index from its start, so its cost depends on
the rows that are due, not on how many jobs wait for later or for nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from connect_runtime.db import Conn
from connect_scheduler.domain.fires import Due, Slot, slot
from connect_scheduler.domain.jobs import JobState

JOB_SCHEDULES_DDL = """
-- wake_at is the earlier of due_at and expires_at (NULL: nothing ahead), or later when a job's fire failed.
CREATE TABLE IF NOT EXISTS job_schedules (
    job_id       bigint      PRIMARY KEY,
    fire_at      timestamptz,
    due_at       timestamptz,
    expires_at   timestamptz,
    last_fire_at timestamptz,
    wake_at      timestamptz
);
CREATE INDEX IF NOT EXISTS job_schedules_wake_at ON job_schedules (wake_at) WHERE wake_at IS NOT NULL;
"""
COLUMNS = "fire_at, due_at, expires_at, last_fire_at"
CLAIM = f"""
SELECT job_id, {COLUMNS} FROM job_schedules WHERE wake_at <= $1 ORDER BY wake_at LIMIT $2 FOR UPDATE SKIP LOCKED
"""
# Taken before the row is rewritten: waits for a ticker working on the job, then reads what it left.
LOCK_ROW = f"SELECT {COLUMNS} FROM job_schedules WHERE job_id = $1 FOR UPDATE"
UPSERT = f"""
INSERT INTO job_schedules (job_id, {COLUMNS}, wake_at) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (job_id) DO UPDATE SET fire_at = EXCLUDED.fire_at, due_at = EXCLUDED.due_at,
    expires_at = EXCLUDED.expires_at, last_fire_at = EXCLUDED.last_fire_at, wake_at = EXCLUDED.wake_at
"""
REMOVE = "DELETE FROM job_schedules WHERE job_id = ANY($1::bigint[])"
POSTPONE = "UPDATE job_schedules SET wake_at = $2 WHERE job_id = $1"
NEXT_WAKE = "SELECT wake_at FROM job_schedules WHERE wake_at IS NOT NULL ORDER BY wake_at LIMIT 1"


async def reschedule(conn: Conn, job: JobState, now: datetime) -> None:
    """Bring the job's row up to date after a change to the job at `now`, in the change's transaction."""
    previous = await conn.fetchrow(LOCK_ROW, job.job_id)
    await store(conn, [(job.job_id, slot(job, now, None if previous is None else _slot(previous)))])


async def claim(conn: Conn, now: datetime, limit: int) -> list[Due]:
    """Up to `limit` rows whose time has come, earliest first, locked until the transaction ends.

    Rows another transaction holds are skipped: another instance is working on them.
    """
    return [Due(job_id=r["job_id"], slot=_slot(r)) for r in await conn.fetch(CLAIM, now, limit)]


async def next_wake(conn: Conn) -> datetime | None:
    """The earliest time any row wakes (one another instance holds included)."""
    wake_at: datetime | None = await conn.fetchval(NEXT_WAKE)
    return wake_at


async def store(conn: Conn, rows: Sequence[tuple[int, Slot | None]]) -> None:
    """Write each job's row; None removes it."""
    kept = [
        (job_id, s.fire_at, s.due_at, s.expires_at, s.last_fire_at, s.wake_at) for job_id, s in rows if s is not None
    ]
    removed = [job_id for job_id, s in rows if s is None]
    if kept:
        await conn.executemany(UPSERT, kept)
    if removed:
        await conn.execute(REMOVE, removed)


async def postpone(conn: Conn, job_id: int, until: datetime) -> None:
    """Look at the job again at `until` only (its fire failed); what the row is due for stays."""
    await conn.execute(POSTPONE, job_id, until)


def _slot(record: asyncpg.Record) -> Slot:
    return Slot(record["fire_at"], record["due_at"], record["expires_at"], record["last_fire_at"])
