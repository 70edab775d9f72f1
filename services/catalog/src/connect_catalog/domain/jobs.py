"""Projection rules for job and table events."""

from __future__ import annotations

from connect_catalog.domain.changes import (
    Change,
    InsertJob,
    JobFields,
    MarkJobDeleted,
    SetJobState,
    UpdateJobDefinition,
    UpsertTable,
)
from connect_catalog.domain.views import JobView
from connect_events import (
    JobActivated,
    JobCreated,
    JobDeactivated,
    JobDefinition,
    JobDeleted,
    JobEvent,
    JobUpdated,
    TableDefined,
)


def job_fields(definition: JobDefinition) -> JobFields:
    """The job columns a definition determines."""
    return JobFields(
        name=definition.name,
        description=definition.description,
        job_type=definition.settings.kind,
        schedule_type=definition.schedule.kind,
        definition_json=definition.model_dump_json(),
        expires_at=definition.expires_at,
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
    """The changes a job event makes to the `jobs` read model."""
    if not is_news(event, job):
        return ()
    version, at, by = event.aggregate_version, event.occurred_at, event.actor
    match event:
        case JobCreated(payload=p):
            return (InsertJob(p.job_id, job_fields(p.definition), version, at, by),)
        case JobUpdated(payload=p):
            return (UpdateJobDefinition(p.job_id, job_fields(p.definition), version, at, by),)
        case JobActivated(payload=p):
            return (SetJobState(p.job_id, "active", version, at, by),)
        case JobDeactivated(payload=p):
            return (SetJobState(p.job_id, "inactive", version, at, by),)
        case JobDeleted(payload=p):
            return (MarkJobDeleted(p.job_id, p.reason, version, at, by),)
    return ()


def project_table(event: TableDefined) -> tuple[Change, ...]:
    """A table definition replaces the stored one (there is one `table.defined` per table)."""
    table = event.payload.table
    return (UpsertTable(table.name, table.model_dump_json(), event.occurred_at, event.actor),)
