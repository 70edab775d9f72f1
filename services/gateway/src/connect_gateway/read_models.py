"""Rows of the catalog's read models as the gateway uses them (the catalog service writes them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from connect_events import FieldError, JobDefinition, RunCounts, TableSpec


@dataclass(frozen=True)
class TableRecord:
    """A defined custom table."""

    spec: TableSpec
    defined_at: datetime
    defined_by: str


@dataclass(frozen=True)
class JobSummary:
    """One row of the All jobs list."""

    job_id: int
    name: str
    description: str
    job_type: str
    state: str
    schedule_type: str
    version: int
    expires_at: datetime | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    last_run_id: int | None


@dataclass(frozen=True)
class JobRecord(JobSummary):
    """A job with its whole definition (which holds no secret, only `credential_ref`)."""

    definition: JobDefinition


@dataclass(frozen=True)
class RunRecord:
    """One run of a job."""

    job_id: int
    run_id: int
    job_name: str
    job_deleted: bool
    status: str
    trigger: str
    attempt: int
    counts: RunCounts
    total_bytes: int | None
    stage: str | None
    error_code: str | None
    error: str | None
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None


@dataclass(frozen=True)
class LogLine:
    """One entry of a run's execution log."""

    at: datetime
    level: str
    message: str


@dataclass(frozen=True)
class CommandRecord:
    """The scheduler's reply to one command, as the catalog recorded it (`status`: accepted | rejected).

    `code`, `message` and `errors` are the scheduler's (rejection code, definition field paths).
    """

    command_id: UUID
    command_type: str
    status: str
    target_type: str | None
    target_id: str | None
    target_version: int | None
    run_id: int | None
    code: str | None
    message: str | None
    errors: tuple[FieldError, ...]
    replied_at: datetime


@dataclass(frozen=True)
class JobQuery:
    """Filters of the job list; `q` matches part of the name, case-insensitively."""

    state: str | None = None
    q: str | None = None
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True)
class RunQuery:
    """Filters of the run list (newest first)."""

    job_id: int | None = None
    status: str | None = None
    limit: int = 100
    offset: int = 0
