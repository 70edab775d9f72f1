"""The due tables: one row per live job (`job_schedules`) and per live group (`group_schedules`), waking the
scheduler when it has something ahead (its next fire, its expiration), and remembering the last fire recorded.

Rows follow their job's or group's stream in the same transaction as every change to it (`reschedule`,
`reschedule_group`), so a ticker never decides on a row older than its stream. Tickers claim the rows whose
time has come with `FOR UPDATE SKIP LOCKED`: several scheduler instances share the tables, each row is worked
on by one of them at a time, and the others skip it instead of waiting. Claiming walks the partial `wake_at`
index from its start, so its cost depends on the rows that are due, not on how many wait for later or for
nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from connect_runtime.db import Conn
from connect_scheduler.domain.fires import slot
from connect_scheduler.domain.group_fires import group_slot
from connect_scheduler.domain.groups import GroupState
from connect_scheduler.domain.jobs import JobState
from connect_scheduler.domain.slots import Due, Slot

COLUMNS = "fire_at, due_at, expires_at, last_fire_at"


@dataclass(frozen=True)
class DueTable:
    """The named queries of one due table (its name and id column are constants, never user input)."""

    ddl: str
    claim: str
    lock_row: str
    upsert: str
    remove: str
    postpone: str
    next_wake: str
    upcoming: str
    backlog: str


def _due_table(table: str, key: str) -> DueTable:
    return DueTable(
        ddl=f"""
-- wake_at is the earlier of due_at and expires_at (NULL: nothing ahead), or later when a fire failed.
CREATE TABLE IF NOT EXISTS {table} (
    {key}        bigint      PRIMARY KEY,
    fire_at      timestamptz,
    due_at       timestamptz,
    expires_at   timestamptz,
    last_fire_at timestamptz,
    wake_at      timestamptz
);
CREATE INDEX IF NOT EXISTS {table}_wake_at ON {table} (wake_at) WHERE wake_at IS NOT NULL;
""",
        claim=f"""
SELECT {key}, {COLUMNS} FROM {table} WHERE wake_at <= $1 ORDER BY wake_at LIMIT $2 FOR UPDATE SKIP LOCKED
""",
        # Taken before the row is rewritten: waits for a ticker working on the row, then reads what it left.
        lock_row=f"SELECT {COLUMNS} FROM {table} WHERE {key} = $1 FOR UPDATE",
        upsert=f"""
INSERT INTO {table} ({key}, {COLUMNS}, wake_at) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT ({key}) DO UPDATE SET fire_at = EXCLUDED.fire_at, due_at = EXCLUDED.due_at,
    expires_at = EXCLUDED.expires_at, last_fire_at = EXCLUDED.last_fire_at, wake_at = EXCLUDED.wake_at
""",
        remove=f"DELETE FROM {table} WHERE {key} = ANY($1::bigint[])",
        postpone=f"UPDATE {table} SET wake_at = $2 WHERE {key} = $1",
        next_wake=f"SELECT wake_at FROM {table} WHERE wake_at IS NOT NULL ORDER BY wake_at LIMIT 1",
        upcoming=f"SELECT {key} FROM {table} WHERE wake_at <= $1 ORDER BY wake_at LIMIT $2",
        backlog=f"SELECT count(*) FROM {table} WHERE wake_at <= $1",
    )


JOBS = _due_table("job_schedules", "job_id")
GROUPS = _due_table("group_schedules", "group_id")
SCHEDULES_DDL = JOBS.ddl + GROUPS.ddl


async def reschedule(conn: Conn, job: JobState, now: datetime) -> None:
    """Bring the job's row up to date after a change to the job at `now`, in the change's transaction."""
    previous = await _locked_row(conn, JOBS, job.job_id)
    await store(conn, JOBS, [(job.job_id, slot(job, now, previous))])


async def reschedule_group(conn: Conn, group: GroupState, now: datetime) -> None:
    """Bring the group's row up to date after a change to its definition at `now`, in the change's transaction."""
    previous = await _locked_row(conn, GROUPS, group.group_id)
    await store(conn, GROUPS, [(group.group_id, group_slot(group, now, previous))])


async def claim(conn: Conn, table: DueTable, now: datetime, limit: int) -> list[Due]:
    """Up to `limit` rows whose time has come, earliest first, locked until the transaction ends.

    Rows another transaction holds are skipped: another instance is working on them.
    """
    return [Due(id=r[0], slot=_slot(r)) for r in await conn.fetch(table.claim, now, limit)]


async def next_wake(conn: Conn, table: DueTable) -> datetime | None:
    """The earliest time any row wakes (one another instance holds included)."""
    wake_at: datetime | None = await conn.fetchval(table.next_wake)
    return wake_at


async def backlog(conn: Conn, table: DueTable, now: datetime) -> int:
    """How many rows are due at `now` and not recorded yet (held by another instance, or past a full batch)."""
    found: int = await conn.fetchval(table.backlog, now)
    return found


async def upcoming(conn: Conn, table: DueTable, until: datetime, limit: int) -> list[int]:
    """The ids of up to `limit` rows waking by `until`, earliest first, without claiming them."""
    return [row[0] for row in await conn.fetch(table.upcoming, until, limit)]


async def store(conn: Conn, table: DueTable, rows: Sequence[tuple[int, Slot | None]]) -> None:
    """Write each row by its id; None removes it."""
    kept = [(id_, s.fire_at, s.due_at, s.expires_at, s.last_fire_at, s.wake_at) for id_, s in rows if s is not None]
    removed = [id_ for id_, s in rows if s is None]
    if kept:
        await conn.executemany(table.upsert, kept)
    if removed:
        await conn.execute(table.remove, removed)


async def postpone(conn: Conn, table: DueTable, id_: int, until: datetime) -> None:
    """Look at the row again at `until` only (its fire failed); what the row is due for stays."""
    await conn.execute(table.postpone, id_, until)


async def _locked_row(conn: Conn, table: DueTable, id_: int) -> Slot | None:
    previous = await conn.fetchrow(table.lock_row, id_)
    return None if previous is None else _slot(previous)


def _slot(record: asyncpg.Record) -> Slot:
    return Slot(record["fire_at"], record["due_at"], record["expires_at"], record["last_fire_at"])
