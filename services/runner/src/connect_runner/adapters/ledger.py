"""The run ledger in the audience database: `RunLedger[Conn]` on `run_attempts`, `run_ledger`, `run_stops` and
`run_archives`.

The run's lock is a transaction-level advisory lock on its `JobID.RunID`. The terminal event, its ledger row and
the load itself commit in one transaction under it, and a run that is in the ledger is not executed again:
together this is what makes a run's effect exactly-once. The retry poller claims a run's `run_attempts` row
(`FOR UPDATE SKIP LOCKED`) and its lock (tried, never waited for) before it begins the run's next attempt.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

import asyncpg

from connect_events import (
    EVENT_STATUS,
    RUNS_TOPIC,
    RunRequested,
    RunStatus,
    RunStopRequested,
    decode,
    encode,
    run_key,
)
from connect_runner.domain.events import Origin, RunNumbers, RunOrigin
from connect_runner.domain.run import (
    FIRST_VERSION,
    TERMINAL_EVENTS,
    Attempt,
    Decision,
    RunState,
    StopRequest,
    Terminal,
    apply,
)
from connect_runner.domain.source_files import PendingArchive
from connect_runner.domain.unreadable import FALLBACK_NAMESPACE
from connect_runner.ports import LedgerConflictError
from connect_runtime import outbox
from connect_runtime.db import Conn

log = logging.getLogger(__name__)

LOCK_RUN = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"
TRY_LOCK_RUN = "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))"
# Attempts recorded by older runners kept no start time: their heartbeat (or the end) stands in for it.
LOAD_RUN = """
SELECT a.attempt, a.next_seq, a.runner, coalesce(a.started_at, a.heartbeat_at, l.finished_at) AS started_at,
       a.heartbeat_at, a.failed_attempts, a.retry_at, l.terminal_event, s.requested_at, s.actor
FROM (VALUES ($1::bigint, $2::bigint)) AS r (job_id, run_id)
LEFT JOIN run_attempts a ON a.job_id = r.job_id AND a.run_id = r.run_id
LEFT JOIN run_ledger l ON l.job_id = r.job_id AND l.run_id = r.run_id
LEFT JOIN run_stops s ON s.job_id = r.job_id AND s.run_id = r.run_id
"""
# The guard on `next_seq` refuses a state that is not the run's any more (it was not loaded under the lock).
# The kept request goes once the run ended ($13).
SAVE_RUN = """
INSERT INTO run_attempts AS a
    (job_id, run_id, attempt, next_seq, runner, started_at, heartbeat_at, request_id, correlation_id,
     failed_attempts, retry_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $11, $12)
ON CONFLICT (job_id, run_id) DO UPDATE SET
    attempt = EXCLUDED.attempt, next_seq = EXCLUDED.next_seq, runner = EXCLUDED.runner,
    started_at = EXCLUDED.started_at, heartbeat_at = EXCLUDED.heartbeat_at,
    request_id = EXCLUDED.request_id, correlation_id = EXCLUDED.correlation_id,
    failed_attempts = EXCLUDED.failed_attempts, retry_at = EXCLUDED.retry_at,
    request = CASE WHEN $13 THEN NULL ELSE a.request END
WHERE a.next_seq = $10
RETURNING 1
"""
INSERT_LEDGER = """
INSERT INTO run_ledger (job_id, run_id, status, counts, finished_at, terminal_event)
VALUES ($1, $2, $3, $4::jsonb, $5, $6)
"""
# Without the run's lock (a run in its final commit holds it for minutes): `_commit` reads the stop again under
# the lock, so a stop stored before that read wins and one stored after it (or after the end) changes nothing.
# The terminal event read here only says which of the two the log line tells.
RECORD_STOP = """
WITH ended AS (SELECT terminal_event FROM run_ledger WHERE job_id = $1 AND run_id = $2),
kept AS (
    INSERT INTO run_stops (job_id, run_id, requested_at, actor)
    SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM ended)
    ON CONFLICT DO NOTHING
)
SELECT terminal_event FROM ended
"""
# A waiting run is never silent (runs that began waiting under an older runner still have a heartbeat).
FIND_SILENT = """
SELECT a.job_id, a.run_id, a.request_id, a.correlation_id
FROM run_attempts a
WHERE a.heartbeat_at < $1 AND a.attempt > 0 AND a.retry_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM run_ledger l WHERE l.job_id = a.job_id AND l.run_id = a.run_id)
ORDER BY a.heartbeat_at
LIMIT $2
"""

KEEP_REQUEST = "UPDATE run_attempts SET request = $3 WHERE job_id = $1 AND run_id = $2"
# `domain.run.next_attempt_at` in SQL: a kept request means the poller owns the run and it has not ended.
CLAIM_RETRIES = """
SELECT a.job_id, a.run_id, a.request
FROM run_attempts a
WHERE a.request IS NOT NULL AND a.failed_attempts > 0
  AND coalesce(a.retry_at, a.heartbeat_at + $2::interval) <= $1
ORDER BY coalesce(a.retry_at, a.heartbeat_at + $2::interval)
LIMIT $3
FOR UPDATE OF a SKIP LOCKED
"""
STOPPED_WAITS = """
SELECT a.job_id, a.run_id, a.request
FROM run_stops s
JOIN run_attempts a USING (job_id, run_id)
WHERE a.retry_at IS NOT NULL AND a.request IS NOT NULL
ORDER BY s.requested_at
LIMIT $1
"""

KEEP_ARCHIVE = """
INSERT INTO run_archives (job_id, run_id, remote_path, companions, stamp, folder, prefix, move, request, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (job_id, run_id) DO NOTHING
"""
PENDING_ARCHIVE = """
SELECT remote_path, companions, stamp, folder, prefix, move FROM run_archives WHERE job_id = $1 AND run_id = $2
"""
# Steps of rows kept by an older runner carry no request: a redelivered request finishes those.
LEFT_ARCHIVES = """
SELECT job_id, run_id, request FROM run_archives
WHERE created_at < $1 AND request IS NOT NULL
ORDER BY created_at
LIMIT $2
"""
DROP_ARCHIVE = "DELETE FROM run_archives WHERE job_id = $1 AND run_id = $2"


class PgRunLedger:
    """`RunLedger` on the audience database; a transaction is a pooled connection inside `BEGIN … COMMIT`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        """A pooled connection in a transaction: committed when the block ends, rolled back if it raises."""
        async with self._pool.acquire() as conn, conn.transaction():
            yield conn

    async def load(self, tx: Conn, origin: RunOrigin) -> RunState:
        """Wait for the run's lock, then read it."""
        await tx.execute(LOCK_RUN, origin.aggregate_id)
        return await self._read(tx, Origin.of(origin))

    async def try_load(self, tx: Conn, origin: RunOrigin) -> RunState | None:
        """Read the run if its lock is free now."""
        if not await tx.fetchval(TRY_LOCK_RUN, origin.aggregate_id):
            return None
        return await self._read(tx, Origin.of(origin))

    async def record(self, tx: Conn, state: RunState, decision: Decision) -> RunState:
        """Save the state after `decision`, its ledger row if it ended the run, and queue its events."""
        after = apply(state, decision)
        if after == state:
            return state
        numbers, attempt = state.origin.payload, after.attempt
        saved = await tx.fetchval(
            SAVE_RUN,
            numbers.job_id,
            numbers.run_id,
            attempt.number if attempt else 0,
            after.next_version,
            attempt.runner if attempt else None,
            attempt.started_at if attempt else None,
            after.heartbeat_at,
            state.origin.event_id,
            state.origin.correlation_id,
            state.next_version,
            after.failed_attempts,
            after.retry_at,
            after.terminal is not None,
        )
        if saved is None:
            raise LedgerConflictError(f"run {state.origin.aggregate_id} changed since it was loaded")
        if after.terminal is not None and state.terminal is None:
            await _insert_ledger(tx, after.terminal, after.status)
        await outbox.append(tx, decision.events)
        return after

    async def record_stop(self, tx: Conn, request: RunStopRequested) -> Terminal | None:
        """Keep the first stop request of a run that has not ended, without waiting for the run's lock."""
        numbers = request.payload
        data = await tx.fetchval(RECORD_STOP, numbers.job_id, numbers.run_id, request.occurred_at, request.actor)
        return None if data is None else _terminal(data)

    async def silent(self, since: datetime, limit: int) -> list[Origin]:
        """Runs whose latest heartbeat is older than `since`, from the request ids kept with the attempt."""
        rows = await self._pool.fetch(FIND_SILENT, since, limit)
        return [_stored_origin(r["job_id"], r["run_id"], r["request_id"], r["correlation_id"]) for r in rows]

    async def keep_request(self, tx: Conn, request: RunRequested) -> None:
        """Store the encoded request on the run's attempts row (there is one once an attempt began)."""
        await tx.execute(KEEP_REQUEST, request.payload.job_id, request.payload.run_id, encode(request))

    async def claim_retries(self, tx: Conn, now: datetime, resume_after: timedelta, limit: int) -> list[RunRequested]:
        """Lock the due rows no other transaction holds, then take the lock of each run whose lock is free."""
        claimed: list[RunRequested] = []
        for row in await tx.fetch(CLAIM_RETRIES, now, resume_after, limit):
            request = _kept_request(row)
            if request is not None and await tx.fetchval(TRY_LOCK_RUN, request.aggregate_id):
                claimed.append(request)
        return claimed

    async def stopped_waits(self, limit: int) -> list[RunRequested]:
        """Waiting runs with a stop request, by the stop's time."""
        rows = await self._pool.fetch(STOPPED_WAITS, limit)
        return [request for request in map(_kept_request, rows) if request is not None]

    async def keep_archive(self, tx: Conn, request: RunRequested, pending: PendingArchive, kept_at: datetime) -> None:
        """Store the archive step with the run's end (a run ends once: one row at most)."""
        numbers = request.payload
        await tx.execute(
            KEEP_ARCHIVE,
            numbers.job_id,
            numbers.run_id,
            pending.remote_path,
            list(pending.companions),
            list(pending.stamp),
            pending.folder,
            pending.prefix,
            pending.move,
            encode(request),
            kept_at,
        )

    async def pending_archive(self, tx: Conn, origin: RunOrigin) -> PendingArchive | None:
        """The run's archive step still to do."""
        numbers = Origin.of(origin).payload
        row = await tx.fetchrow(PENDING_ARCHIVE, numbers.job_id, numbers.run_id)
        if row is None:
            return None
        return PendingArchive(
            row["remote_path"],
            tuple(row["companions"]),
            tuple(row["stamp"]),
            row["folder"],
            row["prefix"],
            row["move"],
        )

    async def drop_archive(self, tx: Conn, origin: RunOrigin) -> None:
        """Forget the run's archive step."""
        numbers = Origin.of(origin).payload
        await tx.execute(DROP_ARCHIVE, numbers.job_id, numbers.run_id)

    async def left_archives(self, before: datetime, limit: int) -> list[RunRequested]:
        """Steps kept before `before`, by age, with the requests kept beside them."""
        rows = await self._pool.fetch(LEFT_ARCHIVES, before, limit)
        return [request for request in map(_kept_request, rows) if request is not None]

    async def _read(self, tx: Conn, origin: Origin) -> RunState:
        row = await tx.fetchrow(LOAD_RUN, origin.payload.job_id, origin.payload.run_id)
        assert row is not None, "the query always returns its one row"
        terminal = None if row["terminal_event"] is None else _terminal(row["terminal_event"])
        return RunState(
            origin=origin,
            status=_status(row, terminal),
            next_version=row["next_seq"] or FIRST_VERSION,
            attempt=_attempt(row),
            heartbeat_at=row["heartbeat_at"],
            stop=None if row["requested_at"] is None else StopRequest(row["requested_at"], row["actor"]),
            terminal=terminal,
            failed_attempts=row["failed_attempts"] or 0,
            retry_at=row["retry_at"],
        )


def _status(row: Any, terminal: Terminal | None) -> RunStatus:
    if terminal is not None:
        return EVENT_STATUS[terminal.type]
    return RunStatus.RUNNING if (row["attempt"] or 0) > 0 else RunStatus.QUEUED


def _attempt(row: Any) -> Attempt | None:
    if not row["attempt"]:
        return None  # no row yet, or a run that ended without an attempt (its request was unreadable)
    return Attempt(number=row["attempt"], runner=row["runner"], started_at=row["started_at"])


def _kept_request(row: Any) -> RunRequested | None:
    """The kept request; None (logged) when it cannot be read: a newer runner kept it during a rolling upgrade,
    and a runner that can read it takes the run up."""
    try:
        request = decode(RUNS_TOPIC, bytes(row["request"]))
    except Exception as exc:  # never the run's end: another runner can read it
        run = run_key(row["job_id"], row["run_id"])
        log.warning("kept run request unreadable", extra={"run": run, "error": str(exc)})
        return None
    assert isinstance(request, RunRequested), "only run requests are kept"
    return request


def _terminal(data: bytes) -> Terminal:
    event = decode(RUNS_TOPIC, bytes(data))
    assert isinstance(event, TERMINAL_EVENTS), "the ledger holds terminal events only"
    return event


async def _insert_ledger(tx: Conn, terminal: Terminal, status: RunStatus) -> None:
    await tx.execute(
        INSERT_LEDGER,
        terminal.payload.job_id,
        terminal.payload.run_id,
        str(status),
        terminal.payload.counts.model_dump_json(),
        terminal.payload.finished_at,
        encode(terminal),
    )


def _stored_origin(job_id: int, run_id: int, request_id: UUID | None, correlation_id: UUID | None) -> Origin:
    """The origin kept with the attempt; attempts of older runners kept none, so stand-in ids are derived
    (fixed per run, so every reaper derives the same event ids)."""
    aggregate_id = run_key(job_id, run_id)
    event_id = request_id or uuid5(FALLBACK_NAMESPACE, aggregate_id)
    return Origin(event_id, aggregate_id, correlation_id or event_id, RunNumbers(job_id=job_id, run_id=run_id))
