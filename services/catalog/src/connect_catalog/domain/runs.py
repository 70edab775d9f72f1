"""Projection rules for run events.

Runs are keyed by job id, so a run's events arrive in order; but progress is best-effort and outbox
relays may republish, so every status change goes through the shared state machine (`status_after`): a
terminal status is final, and nothing arriving after it changes the run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connect_catalog.domain.changes import (
    Change,
    EndRun,
    InsertRun,
    LogLine,
    MarkRunStopRequested,
    RecordProgress,
    SetLastRun,
    SetNextRun,
    Span,
    StartAttempt,
)
from connect_catalog.domain.views import RunView
from connect_events import (
    RunAttemptFailed,
    RunCounts,
    RunEndedPayload,
    RunEvent,
    RunFailed,
    RunLogged,
    RunProgressed,
    RunRequested,
    RunSkipped,
    RunStarted,
    RunStatus,
    RunStopped,
    RunStopRequested,
    RunSucceeded,
    rejects_by_reason,
    run_key,
    status_after,
)


def utc(moment: datetime) -> datetime:
    """`moment` as an aware datetime; payload times without a zone are UTC by contract."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def span(started_at: datetime, finished_at: datetime) -> Span:
    """The two times in UTC and the milliseconds between them, never negative (runner clocks may disagree
    slightly)."""
    start, end = utc(started_at), utc(finished_at)
    return Span(start, end, max(0, (end - start) // timedelta(milliseconds=1)))


def counts_text(counts: RunCounts, *, exports: bool = False) -> str:
    """Counters in words, for the execution log: an export's rows and bytes written; an import's, with a profile
    import's skipped rows and duplicates, and an analytics feed's filtered hits, when there are any."""
    if exports:  # to a file (its bytes) or to a marketing API (the records it refused)
        text = f"{counts.rows_read} rows written"
        text += f", {counts.bytes_transferred} bytes" if counts.bytes_transferred else ""
        return text + (f", {counts.rejected} rejected" if counts.rejected else "")
    text = (
        f"{counts.rows_read} rows read, {counts.inserted} inserted, {counts.updated} updated, "
        f"{counts.unchanged} unchanged, {counts.rejected} rejected"
    )
    if counts.skipped:
        text += f", {counts.skipped} skipped"
    if counts.duplicates:
        text += f", {counts.duplicates} duplicate{'' if counts.duplicates == 1 else 's'}"
    if counts.filtered:
        text += f", {counts.filtered} filtered"
    return text


# Issue 7: a stop that arrives after the load's final commit cannot undo it, and the log must say so.
STOP_TOO_LATE = "The stop came after the load had committed; the run succeeded and its data stays."
STOP_TOO_LATE_EXPORT = "The stop came after the rows were delivered; the run succeeded and they stay."


def missed_text(missed: int) -> str:
    """The log line of a recovery fire that stands for the fires missed while the scheduler was down."""
    fires = "1 scheduled run was" if missed == 1 else f"{missed} scheduled runs were"
    return f"{fires} missed while the scheduler was down; this run stands for them"


def status_of(run: RunView | None) -> RunStatus | None:
    """The run's current status for the state machine (None: not projected yet)."""
    return None if run is None else run.status


def requested(event: RunRequested, run: RunView | None) -> tuple[Change, ...]:
    """A new queued run; the job's latest run moves up to it, and a scheduled fire says the job's next one."""
    if status_after(status_of(run), event) is None:
        return ()
    p, at = event.payload, event.occurred_at
    scheduled_for = None if p.scheduled_for is None else utc(p.scheduled_for)
    group = (p.group_id, p.group_run_id)
    run_row = (p.job_id, p.run_id, p.definition.name, p.trigger, at, RunStatus.QUEUED, scheduled_for, *group)
    changes: list[Change] = [
        InsertRun(*run_row, dry_run=p.dry_run, job_type=p.definition.settings.kind),
        SetLastRun(p.job_id, p.run_id, scheduled_for or at),
        LogLine(p.job_id, p.run_id, at, "INFO", f"{'Dry run' if p.dry_run else 'Run'} requested ({p.trigger})"),
    ]
    if p.missed_fires > 0:
        changes.append(LogLine(p.job_id, p.run_id, at, "WARN", missed_text(p.missed_fires)))
    if scheduled_for is not None:
        changes.append(SetNextRun(p.job_id, p.next_run_at, at))
    return tuple(changes)


def skipped(event: RunSkipped, run: RunView | None) -> tuple[Change, ...]:
    """A fire that met a running run: recorded as a skipped run (it never executes), saying which run ran."""
    if status_after(status_of(run), event) is None:
        return ()
    p, at = event.payload, event.occurred_at
    scheduled_for, group = utc(p.scheduled_for), (p.group_id, p.group_run_id)
    line = f"Skipped: run {run_key(p.job_id, p.running_run_id)} was still running"
    return (
        InsertRun(p.job_id, p.run_id, p.job_name, p.trigger, at, RunStatus.SKIPPED, scheduled_for, *group),
        SetLastRun(p.job_id, p.run_id, scheduled_for),
        LogLine(p.job_id, p.run_id, at, "WARN", line),
        SetNextRun(p.job_id, p.next_run_at, at),
    )


def started(event: RunStarted, run: RunView | None) -> tuple[Change, ...]:
    """A newer attempt began; an older or repeated attempt, or one after the end, changes nothing."""
    p = event.payload
    if run is None or status_after(run.status, event) is None or p.attempt <= run.attempt:
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


def logged(event: RunLogged, run: RunView | None) -> tuple[Change, ...]:
    """An entry of the runner's execution log, also after the run's end: unlike progress it replaces nothing,
    and the runner logs where it archived the file once the run has ended (a redelivery has a seen event id)."""
    p = event.payload
    if run is None:
        return ()
    rejects = rejects_by_reason(p.details)
    return (LogLine(p.job_id, p.run_id, event.occurred_at, p.level, p.message, rejects, run.job_type),)


def attempt_failed(event: RunAttemptFailed, run: RunView | None) -> tuple[Change, ...]:
    """A transient failure the retry policy answers with another attempt: the run stays running, its log says it."""
    p = event.payload
    if run is None or run.ended:
        return ()
    retry = utc(p.retry_at).isoformat(timespec="seconds")
    text = f"Attempt {p.attempt} failed ({p.code}): {p.error}; trying again at {retry}"
    return (LogLine(p.job_id, p.run_id, event.occurred_at, "WARN", text),)


def end_run(
    p: RunEndedPayload,
    status: RunStatus,
    code: str | None = None,
    error: str | None = None,
    job_type: str | None = None,
) -> EndRun:
    """Final counters; the duration covers the attempt that finished (its `started_at`)."""
    return EndRun(p.job_id, p.run_id, status, p.counts, span(p.started_at, p.finished_at), code, error, job_type)


def ended(event: RunSucceeded | RunFailed | RunStopped, run: RunView | None) -> tuple[Change, ...]:
    """The run's one terminal status, with a closing log line; a second terminal event is ignored. A run that
    succeeded although a stop was asked for says that the stop came too late."""
    status = status_after(status_of(run), event)
    if status is None or run is None:
        return ()
    p, at = event.payload, event.occurred_at
    match event:
        case RunFailed(payload=f):
            line = LogLine(p.job_id, p.run_id, at, "ERROR", f"Failed ({f.code}): {f.error}")
            return (end_run(f, status, f.code, f.error, run.job_type), line)
        case RunStopped():
            line = LogLine(p.job_id, p.run_id, at, "WARN", f"Stopped: {counts_text(p.counts, exports=run.exports)}")
        case _:
            line = LogLine(p.job_id, p.run_id, at, "INFO", f"Succeeded: {counts_text(p.counts, exports=run.exports)}")
            if run.stop_requested:
                too_late = STOP_TOO_LATE_EXPORT if run.exports else STOP_TOO_LATE
                return (
                    end_run(p, status, job_type=run.job_type),
                    line,
                    LogLine(p.job_id, p.run_id, at, "WARN", too_late),
                )
    return (end_run(p, status, job_type=run.job_type), line)


def stop_requested(event: RunStopRequested, run: RunView | None) -> tuple[Change, ...]:
    """Who asked the run to stop, in its log, and the request kept on the run (its end may come too late for
    it); a request that came after the end says that it changed nothing."""
    if run is None:
        return ()
    p = event.payload
    if run.ended:
        text = f"Stop requested by {event.actor} after the run had ended; nothing changed"
        return (LogLine(p.job_id, p.run_id, event.occurred_at, "INFO", text),)
    line = LogLine(p.job_id, p.run_id, event.occurred_at, "INFO", f"Stop requested by {event.actor}")
    return (MarkRunStopRequested(p.job_id, p.run_id), line)


def project_run(event: RunEvent | RunStopRequested, run: RunView | None) -> tuple[Change, ...]:
    """The changes a run event makes to the `runs`, `run_log`, `jobs` and `job_next_runs` read models."""
    match event:
        case RunRequested():
            return requested(event, run)
        case RunSkipped():
            return skipped(event, run)
        case RunStarted():
            return started(event, run)
        case RunProgressed():
            return progressed(event, run)
        case RunLogged():
            return logged(event, run)
        case RunAttemptFailed():
            return attempt_failed(event, run)
        case RunSucceeded() | RunFailed() | RunStopped():
            return ended(event, run)
        case RunStopRequested():
            return stop_requested(event, run)
    return ()
