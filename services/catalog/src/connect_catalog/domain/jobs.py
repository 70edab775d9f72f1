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
from connect_catalog.domain.definitions import definition_fields, edit_of, is_news
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
    kind, errors = payload.definition.settings.kind, errors_json(payload.errors)
    return JobFields(**vars(definition_fields(payload.definition)), job_type=kind, errors_json=errors)


def project_job(event: JobEvent, job: JobView | None) -> tuple[Change, ...]:
    """The changes a job event makes to the `jobs`, `job_next_runs` and `job_history` read models."""
    if not is_news(event, job):
        return ()
    edit, at = edit_of(event), event.occurred_at
    match event:
        case JobCreated(payload=p):
            what: HistoryWhat = "created" if p.copied_from is None else "copied"
            return (
                InsertJob(p.job_id, job_fields(p), edit, p.copied_from),
                SetNextRun(p.job_id, p.next_run_at, at),
                RecordHistory(p.job_id, edit, what, copied_from=p.copied_from),
            )
        case JobUpdated(payload=p):
            old = {} if job is None else job.definition
            changed = changed_fields(old, p.definition.model_dump(mode="json"))
            return (
                UpdateJobDefinition(p.job_id, job_fields(p), edit),
                SetNextRun(p.job_id, p.next_run_at, at),
                RecordHistory(p.job_id, edit, "updated", changed=changed),
            )
        case JobActivated(payload=p):
            return (
                SetJobState(p.job_id, "active", edit),
                SetNextRun(p.job_id, p.next_run_at, at),
                RecordHistory(p.job_id, edit, "activated"),
            )
        case JobDeactivated(payload=p):
            return (
                SetJobState(p.job_id, "inactive", edit),
                SetNextRun(p.job_id, p.next_run_at, at),
                RecordHistory(p.job_id, edit, "deactivated"),
            )
        case JobDeleted(payload=p):
            return (
                MarkJobDeleted(p.job_id, p.reason, edit),
                SetNextRun(p.job_id, None, at),
                RecordHistory(p.job_id, edit, "deleted", reason=p.reason),
            )
    return ()


def project_table(event: TableDefined) -> tuple[Change, ...]:
    """A table definition replaces the stored one (there is one `table.defined` per table)."""
    table = event.payload.table
    return (UpsertTable(table.name, table.model_dump_json(), event.occurred_at, event.actor),)
