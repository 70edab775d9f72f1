"""A job's state at a cost that does not grow with its run history.

A job stream also holds every run event the scheduler emitted for the job (`RunRequested`, `RunSkipped`,
`RunStopRequested`). Rather than decode and fold them all on each command and fire, `append_job` records what
decisions need of them in the transaction of the append: the job's last run ids (`job_runs`), its idempotency
keys (`job_idempotency_keys`) and the runs asked to stop (`job_run_stops`). Loading folds the jobs' own
events and reads these rows, looking up only the keys and stops a decision needs. The ticker loads and appends a
batch of jobs in a few statements (`load_jobs`, `append_jobs`), a command one job (`load_job`, `append_job`). A
job stored before these tables existed has no `job_runs` row: its whole stream is folded once and its rows
written (`backfill` at start; loading, for any it meets).

The ticker also keeps the states folded from jobs' own events in a `StateCache`, by the version of the last own
event: events are never changed, so a state whose job has no newer own event is still right, and a fire asks
the database only for versions and the run rows. The ticker fills the cache ahead of the fires coming due.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
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
RUNS_OF = "SELECT job_id, last_run_id, last_requested_run_id FROM job_runs WHERE job_id = ANY($1::bigint[])"
RUN_OF_KEY = "SELECT run_id FROM job_idempotency_keys WHERE job_id = $1 AND key = $2"
STOPS_AMONG = """
SELECT job_id, run_id FROM job_run_stops JOIN unnest($1::bigint[], $2::bigint[]) AS asked(job_id, run_id)
USING (job_id, run_id)
"""
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
    state, version = (await _load(conn, {job_id: run_id}))[job_id]
    if state is None:
        return None, version
    keys = await _key_run(conn, job_id, idempotency_key)
    return replace(state, idempotency_keys=MappingProxyType(keys)), version


class StateCache:
    """Up to `size` jobs' states as folded from their own events, each with the version of its last own event;
    the least recently used go first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._states: OrderedDict[int, tuple[int, JobState | None]] = OrderedDict()

    def get(self, job_id: int, own_version: int) -> tuple[bool, JobState | None]:
        """(True, state) when the job's state at `own_version` is kept, else (False, None)."""
        kept = self._states.get(job_id)
        if kept is None or kept[0] != own_version:
            return False, None
        self._states.move_to_end(job_id)
        return True, kept[1]

    def put(self, job_id: int, own_version: int, state: JobState | None) -> None:
        """Keep the job's state at `own_version` (a size of 0 keeps nothing)."""
        if self._size <= 0:
            return
        self._states[job_id] = (own_version, state)
        self._states.move_to_end(job_id)
        while len(self._states) > self._size:
            self._states.popitem(last=False)

    def missing(self, job_ids: Sequence[int]) -> list[int]:
        """Those of `job_ids` with no state kept."""
        return [job_id for job_id in job_ids if job_id not in self._states]


async def load_jobs(
    conn: Conn, job_ids: Sequence[int], cache: StateCache | None = None
) -> dict[int, tuple[JobState | None, int]]:
    """Each of the (distinct) jobs' state (without idempotency keys; of its stops those of its last requested
    run) and its stream version, in a few statements whatever their number; states kept in `cache` at their
    job's last own event are not decoded again."""
    return await _load(conn, dict.fromkeys(job_ids), cache)


async def append_job(conn: Conn, job_id: int, expected_stream_version: int, events: Sequence[Event]) -> int:
    """Append `events` to the job's stream and record what they say about its runs; returns the new version."""
    return (await append_jobs(conn, [(job_id, expected_stream_version, events)]))[0]


async def append_jobs(conn: Conn, appends: Sequence[tuple[int, int, Sequence[Event]]]) -> list[int]:
    """Append to each job's stream its events after its expected version and record what they say about its
    runs, in a few statements; returns the new versions (nothing is appended if any job changed meanwhile)."""
    streams = [(job_stream(job_id), expected, events) for job_id, expected, events in appends]
    versions = await event_store.append_many(conn, streams)
    runs: list[tuple[int, int, int]] = []
    keys: list[tuple[int, str, int]] = []
    stops: list[tuple[int, int]] = []
    for job_id, _, events in appends:
        for event in events:
            match event:
                case JobCreated():
                    runs.append((job_id, 0, 0))
                case RunRequested():
                    p = event.payload
                    runs.append((job_id, p.run_id, p.run_id))
                    if p.idempotency_key is not None:
                        keys.append((job_id, p.idempotency_key, p.run_id))
                case RunSkipped():
                    runs.append((job_id, event.payload.run_id, 0))
                case RunStopRequested():
                    stops.append((job_id, event.payload.run_id))
    for statement, rows in ((SET_RUNS, runs), (ADD_KEY, keys), (ADD_STOP, stops)):
        if rows:
            await conn.executemany(statement, rows)
    return versions


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


async def _load(
    conn: Conn, wanted: Mapping[int, int | None], cache: StateCache | None = None
) -> dict[int, tuple[JobState | None, int]]:
    """The jobs of `wanted` (job id to a run whose stop to look up besides its last requested one), without
    idempotency keys."""
    folded = await _own_states(conn, list(wanted), cache)
    live = [job_id for job_id, (state, _) in folded.items() if state is not None]
    runs = {row["job_id"]: row for row in await conn.fetch(RUNS_OF, live)} if live else {}
    asked = [(job_id, run) for job_id in runs for run in {runs[job_id]["last_requested_run_id"], wanted[job_id]} if run]
    stops: dict[int, set[int]] = {}
    if asked:
        for row in await conn.fetch(STOPS_AMONG, [job for job, _ in asked], [run for _, run in asked]):
            stops.setdefault(row["job_id"], set()).add(row["run_id"])
    loaded: dict[int, tuple[JobState | None, int]] = {}
    for job_id, (state, version) in folded.items():
        if state is None:
            loaded[job_id] = (None, version)
        elif job_id not in runs:
            rebuilt, rebuilt_version = await _rebuild(conn, job_id)
            no_keys = None if rebuilt is None else replace(rebuilt, idempotency_keys=MappingProxyType({}))
            loaded[job_id] = (no_keys, rebuilt_version)
        else:
            row = runs[job_id]
            loaded[job_id] = (
                replace(
                    state,
                    last_run_id=row["last_run_id"],
                    last_requested_run_id=row["last_requested_run_id"],
                    idempotency_keys=MappingProxyType({}),
                    stops_requested=frozenset(stops.get(job_id, ())),
                ),
                version,
            )
    return loaded


async def prepare(conn: Conn, job_ids: Sequence[int], cache: StateCache) -> None:
    """Fold the (distinct) jobs' own events into `cache` ahead of their loading (a read, nothing locked)."""
    await _own_states(conn, list(dict.fromkeys(job_ids)), cache)


async def _own_states(
    conn: Conn, job_ids: Sequence[int], cache: StateCache | None
) -> dict[int, tuple[JobState | None, int]]:
    """Each job's state folded from its own events, and its stream version."""
    if cache is None:
        streams = await event_store.load_without_runs(conn, [job_stream(job_id) for job_id in job_ids])
        loaded = [(job_id, streams[job_stream(job_id)]) for job_id in job_ids]
        return {job_id: (fold(stream.events), stream.version) for job_id, stream in loaded}
    versions = await event_store.versions(conn, [job_stream(job_id) for job_id in job_ids])
    folded: dict[int, tuple[JobState | None, int]] = {}
    unknown: list[int] = []
    for job_id in job_ids:
        version, own_version = versions[job_stream(job_id)]
        kept, state = cache.get(job_id, own_version)
        if kept:
            folded[job_id] = (state, version)
        else:
            unknown.append(job_id)
    if unknown:
        streams = await event_store.load_without_runs(conn, [job_stream(job_id) for job_id in unknown])
        for job_id in unknown:
            stream = streams[job_stream(job_id)]
            state = fold(stream.events)
            cache.put(job_id, stream.own_version, state)
            # The versions read first: if the stream grew since, appending after them fails, as it should.
            folded[job_id] = (state, versions[job_stream(job_id)][0])
    return folded


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
