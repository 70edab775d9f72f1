"""The scheduler's clock: every instance runs a ticker that records the fires and expirations that came due, of
jobs and of groups.

A tick takes each kind of due row in turn (`DueKind`: jobs, then groups), in a transaction per kind: it claims
up to a batch of due rows (rows another instance holds are skipped), records what each leads to
(`domain/fires.py`, `domain/group_fires.py`) in the streams and the outbox, and moves each row on. The batch
is first recorded in one savepoint; if any row spoils it, each row is recorded again in a savepoint of its own,
so one bad job or group never holds up the rest. A row that met a concurrent change (an edit, a member run's
end, another instance) is looked at again on the next tick; one whose fire fails on its own `RETRY_AFTER_S`
later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import asyncpg

from connect_runtime import outbox
from connect_runtime.db import Conn
from connect_runtime.retry import INFRASTRUCTURE_ERRORS, RETRY, TRANSIENT_ERRORS, Retries, RetryPolicy
from connect_scheduler.adapters import due, job_names
from connect_scheduler.adapters.due import DueTable
from connect_scheduler.adapters.event_store import ConcurrencyError
from connect_scheduler.adapters.job_store import StateCache, append_jobs, load_jobs, prepare
from connect_scheduler.adapters.run_view import runs_in_progress
from connect_scheduler.adapters.targets import Targets
from connect_scheduler.domain.fires import decide_due, fire_is_due
from connect_scheduler.domain.slots import Decision, Due, Kind
from connect_scheduler.group_handlers import record_group_due
from connect_scheduler.metrics import DUE_BACKLOG, observe_fires

log = logging.getLogger(__name__)

TICK_INTERVAL_S = 1.0  # the pause after a tick that found less than a full batch
BATCH_SIZE = 500  # due rows claimed per tick and kind (one transaction)
RETRY_AFTER_S = 60.0  # a row whose fire failed on its own is looked at again this much later, not every tick
# Between fires the ticker folds the jobs waking within LOOKAHEAD_S into its state cache (of STATE_CACHE_SIZE
# jobs, some 7 KB each), a batch at a time while the next row wakes more than PREPARE_MARGIN_S ahead.
LOOKAHEAD_S = 60.0
PREPARE_MARGIN_S = 0.5
STATE_CACHE_SIZE = 10_000
# Another writer holds the job or group (or a group's member): the row stays due and the next tick tries again.
CONTENTION: tuple[type[Exception], ...] = (
    ConcurrencyError,
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.LockNotAvailableError,
)

Clock = Callable[[], datetime]
Recorded = list[tuple[Due, Decision]]


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class DueKind:
    """One kind of due row: what its rows belong to, their table, and how claimed rows are recorded (their
    events appended to their streams; the tick queues the events and stores the rows)."""

    name: Kind
    table: DueTable
    record: Callable[[Conn, Sequence[Due], datetime], Awaitable[Recorded]]


async def _record_jobs(conn: Conn, claimed: Sequence[Due], now: datetime, cache: StateCache | None = None) -> Recorded:
    """Decide each row against its job and append the events to the jobs' streams, in a few statements for the
    whole batch: the run view is asked only for fires that are due, and each table, list or PET read once."""
    jobs = await load_jobs(conn, [row.id for row in claimed], cache)
    firing = [job for row in claimed if (job := jobs[row.id][0]) is not None and fire_is_due(job, row, now)]
    running = await runs_in_progress(conn, firing)
    targets = Targets(conn)
    recorded: Recorded = []
    for row in claimed:
        job, _ = jobs[row.id]
        if job is not None and job.job_id in running:
            running_run_id = running[job.job_id]
            target = None if running_run_id is not None else await targets.of(job.definition.settings)
            decision = decide_due(job, row, target, running_run_id, now)
        else:
            decision = decide_due(job, row, None, None, now)
        recorded.append((row, decision))
    await append_jobs(conn, [(row.id, jobs[row.id][1], decision.events) for row, decision in recorded])
    for row, decision in recorded:
        if decision.outcome == "expired":
            await job_names.release_name(conn, row.id)
    return recorded


async def _record_groups(conn: Conn, claimed: Sequence[Due], now: datetime) -> Recorded:
    """Record each row in its group's stream and, for a member started, its job's (`group_handlers`)."""
    return [(row, await record_group_due(conn, row, now)) for row in claimed]


JOBS = DueKind("job", due.JOBS, _record_jobs)
GROUPS = DueKind("group", due.GROUPS, _record_groups)
KINDS = (JOBS, GROUPS)


class Ticker:
    """Ticks until `stop()`: at once again after a full batch, else when the next row wakes, at most `interval_s`
    later (the interval also catches rows another instance set back or let go)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        interval_s: float = TICK_INTERVAL_S,
        batch_size: int = BATCH_SIZE,
        clock: Clock = utc_now,
        retry: RetryPolicy = RETRY,
        cache_size: int = STATE_CACHE_SIZE,
    ) -> None:
        self._pool = pool
        self._interval_s = interval_s
        self._batch_size = batch_size
        self._clock = clock
        self._cache = StateCache(cache_size)
        self._cache_size = cache_size
        self._unprepared: set[int] = set()  # jobs whose streams could not be folded ahead: their fires will say why
        self._kinds = (DueKind("job", due.JOBS, partial(_record_jobs, cache=self._cache)), GROUPS)
        self._stopping = asyncio.Event()
        self._retries = Retries(self._stopping, retry)

    def stop(self) -> None:
        """Finish the current tick and return."""
        self._stopping.set()

    async def run(self) -> None:
        """Tick until stopped; a lost database connection is retried, never fatal."""
        while not self._stopping.is_set():
            await self._retries.transient(
                self._step, "scheduler ticker interrupted; trying again", errors=INFRASTRUCTURE_ERRORS
            )

    async def _step(self) -> None:
        async with self._pool.acquire() as conn:
            claimed = [await tick(conn, kind, self._clock(), self._batch_size) for kind in self._kinds]
            for kind in self._kinds:
                DUE_BACKLOG.labels(kind.name).set(await due.backlog(conn, kind.table, self._clock()))
            if self._batch_size in claimed:
                return
            wakes = [wake for kind in self._kinds if (wake := await due.next_wake(conn, kind.table))]
            pause_s = self._pause_s(min(wakes, default=None))
            if pause_s > PREPARE_MARGIN_S and await self._prepare(conn):
                return  # the clock moved on meanwhile: look again before pausing
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=pause_s)

    async def _prepare(self, conn: Conn) -> bool:
        """Fold a batch of the jobs waking in the next `LOOKAHEAD_S` into the state cache, so their fires decode
        nothing; False when every one of them is in it already.

        A job whose stream cannot be folded (an event this version cannot read, say) is left out: its fire sets
        it aside with its error, as without the cache.
        """
        until = self._clock() + timedelta(seconds=LOOKAHEAD_S)
        waking = await due.upcoming(conn, due.JOBS, until, self._cache_size)
        missing = [job_id for job_id in self._cache.missing(waking) if job_id not in self._unprepared]
        missing = missing[: self._batch_size]
        try:
            await prepare(conn, missing, self._cache)
        except Exception as exc:
            _raise_if_connection_lost(conn, exc)
            for job_id in missing:
                await self._prepare_alone(conn, job_id)
        return bool(missing)

    async def _prepare_alone(self, conn: Conn, job_id: int) -> None:
        try:
            await prepare(conn, [job_id], self._cache)
        except Exception as exc:
            _raise_if_connection_lost(conn, exc)
            if len(self._unprepared) >= self._cache_size:
                self._unprepared.clear()  # bounded; those still unreadable are found again
            self._unprepared.add(job_id)
            log.warning("could not fold a job ahead of its fire", exc_info=exc, extra={"job_id": job_id})

    def _pause_s(self, next_wake: datetime | None) -> float:
        """Until the next row wakes, so fires start on time, but at most `interval_s`.

        A row that woke already is one another instance holds, or one left for the next tick after
        contention: the interval is soon enough for either.
        """
        if next_wake is None:
            return self._interval_s
        ahead_s = (next_wake - self._clock()).total_seconds()
        return min(ahead_s, self._interval_s) if ahead_s > 0 else self._interval_s


async def tick(conn: Conn, kind: DueKind, now: datetime, batch_size: int) -> int:
    """Record what the due rows of `kind` lead to at `now`, in one transaction; returns how many were claimed."""
    began = time.monotonic()
    async with conn.transaction():
        claimed = await due.claim(conn, kind.table, now, batch_size)
        if not claimed:
            return 0
        recorded = await _record_batch(conn, kind, claimed, now)
        events = [event for _, decision in recorded for event in decision.events]
        await outbox.append(conn, events)
        await due.store(conn, kind.table, [(row.id, decision.slot) for row, decision in recorded])
    _log(kind, recorded, len(claimed), time.monotonic() - began)
    observe_fires(kind.name, recorded, now)
    return len(claimed)


async def _record_batch(conn: Conn, kind: DueKind, claimed: Sequence[Due], now: datetime) -> Recorded:
    """All of `claimed` in one savepoint; if that fails, each row in a savepoint of its own."""
    try:
        async with conn.transaction():
            return await kind.record(conn, claimed, now)
    except Exception as exc:
        _raise_if_connection_lost(conn, exc)
        if len(claimed) == 1:
            await _set_aside(conn, kind, claimed[0], now, exc)
            return []
    recorded: Recorded = []
    for row in claimed:
        try:
            async with conn.transaction():
                recorded += await kind.record(conn, [row], now)
        except Exception as exc:
            _raise_if_connection_lost(conn, exc)
            await _set_aside(conn, kind, row, now, exc)
    return recorded


def _raise_if_connection_lost(conn: Conn, exc: Exception) -> None:
    """A lost connection fails the tick (its transaction is gone); contention and bugs stay with their row."""
    if not isinstance(exc, CONTENTION) and (isinstance(exc, TRANSIENT_ERRORS) or conn.is_closed()):
        raise exc


async def _set_aside(conn: Conn, kind: DueKind, row: Due, now: datetime, exc: Exception) -> None:
    """Leave the row due for the next tick after contention; push it back `RETRY_AFTER_S` after a failure."""
    fields = _fields(kind, row)
    if isinstance(exc, CONTENTION):
        log.info(f"{kind.name} changed concurrently; its due work waits for the next tick", extra=fields)
        return
    log.error(f"could not record the {kind.name}'s due work; trying again later", exc_info=exc, extra=fields)
    await due.postpone(conn, kind.table, row.id, now + timedelta(seconds=RETRY_AFTER_S))


def _log(kind: DueKind, recorded: Recorded, claimed: int, took_s: float) -> None:
    for row, decision in recorded:
        _log_decision(kind, row, decision)
    outcomes: Counter[str] = Counter(decision.outcome for _, decision in recorded)
    log.info("tick", extra={"kind": kind.name, "claimed": claimed, "took_ms": round(took_s * 1000), **outcomes})


def _log_decision(kind: DueKind, row: Due, decision: Decision) -> None:
    fields = _fields(kind, row)
    if decision.events:
        fields["event_aggregate"] = decision.events[0].aggregate_id
    if decision.outcome == "table_missing":
        log.warning("scheduled fire not run: the job's table, list or a PET does not exist", extra=fields)
    elif decision.missed_fires:
        fields["missed_fires"] = decision.missed_fires
        log.warning("scheduled fires were missed while the scheduler was down; one run stands for them", extra=fields)
    elif decision.outcome == "skipped":
        log.info(f"scheduled fire skipped: the {kind.name}'s previous run is still in progress", extra=fields)
    elif decision.outcome == "expired":
        log.info(f"{kind.name} expired and deleted", extra=fields)


def _fields(kind: DueKind, row: Due) -> dict[str, object]:
    """Log fields of a row: `job_id` or `group_id`, and its fire."""
    return {f"{kind.name}_id": row.id, "fire_at": row.slot.fire_at.isoformat() if row.slot.fire_at else None}
