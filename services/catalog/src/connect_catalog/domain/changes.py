"""Read-model changes as data: the projection returns them, an adapter applies each with named SQL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from uuid import UUID

from connect_events import RunCounts, RunStatus

LogLevel = Literal["INFO", "WARN", "ERROR"]
CommandStatus = Literal["accepted", "rejected"]
HistoryWhat = Literal["created", "copied", "updated", "activated", "deactivated", "deleted"]


@dataclass(frozen=True)
class Edit:
    """Who moved a job or group to `version`, and when."""

    version: int
    at: datetime
    by: str


@dataclass(frozen=True)
class Span:
    """When a run or group run started and finished, and the milliseconds between."""

    started_at: datetime
    finished_at: datetime
    duration_ms: int


@dataclass(frozen=True, kw_only=True)
class DefinitionFields:
    """The columns of a job or group derived from its definition."""

    name: str
    description: str
    schedule_type: str
    definition_json: str
    expires_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class JobFields(DefinitionFields):
    """A job's columns: those of its definition, its type, and the validation errors it was saved with."""

    job_type: str
    errors_json: str = "[]"


@dataclass(frozen=True)
class InsertJob:
    """A new job row, inactive; `copied_from` names the job it is a copy of."""

    job_id: int
    fields: JobFields
    edit: Edit
    copied_from: int | None = None


@dataclass(frozen=True)
class UpdateJobDefinition:
    """A job's definition (and the columns derived from it) was replaced."""

    job_id: int
    fields: JobFields
    edit: Edit


@dataclass(frozen=True)
class SetJobState:
    """A job became active or inactive."""

    job_id: int
    state: Literal["active", "inactive"]
    edit: Edit


@dataclass(frozen=True)
class MarkJobDeleted:
    """A job was deleted; its row stays so run history can say so."""

    job_id: int
    reason: str
    edit: Edit


@dataclass(frozen=True)
class SetLastRun:
    """The job's latest run becomes `run_id` (requested for `requested_for`) unless a later one is known."""

    job_id: int
    run_id: int
    requested_for: datetime


@dataclass(frozen=True)
class SetNextRun:
    """The job's next fire as of `as_of` (None: none scheduled); an older statement never replaces a newer one."""

    job_id: int
    next_run_at: datetime | None
    as_of: datetime


@dataclass(frozen=True)
class RecordHistory:
    """One entry of a job's history: who did what at which version; `changed` lists an edit's fields."""

    job_id: int
    edit: Edit
    what: HistoryWhat
    reason: str | None = None
    copied_from: int | None = None
    changed: tuple[str, ...] = ()


@dataclass(frozen=True)
class UpsertTable:
    """A custom table's definition."""

    name: str
    spec_json: str
    at: datetime
    by: str


@dataclass(frozen=True)
class InsertList:
    """A profile list's definition: its custom columns (a JSON array of `ColumnSpec`) at version 1."""

    name: str
    columns_json: str
    at: datetime
    by: str


@dataclass(frozen=True)
class InsertPet:
    """A PET's definition: its list and its columns (a JSON array of `ColumnSpec`) at version 1."""

    name: str
    list_name: str
    columns_json: str
    at: datetime
    by: str


@dataclass(frozen=True)
class AddColumn:
    """A column (`ColumnSpec` as JSON) added to the list or PET `name`, making it `version`."""

    kind: Literal["list", "pet"]
    name: str
    column_json: str
    version: int
    at: datetime


@dataclass(frozen=True)
class PutAudience:
    """An audience's definition (`AudienceSpec` as JSON) at `version`, replacing an older one of its name (any
    case; a deleted one's name defined again too)."""

    name: str
    list_name: str
    spec_json: str
    version: int
    at: datetime
    by: str


@dataclass(frozen=True)
class RemoveAudience:
    """An audience deleted at `version`."""

    name: str
    version: int


@dataclass(frozen=True)
class InsertRun:
    """A new run row: queued, or skipped (born terminal); `scheduled_for` is the fire it stands for, a
    member run names its group run (`group_id`, `group_run_id`), a dry run writes nothing, and an export's run
    names its job's type (`job_type`, the settings' kind)."""

    job_id: int
    run_id: int
    job_name: str
    trigger: str
    requested_at: datetime
    status: RunStatus = RunStatus.QUEUED
    scheduled_for: datetime | None = None
    group_id: int | None = None
    group_run_id: int | None = None
    dry_run: bool = False
    job_type: str | None = None


@dataclass(frozen=True)
class StartAttempt:
    """A run is running its `attempt`; progress counters restart with it."""

    job_id: int
    run_id: int
    attempt: int
    runner: str
    started_at: datetime


@dataclass(frozen=True)
class RecordProgress:
    """Live progress of a running run."""

    job_id: int
    run_id: int
    rows_read: int
    bytes_transferred: int
    total_bytes: int | None
    stage: str


@dataclass(frozen=True)
class EndRun:
    """A run reached its terminal status with its final counters."""

    job_id: int
    run_id: int
    status: RunStatus
    counts: RunCounts
    span: Span
    error_code: str | None = None
    error: str | None = None
    job_type: str | None = None  # for the run metrics; not stored again


@dataclass(frozen=True)
class MarkRunStopRequested:
    """A user asked the run to stop before it ended."""

    job_id: int
    run_id: int


@dataclass(frozen=True)
class LogLine:
    """One entry of a run's execution log."""

    job_id: int
    run_id: int
    at: datetime
    level: LogLevel
    message: str
    rejects: Mapping[str, int] = field(default_factory=dict)  # rows the entry rejected, by reason (for metrics)
    job_type: str | None = None  # for metrics, not stored with the line


@dataclass(frozen=True)
class RecordCommandOutcome:
    """A command's reply: what an accepted one touched (and the errors a draft was saved with), or why a
    refused one was refused."""

    command_id: UUID
    command_type: str
    status: CommandStatus
    replied_at: datetime
    target_type: str | None = None
    target_id: str | None = None
    target_version: int | None = None
    run_id: int | None = None
    code: str | None = None
    message: str | None = None
    errors_json: str = "[]"
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class GroupFields(DefinitionFields):
    """A group's columns: those of its definition, and its next fire (None: none scheduled)."""

    next_run_at: datetime | None


@dataclass(frozen=True)
class InsertGroup:
    """A new group row."""

    group_id: int
    fields: GroupFields
    edit: Edit


@dataclass(frozen=True)
class UpdateGroupDefinition:
    """A group's definition (and the columns derived from it) was replaced."""

    group_id: int
    fields: GroupFields
    edit: Edit


@dataclass(frozen=True)
class MarkGroupDeleted:
    """A group was deleted; its row stays so its group runs can say so, and its jobs leave it."""

    group_id: int
    reason: str
    edit: Edit


@dataclass(frozen=True)
class SetGroupMembers:
    """The group's members in running order as of `as_of` (none: deleted); a job claimed by a later statement of
    another group stays there, whatever order the groups' partitions are read in."""

    group_id: int
    members: tuple[int, ...]
    as_of: datetime


@dataclass(frozen=True)
class SetGroupLastRun:
    """The group's latest run becomes `run_id` (fired or requested at `requested_for`); a scheduled fire also
    says the group's next one."""

    group_id: int
    run_id: int
    requested_for: datetime
    next_run_at: datetime | None = None
    scheduled: bool = False


@dataclass(frozen=True)
class InsertGroupRun:
    """A new group run row: running (its first member starts at once) or skipped (born ended, named after the
    group: `group_name` None)."""

    group_id: int
    run_id: int
    group_name: str | None
    status: RunStatus
    trigger: str
    members: tuple[int, ...]
    version: int
    requested_at: datetime
    scheduled_for: datetime | None = None


@dataclass(frozen=True)
class AddGroupRunMember:
    """The group run started its member at `position` (0-based) as run `job_id.member_run_id`."""

    group_id: int
    run_id: int
    version: int
    position: int
    job_id: int
    member_run_id: int


@dataclass(frozen=True)
class MarkGroupRunStopRequested:
    """A user asked the group run to stop."""

    group_id: int
    run_id: int
    version: int


@dataclass(frozen=True)
class EndGroupRun:
    """A group run reached its final status; `failed_job_id` names the member that did not succeed."""

    group_id: int
    run_id: int
    version: int
    status: RunStatus
    span: Span
    failed_job_id: int | None = None
    failed_run_id: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class GroupLogLine:
    """One entry of a group run's log."""

    group_id: int
    run_id: int
    at: datetime
    level: LogLevel
    message: str


Change = (
    InsertJob
    | UpdateJobDefinition
    | SetJobState
    | MarkJobDeleted
    | SetLastRun
    | SetNextRun
    | RecordHistory
    | UpsertTable
    | InsertList
    | InsertPet
    | AddColumn
    | PutAudience
    | RemoveAudience
    | InsertRun
    | StartAttempt
    | RecordProgress
    | EndRun
    | MarkRunStopRequested
    | LogLine
    | RecordCommandOutcome
    | InsertGroup
    | UpdateGroupDefinition
    | MarkGroupDeleted
    | SetGroupMembers
    | SetGroupLastRun
    | InsertGroupRun
    | AddGroupRunMember
    | MarkGroupRunStopRequested
    | EndGroupRun
    | GroupLogLine
)
