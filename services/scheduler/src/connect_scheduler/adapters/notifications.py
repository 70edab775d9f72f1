"""Notification tables: the settings of runs that may notify, and the deliveries their ends owe.

The runs consumer writes both in the transaction that stores its offset (`entrypoints/runs.py`): a run's
request keeps its job name and frozen settings in `run_notice_settings`; its terminal event takes them back
and queues one `notifications` row per channel. A group run's end queues its rows in the transaction that
records it (`group_handlers.py`). Rows are unique per (kind, id, run, channel), so each delivery is decided
exactly once however often an event is redelivered, and a job's run never stands for a group's.

The notifiers of all instances share the queue: a claim takes due rows with `FOR UPDATE SKIP LOCKED`, counts
the attempt and leases the rows for `LEASE`, so the send happens outside any transaction and a row whose
sender died is taken up again once its lease has run out.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from connect_events import Notifications
from connect_runtime.db import Conn
from connect_scheduler.domain.notifications import NOTICES, AnyNotice, Channel

LEASE = timedelta(minutes=5)  # longer than any send may take (the senders' timeouts are well under it)

NOTIFICATIONS_DDL = """
-- The job name and frozen notification settings of a run that may notify, until it ends.
CREATE TABLE IF NOT EXISTS run_notice_settings (
    job_id   bigint NOT NULL,
    run_id   bigint NOT NULL,
    job_name text   NOT NULL,
    settings jsonb  NOT NULL,
    PRIMARY KEY (job_id, run_id)
);

-- One delivery per notified channel of an ended run: a job's (kind 'job', job_id the job's id) or a group's
-- (kind 'group', job_id the group's id). target: the addresses (email) or the URL (webhook).
-- status: pending until delivered or failed; a pending row is due at next_attempt_at (also its lease's end).
CREATE TABLE IF NOT EXISTS notifications (
    delivery_id     uuid        PRIMARY KEY,
    kind            text        NOT NULL DEFAULT 'job',
    job_id          bigint      NOT NULL,
    run_id          bigint      NOT NULL,
    channel         text        NOT NULL,
    target          text[]      NOT NULL,
    notice          jsonb       NOT NULL,
    status          text        NOT NULL DEFAULT 'pending',
    attempts        int         NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
-- A table from before group notifications gains its kind, and its key moves to (kind, job_id, run_id, channel).
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'job';
CREATE UNIQUE INDEX IF NOT EXISTS notifications_once ON notifications (kind, job_id, run_id, channel);
ALTER TABLE notifications DROP CONSTRAINT IF EXISTS notifications_job_id_run_id_channel_key;
CREATE INDEX IF NOT EXISTS notifications_due ON notifications (next_attempt_at) WHERE status = 'pending';
"""
KEEP_SETTINGS = """
INSERT INTO run_notice_settings (job_id, run_id, job_name, settings) VALUES ($1, $2, $3, $4)
ON CONFLICT (job_id, run_id) DO NOTHING
"""
TAKE_SETTINGS = """
DELETE FROM run_notice_settings kept USING unnest($1::bigint[], $2::bigint[]) AS ended(job_id, run_id)
WHERE kept.job_id = ended.job_id AND kept.run_id = ended.run_id
RETURNING kept.job_id, kept.run_id, kept.job_name, kept.settings
"""
ENQUEUE = """
INSERT INTO notifications (delivery_id, kind, job_id, run_id, channel, target, notice)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (kind, job_id, run_id, channel) DO NOTHING
"""
CLAIM = """
UPDATE notifications SET attempts = attempts + 1, next_attempt_at = $3
WHERE delivery_id IN (
    SELECT delivery_id FROM notifications WHERE status = 'pending' AND next_attempt_at <= $1
    ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED
)
RETURNING delivery_id, channel, target, notice, attempts
"""
# Each outcome is written only by the claim that made this attempt: a stale one (its lease ran out and another
# instance took the row up) changes nothing.
DELIVERED = """
UPDATE notifications SET status = 'delivered', finished_at = $3, last_error = NULL
WHERE delivery_id = $1 AND attempts = $2 AND status = 'pending'
"""
RETRY = """
UPDATE notifications SET next_attempt_at = $3, last_error = $4
WHERE delivery_id = $1 AND attempts = $2 AND status = 'pending'
"""
FAILED = """
UPDATE notifications SET status = 'failed', finished_at = $3, last_error = $4
WHERE delivery_id = $1 AND attempts = $2 AND status = 'pending'
"""
NEXT_DUE = "SELECT min(next_attempt_at) FROM notifications WHERE status = 'pending'"


@dataclass(frozen=True)
class Delivery:
    """One claimed delivery: its id, channel, target and notice, and which attempt this is (1 = the first)."""

    delivery_id: UUID
    channel: Channel
    target: tuple[str, ...]
    notice: AnyNotice
    attempt: int


async def keep_settings(conn: Conn, job_id: int, run_id: int, job_name: str, settings: Notifications) -> None:
    """Keep what a requested run needs to notify when it ends (a redelivered request changes nothing)."""
    await conn.execute(KEEP_SETTINGS, job_id, run_id, job_name, settings.model_dump_json())


async def take_settings(
    conn: Conn, runs: Collection[tuple[int, int]]
) -> dict[tuple[int, int], tuple[str, Notifications]]:
    """Of the ended `runs` (`(job_id, run_id)`), those that may notify with their job name and settings, which
    are removed (a run absent may not notify, or its settings were taken already)."""
    if not runs:
        return {}
    rows = await conn.fetch(TAKE_SETTINGS, [job for job, _ in runs], [run for _, run in runs])
    return {
        (row["job_id"], row["run_id"]): (row["job_name"], Notifications.model_validate_json(row["settings"]))
        for row in rows
    }


async def enqueue(conn: Conn, notice: AnyNotice, owed: Sequence[tuple[Channel, tuple[str, ...]]]) -> None:
    """Queue one delivery per channel of `notice`'s run, each at most once, due at once."""
    stored = notice.model_dump_json()
    rows = [(uuid4(), notice.kind, notice.id, notice.run_id, channel, list(target), stored) for channel, target in owed]
    if rows:
        await conn.executemany(ENQUEUE, rows)


async def claim(conn: Conn, now: datetime, limit: int) -> list[Delivery]:
    """Up to `limit` deliveries due at `now`, earliest first, each counted as one more attempt and leased
    until `now + LEASE`; rows another instance is claiming are skipped."""
    rows = await conn.fetch(CLAIM, now, limit, now + LEASE)
    return [
        Delivery(
            delivery_id=r["delivery_id"],
            channel=r["channel"],
            target=tuple(r["target"]),
            notice=NOTICES.validate_json(r["notice"]),
            attempt=r["attempts"],
        )
        for r in rows
    ]


async def mark_delivered(conn: Conn, delivery: Delivery, now: datetime) -> None:
    """The delivery reached its receiver."""
    await conn.execute(DELIVERED, delivery.delivery_id, delivery.attempt, now)


async def retry_at(conn: Conn, delivery: Delivery, at: datetime, problem: str) -> None:
    """The attempt failed; the delivery is due again at `at`."""
    await conn.execute(RETRY, delivery.delivery_id, delivery.attempt, at, problem)


async def mark_failed(conn: Conn, delivery: Delivery, now: datetime, problem: str) -> None:
    """The delivery is given up, with the last attempt's problem."""
    await conn.execute(FAILED, delivery.delivery_id, delivery.attempt, now, problem)


async def next_due(conn: Conn) -> datetime | None:
    """When the earliest pending delivery is due (leased ones included)."""
    due: datetime | None = await conn.fetchval(NEXT_DUE)
    return due
