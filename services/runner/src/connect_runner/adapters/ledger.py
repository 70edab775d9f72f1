"""The run ledger: which runs ended (with their terminal event), attempt numbers and event versions.

The terminal event, its ledger row and the load itself commit in one transaction, and a request whose run
is already in the ledger is not executed again: together this is what makes a run's effect exactly-once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from connect_events import RUNS_TOPIC, RunEvent, RunFailed, RunStopped, RunSucceeded, decode, encode
from connect_runner.domain.events import RunOrigin, run_started
from connect_runtime import outbox
from connect_runtime.db import Conn

FIND_TERMINAL = "SELECT terminal_event FROM run_ledger WHERE job_id = $1 AND run_id = $2"
# Version 1 is the request; the first attempt's RunStarted is version 2.
BEGIN_ATTEMPT = """
INSERT INTO run_attempts AS a (job_id, run_id, attempt, next_seq) VALUES ($1, $2, 1, 3)
ON CONFLICT (job_id, run_id) DO UPDATE SET attempt = a.attempt + 1, next_seq = a.next_seq + 1
RETURNING attempt, next_seq - 1 AS version
"""
# A run that ends without any attempt (its request could not be read) numbers its events from 2 as well.
OPEN_VERSIONS = """
INSERT INTO run_attempts (job_id, run_id, attempt, next_seq) VALUES ($1, $2, 0, 2) ON CONFLICT DO NOTHING
"""
NEXT_VERSION = """
UPDATE run_attempts SET next_seq = next_seq + 1 WHERE job_id = $1 AND run_id = $2 RETURNING next_seq - 1
"""
# Serialises attempts of one run (a revoked runner may still be finishing while the new owner starts).
LOCK_RUN = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"
INSERT_LEDGER = """
INSERT INTO run_ledger (job_id, run_id, status, counts, finished_at, terminal_event)
VALUES ($1, $2, $3, $4::jsonb, $5, $6)
"""

Terminal = RunSucceeded | RunFailed | RunStopped


@dataclass(frozen=True)
class Attempt:
    """One execution of a run by one runner."""

    number: int
    started_at: datetime


def _decode(data: bytes) -> RunEvent:
    event = decode(RUNS_TOPIC, data)
    assert isinstance(event, RunEvent)
    return event


async def find_terminal(conn: Conn | asyncpg.Pool, job_id: int, run_id: int) -> RunEvent | None:
    """The run's terminal event when it already ended."""
    data = await conn.fetchval(FIND_TERMINAL, job_id, run_id)
    return None if data is None else _decode(bytes(data))


async def begin_attempt(pool: asyncpg.Pool, request: RunOrigin, runner: str, now: datetime) -> Attempt:
    """Number a new attempt and queue its RunStarted, in one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(BEGIN_ATTEMPT, request.payload.job_id, request.payload.run_id)
        assert row is not None
        event = run_started(request, row["version"], row["attempt"], runner, now)
        await outbox.append(conn, [event])
    return Attempt(number=row["attempt"], started_at=now)


async def open_versions(conn: Conn, request: RunOrigin) -> None:
    """Make sure the run's versions can be numbered although no attempt began (inside the caller's transaction)."""
    await conn.execute(OPEN_VERSIONS, request.payload.job_id, request.payload.run_id)


async def next_version(conn: Conn, request: RunOrigin) -> int:
    """Reserve the run's next event version (inside the caller's transaction)."""
    version: int | None = await conn.fetchval(NEXT_VERSION, request.payload.job_id, request.payload.run_id)
    assert version is not None, "begin_attempt or open_versions creates the row first"
    return version


async def append_event(pool: asyncpg.Pool, request: RunOrigin, build: Callable[[int], RunEvent]) -> None:
    """Queue a non-terminal event (progress) with the next version."""
    async with pool.acquire() as conn, conn.transaction():
        await outbox.append(conn, [build(await next_version(conn, request))])


async def lock_run(conn: Conn, request: RunOrigin) -> RunEvent | None:
    """Inside the terminal transaction: wait for other attempts, then return the terminal event if one won."""
    await conn.execute(LOCK_RUN, request.aggregate_id)
    return await find_terminal(conn, request.payload.job_id, request.payload.run_id)


async def record_terminal(conn: Conn, request: RunOrigin, build: Callable[[int], Terminal]) -> Terminal:
    """Queue the terminal event and write its ledger row (inside the caller's transaction, after `lock_run`)."""
    event = build(await next_version(conn, request))
    status = "failed" if isinstance(event, RunFailed) else "stopped" if isinstance(event, RunStopped) else "succeeded"
    await conn.execute(
        INSERT_LEDGER,
        request.payload.job_id,
        request.payload.run_id,
        status,
        event.payload.counts.model_dump_json(),
        event.payload.finished_at,
        encode(event),
    )
    await outbox.append(conn, [event])
    return event
