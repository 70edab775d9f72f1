"""The scheduler's view of runs: each run's status as `connect.runs` reports it, and which run of a job is in
progress.

`run_status` is maintained by the runs consumer (`entrypoints/runs.py`) with the contract's one transition
table, in the transaction that stores the consumed offset. The job stream says which run was requested last;
this table only says whether it has ended, so a run requested but not yet seen on Kafka counts as in progress.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from connect_events import TERMINAL, RunEvent, RunStatus, RunStopRequested, status_after
from connect_events.runs import RunPayload
from connect_runtime.db import Conn
from connect_scheduler.domain.jobs import JobState

# The consumer handles one partition at a time, under its offset lock; the row locks cover any other writer.
# Rows are locked in key order, so two writers of overlapping runs wait for each other instead of deadlocking.
LOCK_STATUSES = """
SELECT job_id, run_id, status FROM run_status JOIN unnest($1::bigint[], $2::bigint[]) AS asked(job_id, run_id)
USING (job_id, run_id) ORDER BY job_id, run_id FOR UPDATE OF run_status
"""
SAVE_STATUS = """
INSERT INTO run_status (job_id, run_id, status, updated_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (job_id, run_id) DO UPDATE SET status = EXCLUDED.status, updated_at = EXCLUDED.updated_at
"""
STATUSES = """
SELECT job_id, run_id, status FROM run_status JOIN unnest($1::bigint[], $2::bigint[]) AS asked(job_id, run_id)
USING (job_id, run_id)
"""

Run = tuple[int, int]  # job id, run id


async def apply(conn: Conn, event: RunEvent | RunStopRequested) -> RunStatus | None:
    """Move the event's run to the status the transition table gives; None when the event does not apply
    (progress, a stop request, a duplicate, anything after the end)."""
    return (await apply_all(conn, [event]))[0]


async def apply_all(conn: Conn, events: Sequence[RunEvent | RunStopRequested]) -> list[RunStatus | None]:
    """`apply` each event in turn, in three statements whatever their number; returns each event's status."""
    runs = [run_of(event) for event in events]
    current = await _statuses(conn, set(runs), LOCK_STATUSES)
    moved: dict[Run, tuple[RunStatus, datetime]] = {}
    statuses: list[RunStatus | None] = []
    for run, event in zip(runs, events, strict=True):
        status = status_after(current.get(run), event)
        if status is not None:
            current[run] = status
            moved[run] = (status, event.occurred_at)
        statuses.append(status)
    if moved:
        await conn.executemany(SAVE_STATUS, [(*run, status.value, at) for run, (status, at) in moved.items()])
    return statuses


async def run_status(conn: Conn, job_id: int, run_id: int) -> RunStatus | None:
    """The run's status as last reported on `connect.runs`; None before any of its events was consumed."""
    return (await _statuses(conn, {(job_id, run_id)}, STATUSES)).get((job_id, run_id))


async def run_in_progress(conn: Conn, state: JobState) -> int | None:
    """The job's run in progress: its last requested run, unless that run has reached a terminal status."""
    return (await runs_in_progress(conn, [state]))[state.job_id]


async def runs_in_progress(conn: Conn, states: Sequence[JobState]) -> dict[int, int | None]:
    """`run_in_progress` of each job, in one statement."""
    asked = {(state.job_id, state.last_requested_run_id) for state in states if state.last_requested_run_id}
    statuses = await _statuses(conn, asked, STATUSES)
    in_progress: dict[int, int | None] = {}
    for state in states:
        run_id = state.last_requested_run_id
        ended = run_id == 0 or statuses.get((state.job_id, run_id)) in TERMINAL
        in_progress[state.job_id] = None if ended else run_id
    return in_progress


def run_of(event: RunEvent | RunStopRequested) -> Run:
    """The (job id, run id) an event is about."""
    payload: RunPayload = getattr(event, "payload")  # noqa: B009 - every concrete run event names its run
    return payload.job_id, payload.run_id


async def _statuses(conn: Conn, runs: Collection[Run], query: str) -> dict[Run, RunStatus]:
    if not runs:
        return {}
    ordered = sorted(runs)
    rows = await conn.fetch(query, [job for job, _ in ordered], [run for _, run in ordered])
    return {(row["job_id"], row["run_id"]): RunStatus(row["status"]) for row in rows}
