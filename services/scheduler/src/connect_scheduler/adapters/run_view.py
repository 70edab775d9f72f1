"""The scheduler's view of runs: each run's status as `connect.runs` reports it, and which run of a job is in
progress.

`run_status` is maintained by the runs consumer (`entrypoints/runs.py`) with the contract's one transition
table, in the transaction that stores the consumed offset. The job stream says which run was requested last;
this table only says whether it has ended, so a run requested but not yet seen on Kafka counts as in progress.
"""

from __future__ import annotations

from connect_events import TERMINAL, RunEvent, RunStatus, RunStopRequested, status_after
from connect_events.runs import RunPayload
from connect_runtime.db import Conn
from connect_scheduler.domain.jobs import JobState

# The consumer handles one partition at a time, under its offset lock; the row lock covers any other writer.
LOCK_STATUS = "SELECT status FROM run_status WHERE job_id = $1 AND run_id = $2 FOR UPDATE"
SAVE_STATUS = """
INSERT INTO run_status (job_id, run_id, status, updated_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (job_id, run_id) DO UPDATE SET status = EXCLUDED.status, updated_at = EXCLUDED.updated_at
"""
RUN_STATUS = "SELECT status FROM run_status WHERE job_id = $1 AND run_id = $2"


async def apply(conn: Conn, event: RunEvent | RunStopRequested) -> RunStatus | None:
    """Move the event's run to the status the transition table gives; None when the event does not apply
    (progress, a stop request, a duplicate, anything after the end)."""
    payload: RunPayload = getattr(event, "payload")  # noqa: B009 - every concrete run event names its run
    run = (payload.job_id, payload.run_id)
    current = await conn.fetchval(LOCK_STATUS, *run)
    status = status_after(None if current is None else RunStatus(current), event)
    if status is not None:
        await conn.execute(SAVE_STATUS, *run, status.value, event.occurred_at)
    return status


async def run_status(conn: Conn, job_id: int, run_id: int) -> RunStatus | None:
    """The run's status as last reported on `connect.runs`; None before any of its events was consumed."""
    status = await conn.fetchval(RUN_STATUS, job_id, run_id)
    return None if status is None else RunStatus(status)


async def run_in_progress(conn: Conn, state: JobState) -> int | None:
    """The job's run in progress: its last requested run, unless that run has reached a terminal status."""
    run_id = state.last_requested_run_id
    if run_id == 0 or await run_status(conn, state.job_id, run_id) in TERMINAL:
        return None
    return run_id
