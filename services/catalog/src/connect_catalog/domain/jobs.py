"""Projection rules for job and table events: the job row, its next fire, and its history."""

from __future__ import annotations

from connect_catalog.domain.changes import (
    Change,
    HistoryWhat,
    InsertJob,
    JobFields,
    MarkJobDeleted,
    RecordHistory,
    SetJobState,
    SetNextRun,
    UpdateJobDefinition,
    UpsertTable,
)
from connect_catalog.domain.commands import errors_json
from connect_catalog.domain.history import changed_fields
from connect_catalog.domain.views import JobView
from connect_events import (
    JobActivated,
    JobCreated,
    JobDeactivated,
    JobDefined,
    JobDeleted,
    JobEvent,
    JobUpdated,
    TableDefined,
)


def job_fields(payload: JobDefined) -> JobFields:
    """The job columns a definition (and the errors it was saved with) determines."""
    definition = payload.definition
    return JobFields(
        name=definition.name,
        description=definition.description,
        job_type=definition.settings.kind,
        schedule_type=definition.schedule.kind,
        definition_json=definition.model_dump_json(),
        expires_at=definition.expires_at,
        errors_json=errors_json(payload.errors),
    )


def is_news(event: JobEvent, job: JobView | None) -> bool:
    """Whether `event` moves the projected job forward.

    A job's events arrive in version order (one partition, one relay); this guard only makes the
    projection monotonic, so an older event republished under a new id can never roll a job back.
    """
    if isinstance(event, JobCreated):
        return job is None
    return job is not None and event.aggregate_version > job.version


def project_job(event: JobEvent, job: JobView | None) -> tuple[Change, ...]:
    """The changes a job event makes to the `jobs`, `job_next_runs` and `job_history` read models."""
    if not is_news(event, job):
        return ()
    version, at, by = event.aggregate_version, event.occurred_at, event.actor
    match event:
        case JobCreated(payload=p):
            what: HistoryWhat = "created" if p.copied_from is None else "copied"
            return (
                InsertJob(p.job_id, job_fields(p), version, at, by, p.copied_from),
                SetNextRun(p.job_id, p.next_run_at, at),
                RecordHistory(p.job_id, version, at, by, what, copied_from=p.copied_from),
            )
        case JobUpdated(payload=p):
            old = {} if job is None else job.definition
            changed = changed_fields(old, p.definition.model_dump(mode="json"))
            return (
                UpdateJobDefinition(p.job_id, job_fields(p), version, at, by),
                SetNextRun(p.job_id, p.next_run_at, at),
                RecordHistory(p.job_id, version, at, by, "updated", changed=changed),
            )
        case JobActivated(payload=p):
            return (
                SetJobState(p.job_id, "active", version, at, by),
                SetNextRun(p.job_id, p.next_run_at, at),
                RecordHistory(p.job_id, version, at, by, "activated"),
            )
        case JobDeactivated(payload=p):
            return (
                SetJobState(p.job_id, "inactive", version, at, by),
                SetNextRun(p.job_id, p.next_run_at, at),
                RecordHistory(p.job_id, version, at, by, "deactivated"),
            )
        case JobDeleted(payload=p):
            return (
                MarkJobDeleted(p.job_id, p.reason, version, at, by),
                SetNextRun(p.job_id, None, at),
                RecordHistory(p.job_id, version, at, by, "deleted", reason=p.reason),
            )
    return ()


def project_table(event: TableDefined) -> tuple[Change, ...]:
    """A table definition replaces the stored one (there is one `table.defined` per table)."""
    table = event.payload.table
    return (UpsertTable(table.name, table.model_dump_json(), event.occurred_at, event.actor),)
