"""Explicit conversions between HTTP bodies and the event contract / read models."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote
from uuid import UUID

from connect_events import ColumnMapping, ColumnSpec, ColumnType, CsvSettings, TableSpec, run_key
from connect_gateway.domain.errors import REJECTION
from connect_gateway.domain.jobs import JobDraft, SourceDraft
from connect_gateway.domain.paths import JOB_PATHS, TABLE_PATHS, to_request_errors
from connect_gateway.entrypoints.http import schemas as s
from connect_gateway.read_models import CommandRecord, JobRecord, JobSummary, LogLine, RunRecord, TableRecord

API = "/api/v1"
_API_CODES: dict[str, str] = {code: name for code, name in REJECTION.items()}


def table_url(name: str) -> str:
    """Where a table is read."""
    return f"{API}/tables/{quote(name, safe='')}"


def job_url(job_id: int) -> str:
    """Where a job is read."""
    return f"{API}/jobs/{job_id}"


def run_url(job_id: int, run_id: int) -> str:
    """Where a run is read."""
    return f"{API}/runs/{run_key(job_id, run_id)}"


def command_url(command_id: UUID) -> str:
    """Where a command's decision is read."""
    return f"{API}/commands/{command_id}"


def table_spec(body: s.TableIn) -> TableSpec:
    """The table definition a `DefineTable` command carries."""
    columns = tuple(
        ColumnSpec(name=c.name, type=ColumnType(c.type), max_length=c.max_length, precision=c.precision, scale=c.scale)
        for c in body.columns
    )
    return TableSpec(name=body.name, columns=columns, primary_key=tuple(body.primary_key))


def job_draft(body: s.JobFields) -> JobDraft:
    """The job as sent, before the host key is pinned and the secret vaulted."""
    src = body.source
    source = SourceDraft(
        host=src.host,
        port=src.port,
        user=src.user,
        path=src.path,
        private_key=None if src.private_key is None else src.private_key.get_secret_value(),
        password=None if src.password is None else src.password.get_secret_value(),
        host_key=src.host_key,
    )
    file = CsvSettings(
        delimiter=body.file.delimiter,
        qualifier=body.file.qualifier,
        header=body.file.header,
        encoding=body.file.encoding,
    )
    return JobDraft(
        name=body.name,
        description=body.description,
        source=source,
        file=file,
        table=body.target.table,
        mapping=tuple(ColumnMapping(source=m.source, target=m.target) for m in body.mapping),
        write_mode=body.target.write_mode,
        insert_on_no_match=body.target.insert_on_no_match,
        update_on_match=body.target.update_on_match,
    )


def table_out(record: TableRecord) -> s.TableOut:
    """A table as the API shows it."""
    spec = record.spec
    columns = [
        s.ColumnOut(name=c.name, type=c.type.value, max_length=c.max_length, precision=c.precision, scale=c.scale)
        for c in spec.columns
    ]
    return s.TableOut(
        name=spec.name,
        columns=columns,
        primary_key=list(spec.primary_key),
        defined_at=record.defined_at,
        defined_by=record.defined_by,
    )


def job_summary_out(job: JobSummary) -> s.JobSummaryOut:
    """A row of the job list."""
    return s.JobSummaryOut(**_summary_fields(job))


def job_out(job: JobRecord) -> s.JobOut:
    """A job with its settings, never its secret or credential reference."""
    settings = job.definition.settings
    src = settings.source
    return s.JobOut(
        **_summary_fields(job),
        source=s.SourceOut(
            host=src.host,
            port=src.port,
            user=src.user,
            path=src.path,
            host_key=src.host_key,
            host_key_fingerprint=src.host_key_fingerprint,
        ),
        file=s.FileOut(**settings.file.model_dump()),
        target=s.TargetOut(
            table=settings.table,
            write_mode=settings.write_mode,
            insert_on_no_match=settings.insert_on_no_match,
            update_on_match=settings.update_on_match,
        ),
        mapping=[s.MappingOut(source=m.source, target=m.target) for m in settings.mapping],
        schedule=s.ScheduleOut(kind=job.definition.schedule.kind),
    )


def _summary_fields(job: JobSummary) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "name": job.name,
        "description": job.description,
        "type": job.job_type,
        "state": job.state,
        "schedule_type": job.schedule_type,
        "version": job.version,
        "expires_at": job.expires_at,
        "created_at": job.created_at,
        "created_by": job.created_by,
        "updated_at": job.updated_at,
        "updated_by": job.updated_by,
        "last_run": None if job.last_run_id is None else run_key(job.job_id, job.last_run_id),
    }


def run_out(run: RunRecord) -> s.RunOut:
    """A run as the API shows it."""
    return s.RunOut(
        id=run_key(run.job_id, run.run_id),
        job_id=run.job_id,
        run_id=run.run_id,
        job_name=run.job_name,
        job_deleted=run.job_deleted,
        status=run.status,
        trigger=run.trigger,
        attempt=run.attempt,
        counts=s.CountsOut(**run.counts.model_dump()),
        total_bytes=run.total_bytes,
        stage=run.stage,
        requested_at=run.requested_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        duration_ms=run.duration_ms,
        error_code=run.error_code,
        error=run.error,
        url=run_url(run.job_id, run.run_id),
        log_url=f"{run_url(run.job_id, run.run_id)}/log",
    )


def log_out(job_id: int, run_id: int, lines: list[LogLine]) -> s.RunLogOut:
    """A run's log."""
    return s.RunLogOut(
        run=run_key(job_id, run_id),
        lines=[s.LogLineOut(at=line.at, level=line.level, message=line.message) for line in lines],
    )


def command_out(record: CommandRecord) -> s.CommandOut:
    """A command's decision in the API's vocabulary: its error code and the request's field paths."""
    renames = TABLE_PATHS if record.command_type == "table.define" else JOB_PATHS
    errors = to_request_errors(record.errors, renames)
    return s.CommandOut(
        command_id=record.command_id,
        command_type=record.command_type,
        status=record.status,
        target_type=record.target_type,
        target_id=record.target_id,
        target_version=record.target_version,
        run_id=record.run_id,
        code=None if record.code is None else _API_CODES.get(record.code, record.code),
        message=record.message,
        errors=[s.ErrorItem(field=e.field, message=e.message) for e in errors],
        replied_at=record.replied_at,
        url=_target_url(record) if record.status == "accepted" else None,
    )


def _target_url(record: CommandRecord) -> str | None:
    """What an accepted command created or changed (nothing to link for a deleted job)."""
    target = record.target_id
    if target is None or record.command_type == "job.delete":
        return None
    if record.target_type == "table":
        return table_url(target)
    if record.target_type != "job" or not target.isdigit():
        return None
    if record.run_id is not None:
        return run_url(int(target), record.run_id)
    return job_url(int(target))
