"""The groups' due table: one row per live group, waking the scheduler when the group has something ahead (its
next fire, its expiration), and remembering the last fire recorded.

It works as the jobs' (`adapters/due.py`): rows follow the group stream in the transaction of every change to
the group's definition, and tickers claim the rows whose time has come with `FOR UPDATE SKIP LOCKED`, walking
the partial `wake_at` index, so several scheduler instances share them and each row is worked on by one at a
time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from connect_runtime.db import Conn
from connect_scheduler.domain.fires import Slot
from connect_scheduler.domain.group_fires import GroupDue, group_slot
from connect_scheduler.domain.groups import GroupState

GROUP_SCHEDULES_DDL = """
-- wake_at is the earlier of due_at and expires_at (NULL: nothing ahead), or later when a group's fire failed.
CREATE TABLE IF NOT EXISTS group_schedules (
    group_id     bigint      PRIMARY KEY,
    fire_at      timestamptz,
    due_at       timestamptz,
    expires_at   timestamptz,
    last_fire_at timestamptz,
    wake_at      timestamptz
);
CREATE INDEX IF NOT EXISTS group_schedules_wake_at ON group_schedules (wake_at) WHERE wake_at IS NOT NULL;
"""
COLUMNS = "fire_at, due_at, expires_at, last_fire_at"
CLAIM = f"""
SELECT group_id, {COLUMNS} FROM group_schedules WHERE wake_at <= $1 ORDER BY wake_at LIMIT $2 FOR UPDATE SKIP LOCKED
"""
# Taken before the row is rewritten: waits for a ticker working on the group, then reads what it left.
LOCK_ROW = f"SELECT {COLUMNS} FROM group_schedules WHERE group_id = $1 FOR UPDATE"
UPSERT = f"""
INSERT INTO group_schedules (group_id, {COLUMNS}, wake_at) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (group_id) DO UPDATE SET fire_at = EXCLUDED.fire_at, due_at = EXCLUDED.due_at,
    expires_at = EXCLUDED.expires_at, last_fire_at = EXCLUDED.last_fire_at, wake_at = EXCLUDED.wake_at
"""
REMOVE = "DELETE FROM group_schedules WHERE group_id = ANY($1::bigint[])"
POSTPONE = "UPDATE group_schedules SET wake_at = $2 WHERE group_id = $1"
NEXT_WAKE = "SELECT wake_at FROM group_schedules WHERE wake_at IS NOT NULL ORDER BY wake_at LIMIT 1"


async def reschedule(conn: Conn, group: GroupState, now: datetime) -> None:
    """Bring the group's row up to date after a change to its definition at `now`, in the change's transaction."""
    previous = await conn.fetchrow(LOCK_ROW, group.group_id)
    await store(conn, [(group.group_id, group_slot(group, now, None if previous is None else _slot(previous)))])


async def claim(conn: Conn, now: datetime, limit: int) -> list[GroupDue]:
    """Up to `limit` rows whose time has come, earliest first, locked until the transaction ends; rows another
    transaction holds are skipped."""
    return [GroupDue(group_id=r["group_id"], slot=_slot(r)) for r in await conn.fetch(CLAIM, now, limit)]


async def next_wake(conn: Conn) -> datetime | None:
    """The earliest time any group row wakes."""
    wake_at: datetime | None = await conn.fetchval(NEXT_WAKE)
    return wake_at


async def store(conn: Conn, rows: Sequence[tuple[int, Slot | None]]) -> None:
    """Write each group's row; None removes it."""
    kept = [(gid, s.fire_at, s.due_at, s.expires_at, s.last_fire_at, s.wake_at) for gid, s in rows if s is not None]
    removed = [group_id for group_id, s in rows if s is None]
    if kept:
        await conn.executemany(UPSERT, kept)
    if removed:
        await conn.execute(REMOVE, removed)


async def postpone(conn: Conn, group_id: int, until: datetime) -> None:
    """Look at the group again at `until` only (its fire failed); what the row is due for stays."""
    await conn.execute(POSTPONE, group_id, until)


def _slot(record: asyncpg.Record) -> Slot:
    return Slot(record["fire_at"], record["due_at"], record["expires_at"], record["last_fire_at"])
