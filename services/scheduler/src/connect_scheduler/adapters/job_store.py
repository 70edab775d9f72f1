"""A job's state at a cost that does not grow with its run history.

A job stream also holds every run event the scheduler emitted for the job (`RunRequested`, `RunSkipped`,
`RunStopRequested`). Rather than decode and fold them all on each command and fire, `append_job` records what
decisions need of them in the transaction of the append: the job's last run ids (`job_runs`), its idempotency
keys (`job_idempotency_keys`) and the runs asked to stop (`job_run_stops`). `load_job` folds the job's own
events and reads these rows, looking keys and stops up one by one. A job stored before these tables existed
has no `job_runs` row: its whole stream is folded once and its rows written (`backfill` at start; `load_job`
for any it meets).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from types import MappingProxyType

from connect_events import Event, JobCreated, RunRequested, RunSkipped, RunStopRequested
from connect_events.values import storable_problem
from connect_runtime.db import Conn
from connect_scheduler.adapters import event_store
from connect_scheduler.adapters.event_store import job_stream
from connect_scheduler.domain.jobs import JobState, fold

log = logging.getLogger(__name__)

JOB_RUNS_DDL = """
CREATE TABLE IF NOT EXISTS job_runs (
    job_id                bigint PRIMARY KEY,
    last_run_id           bigint NOT NULL,
    last_requested_run_id bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS job_idempotency_keys (
    job_id bigint NOT NULL,
    key    text   NOT NULL,
    run_id bigint NOT NULL,
    PRIMARY KEY (job_id, key)
);

CREATE TABLE IF NOT EXISTS job_run_stops (
    job_id bigint NOT NULL,
    run_id bigint NOT NULL,
    PRIMARY KEY (job_id, run_id)
);
"""
RUNS_OF = "SELECT last_run_id, last_requested_run_id FROM job_runs WHERE job_id = $1"
RUN_OF_KEY = "SELECT run_id FROM job_idempotency_keys WHERE job_id = $1 AND key = $2"
STOPS_AMONG = "SELECT run_id FROM job_run_stops WHERE job_id = $1 AND run_id = ANY($2::bigint[])"
# Run ids only grow: the greater of two writes wins, so a rebuild and an append may meet in any order.
SET_RUNS = """
INSERT INTO job_runs (job_id, last_run_id, last_requested_run_id) VALUES ($1, $2, $3)
ON CONFLICT (job_id) DO UPDATE SET
    last_run_id = GREATEST(job_runs.last_run_id, EXCLUDED.last_run_id),
    last_requested_run_id = GREATEST(job_runs.last_requested_run_id, EXCLUDED.last_requested_run_id)
"""
ADD_KEY = "INSERT INTO job_idempotency_keys (job_id, key, run_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
ADD_STOP = "INSERT INTO job_run_stops (job_id, run_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
# Job ids are handed out by a transactional counter, so every job's id is at most its value.
WITHOUT_RUNS_ROW = """
SELECT id FROM generate_series(1, (SELECT value FROM counters WHERE name = 'job_id')) AS id
WHERE NOT EXISTS (SELECT 1 FROM job_runs WHERE job_id = id)
ORDER BY id
"""


async def load_job(
    conn: Conn, job_id: int, *, idempotency_key: str | None = None, run_id: int | None = None
) -> tuple[JobState | None, int]:
    """The job's state and its stream version.

    Of the job's idempotency keys the state holds only `idempotency_key` (if it was used); of its stops only
    those of `run_id` and of its last requested run, the one that can be in progress.
    """
    events, version = await event_store.load_without_runs(conn, job_stream(job_id))
    state = fold(events)
    if state is None:
        return None, version
    runs = await conn.fetchrow(RUNS_OF, job_id)
    if runs is None:
        return await _rebuild(conn, job_id)
    last_requested: int = runs["last_requested_run_id"]
    asked = [r for r in (last_requested, run_id) if r]
    stops = frozenset(row["run_id"] for row in await conn.fetch(STOPS_AMONG, job_id, asked)) if asked else frozenset()
    state = replace(
        state,
        last_run_id=runs["last_run_id"],
        last_requested_run_id=last_requested,
        idempotency_keys=MappingProxyType(await _key_run(conn, job_id, idempotency_key)),
        stops_requested=stops,
    )
    return state, version


async def append_job(conn: Conn, job_id: int, expected_stream_version: int, events: Sequence[Event]) -> int:
    """Append `events` to the job's stream and record what they say about its runs; returns the new version."""
    version = await event_store.append(conn, job_stream(job_id), expected_stream_version, events)
    for event in events:
        match event:
            case JobCreated():
                await conn.execute(SET_RUNS, job_id, 0, 0)
            case RunRequested():
                p = event.payload
                await conn.execute(SET_RUNS, job_id, p.run_id, p.run_id)
                if p.idempotency_key is not None:
                    await conn.execute(ADD_KEY, job_id, p.idempotency_key, p.run_id)
            case RunSkipped():
                await conn.execute(SET_RUNS, job_id, event.payload.run_id, 0)
            case RunStopRequested():
                await conn.execute(ADD_STOP, job_id, event.payload.run_id)
    return version


async def backfill(conn: Conn) -> int:
    """Write the run rows of every job stored before they were kept; returns how many jobs got them.

    Each job in a transaction of its own; a job whose stream cannot be folded is logged and left for its next
    command to refuse, as any command on it would be.
    """
    rebuilt = 0
    for row in await conn.fetch(WITHOUT_RUNS_ROW):
        try:
            async with conn.transaction():
                state, _ = await _rebuild(conn, row["id"])
        except (TypeError, ValueError):  # an undecodable event, or one that cannot follow (UnexpectedEventError)
            log.exception("could not rebuild a job's run rows from its stream", extra={"job_id": row["id"]})
            continue
        rebuilt += state is not None
    if rebuilt:
        log.info("rebuilt the run rows of jobs stored before they were kept", extra={"jobs": rebuilt})
    return rebuilt


async def _key_run(conn: Conn, job_id: int, key: str | None) -> dict[str, int]:
    """`key` and the run it started, if it did."""
    # A key PostgreSQL cannot hold was never stored (the decision refuses it): asking would fail.
    if key is None or storable_problem(key):
        return {}
    run_id: int | None = await conn.fetchval(RUN_OF_KEY, job_id, key)
    return {} if run_id is None else {key: run_id}


async def _rebuild(conn: Conn, job_id: int) -> tuple[JobState | None, int]:
    """Fold the job's whole stream and write its run rows; returns the complete state and the stream version."""
    history, version = await event_store.load(conn, job_stream(job_id))
    state = fold(history)
    if state is None:
        return None, version
    await conn.execute(SET_RUNS, job_id, state.last_run_id, state.last_requested_run_id)
    await conn.executemany(ADD_KEY, [(job_id, key, run) for key, run in state.idempotency_keys.items()])
    await conn.executemany(ADD_STOP, [(job_id, run) for run in state.stops_requested])
    return state, version
