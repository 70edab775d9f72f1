"""Projection rules for run events.

Runs are keyed by job id, so a run's events arrive in order; but progress is best-effort and outbox
relays may republish, so a terminal status is final: nothing arriving after it changes the run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connect_catalog.domain.changes import (
    Change,
    EndRun,
    InsertRun,
    LogLine,
    RecordProgress,
    SetLastRun,
    StartAttempt,
)
from connect_catalog.domain.views import RunStatus, RunView
from connect_events import (
    RunCounts,
    RunEndedPayload,
    RunEvent,
    RunFailed,
    RunProgressed,
    RunRequested,
    RunStarted,
    RunStopped,
    RunSucceeded,
)


def utc(moment: datetime) -> datetime:
    """`moment` as an aware datetime; payload times without a zone are UTC by contract."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def duration_ms(started_at: datetime, finished_at: datetime) -> int:
    """Milliseconds between two times, never negative (runner clocks may disagree slightly)."""
    return max(0, (utc(finished_at) - utc(started_at)) // timedelta(milliseconds=1))


def counts_text(counts: RunCounts) -> str:
    """Counters in words, for the execution log."""
    return (
        f"{counts.rows_read} rows read, {counts.inserted} inserted, {counts.updated} updated, "
        f"{counts.unchanged} unchanged, {counts.rejected} rejected"
    )


def requested(event: RunRequested, run: RunView | None) -> tuple[Change, ...]:
    """A new queued run; the job's latest run id moves up to it."""
    if run is not None:
        return ()
    p = event.payload
    at = event.occurred_at
    return (
        InsertRun(p.job_id, p.run_id, p.definition.name, p.trigger, at),
        SetLastRun(p.job_id, p.run_id),
        LogLine(p.job_id, p.run_id, at, "INFO", f"Run requested ({p.trigger})"),
    )


def started(event: RunStarted, run: RunView | None) -> tuple[Change, ...]:
    """A newer attempt began; an older or repeated attempt, or one after the end, changes nothing."""
    p = event.payload
    if run is None or run.ended or p.attempt <= run.attempt:
        return ()
    return (
        StartAttempt(p.job_id, p.run_id, p.attempt, p.runner, utc(p.started_at)),
        LogLine(p.job_id, p.run_id, event.occurred_at, "INFO", f"Started attempt {p.attempt} on {p.runner}"),
    )


def progressed(event: RunProgressed, run: RunView | None) -> tuple[Change, ...]:
    """Live counters, only while the run has not ended (progress may arrive late)."""
    p = event.payload
    if run is None or run.ended:
        return ()
    return (RecordProgress(p.job_id, p.run_id, p.rows_read, p.bytes_transferred, p.total_bytes, p.stage),)


def end_run(p: RunEndedPayload, status: RunStatus, code: str | None = None, error: str | None = None) -> EndRun:
    """Final counters; the duration covers the attempt that finished (its `started_at`)."""
    started_at, finished_at = utc(p.started_at), utc(p.finished_at)
    return EndRun(
        job_id=p.job_id,
        run_id=p.run_id,
        status=status,
        counts=p.counts,
        started_at=started_at,
        finished_at=finished_at,
        duration_ms=duration_ms(started_at, finished_at),
        error_code=code,
        error=error,
    )


def ended(event: RunSucceeded | RunFailed | RunStopped, run: RunView | None) -> tuple[Change, ...]:
    """The run's one terminal status, with a closing log line; a second terminal event is ignored."""
    if run is None or run.ended:
        return ()
    p, at = event.payload, event.occurred_at
    match event:
        case RunFailed(payload=f):
            change = end_run(f, RunStatus.FAILED, f.code, f.error)
            line = LogLine(p.job_id, p.run_id, at, "ERROR", f"Failed ({f.code}): {f.error}")
        case RunStopped():
            change = end_run(p, RunStatus.STOPPED)
            line = LogLine(p.job_id, p.run_id, at, "WARN", f"Stopped: {counts_text(p.counts)}")
        case _:
            change = end_run(p, RunStatus.SUCCEEDED)
            line = LogLine(p.job_id, p.run_id, at, "INFO", f"Succeeded: {counts_text(p.counts)}")
    return (change, line)


def project_run(event: RunEvent, run: RunView | None) -> tuple[Change, ...]:
    """The changes a run event makes to the `runs`, `run_log` and `jobs` read models."""
    match event:
        case RunRequested():
            return requested(event, run)
        case RunStarted():
            return started(event, run)
        case RunProgressed():
            return progressed(event, run)
        case RunSucceeded() | RunFailed() | RunStopped():
            return ended(event, run)
    return ()
