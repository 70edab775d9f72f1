"""Rows of the catalog's read models as the gateway uses them (the catalog service writes them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID

from connect_events import (
    AudienceSpec,
    FieldError,
    GroupDefinition,
    JobDefinition,
    ListSpec,
    PetSpec,
    RefusalReason,
    RunCounts,
    TableSpec,
)
from connect_gateway.domain.listing import IntKind, Kind, Position, Sort

T = TypeVar("T")


@dataclass(frozen=True)
class TableRecord:
    """A defined custom table."""

    spec: TableSpec
    defined_at: datetime
    defined_by: str


@dataclass(frozen=True)
class ListRecord:
    """A defined profile list (its spec holds the custom columns; the system columns are every list's)."""

    spec: ListSpec
    version: int
    defined_at: datetime
    defined_by: str
    updated_at: datetime


@dataclass(frozen=True)
class PetRecord:
    """A defined PET; `spec.list_name` names its list as the list was defined."""

    spec: PetSpec
    version: int
    defined_at: datetime
    defined_by: str
    updated_at: datetime


@dataclass(frozen=True)
class AudienceRecord:
    """A defined audience: its whole definition (list and PETs named as they were defined) and version."""

    spec: AudienceSpec
    version: int
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True, kw_only=True)
class ScheduledSummary:
    """What the All jobs and Group jobs lists show of a job or group alike: its definition's columns, who made
    and last changed it, and its runs (`running_run_id`: the one in progress, if any)."""

    name: str
    description: str
    schedule_type: str
    version: int
    expires_at: datetime | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    last_run_id: int | None = None
    previous_run_at: datetime | None = None
    next_run_at: datetime | None = None
    running_run_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class JobSummary(ScheduledSummary):
    """One row of the All jobs list; `errors` are a draft's validation errors (definition paths), and
    `group_id` the group the job is in."""

    job_id: int
    job_type: str
    state: str
    errors: tuple[FieldError, ...] = ()
    copied_from: int | None = None
    group_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class JobRecord(JobSummary):
    """A job with its whole definition (which holds no secret, only `credential_ref`)."""

    definition: JobDefinition


@dataclass(frozen=True)
class RunRecord:
    """One run of a job; `job_type` is None while the job itself is not projected yet; a member run names its
    group run (`group_id`, `group_run_id`); a dry run wrote nothing."""

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
    job_type: str | None = None
    scheduled_for: datetime | None = None
    group_id: int | None = None
    group_run_id: int | None = None
    dry_run: bool = False


@dataclass(frozen=True, kw_only=True)
class GroupSummary(ScheduledSummary):
    """One row of the Group jobs list."""

    group_id: int


@dataclass(frozen=True, kw_only=True)
class GroupRecord(GroupSummary):
    """A group with its whole definition (members in running order)."""

    definition: GroupDefinition


@dataclass(frozen=True)
class GroupRunMember:
    """A member of a group run, in running order: its run once started (`run_id`, its status; None before)."""

    position: int
    job_id: int
    run_id: int | None = None
    status: str | None = None
    job_name: str | None = None


@dataclass(frozen=True)
class GroupRunRecord:
    """One group run (`GroupID.RunID`); `members` is filled when one group run is read, not in lists."""

    group_id: int
    run_id: int
    group_name: str
    status: str
    trigger: str
    requested_at: datetime
    scheduled_for: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    stop_requested: bool
    failed_job_id: int | None
    failed_run_id: int | None
    error: str | None
    member_ids: tuple[int, ...] = ()
    members: tuple[GroupRunMember, ...] = ()


@dataclass(frozen=True)
class HistoryRecord:
    """One change of a job: who did what at which version; `changed` are the definition paths an edit changed."""

    version: int
    at: datetime
    by: str
    what: str
    reason: str | None = None
    copied_from: int | None = None
    changed: tuple[str, ...] = ()


@dataclass(frozen=True)
class LogLine:
    """One entry of a run's execution log."""

    at: datetime
    level: str
    message: str


@dataclass(frozen=True)
class CommandRecord:
    """The scheduler's reply to one command, as the catalog recorded it (`status`: accepted | rejected).

    `code`, `message`, `reason` and `errors` are the scheduler's (rejection code, definition field paths); an
    accepted definition saved with errors keeps them in `errors`.
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
    reason: RefusalReason | None = None


# The sortable columns of each list and the kind of their values, and the kinds of the ids that break ties
# (domain.listing): each the PostgreSQL type of its column in the catalog's read models.
JOB_SORTS: dict[str, Kind] = {
    "job_id": "bigint",
    "name": "text",
    "type": "text",
    "created_at": "time",
    "created_by": "text",
    "state": "text",
    "next_run_at": "time",
    "previous_run_at": "time",
    "schedule_type": "text",
    "expires_at": "time",
}
RUN_SORTS: dict[str, Kind] = {
    "run_key": "bigint",
    "job_name": "text",
    "requested_at": "time",
    "started_at": "time",
    "duration_ms": "bigint",
    "status": "text",
}


GROUP_SORTS: dict[str, Kind] = {
    "group_id": "bigint",
    "name": "text",
    "created_at": "time",
    "created_by": "text",
    "next_run_at": "time",
    "previous_run_at": "time",
    "schedule_type": "text",
    "expires_at": "time",
}
GROUP_RUN_SORT = Sort("run_id", descending=True)
GROUP_RUN_SORTS: dict[str, Kind] = {"run_id": "int"}
JOB_IDS: tuple[IntKind, ...] = ("bigint",)
RUN_IDS: tuple[IntKind, ...] = ("bigint", "int")  # job id, run id
GROUP_IDS: tuple[IntKind, ...] = ("bigint",)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, and where it ended when more rows follow (None: the last page)."""

    items: list[T]
    next: Position | None = None


@dataclass(frozen=True, kw_only=True)
class PageQuery:
    """Which page of a list: the one after the row `after` names (None: the first), of at most `limit` rows."""

    after: Position | None = None
    limit: int = 100


@dataclass(frozen=True, kw_only=True)
class JobQuery(PageQuery):
    """Filters of the job list (deleted jobs are never listed); `q` matches part of the name, case-insensitively.

    Rows come in `sort` order with the Job ID as tie-breaker.
    """

    state: str | None = None
    q: str | None = None
    job_type: str | None = None
    schedule_type: str | None = None
    sort: Sort = field(default_factory=lambda: Sort("job_id"))


@dataclass(frozen=True, kw_only=True)
class RunQuery(PageQuery):
    """Filters of the run list: a job, a status, part of the job's name, requested in [`since`, `until`).

    Rows come in `sort` order with `JobID.RunID` as tie-breaker.
    """

    job_id: int | None = None
    status: str | None = None
    q: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    sort: Sort = field(default_factory=lambda: Sort("requested_at", descending=True))


@dataclass(frozen=True, kw_only=True)
class GroupQuery(PageQuery):
    """Filters of the group list (deleted groups are never listed); `q` matches part of the name.

    Rows come in `sort` order with the Group ID as tie-breaker.
    """

    q: str | None = None
    schedule_type: str | None = None
    sort: Sort = field(default_factory=lambda: Sort("group_id"))


@dataclass(frozen=True, kw_only=True)
class GroupRunQuery(PageQuery):
    """A page of a group's runs, newest first (`after` names a run); `status` filters."""

    status: str | None = None


@dataclass(frozen=True, kw_only=True)
class HistoryQuery(PageQuery):
    """A page of a job's history, newest first (`after` names a version)."""


HISTORY_SORT = Sort("version", descending=True)
HISTORY_SORTS: dict[str, Kind] = {"version": "int"}
