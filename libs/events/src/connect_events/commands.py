"""Commands (topic `connect.commands`) and the scheduler's replies (topic `connect.replies`).

Commands are imperative requests keyed by their target aggregate. The scheduler answers each with exactly
one reply event, matched by `correlation_id`/`causation_id` (the command id).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import Field

from connect_events.audiences import DefineAudience, DeleteAudience, UpdateAudience
from connect_events.definitions import ColumnSpec, JobDefinition, TableSpec
from connect_events.envelope import Command, Event, FieldError, Payload
from connect_events.groups import GroupDefinition
from connect_events.lists import ListSpec, PetSpec

COMMANDS_TOPIC = "connect.commands"
REPLIES_TOPIC = "connect.replies"


class DefineTablePayload(Payload):
    """The table to define."""

    table: TableSpec


class DefineListPayload(Payload):
    """The profile list to define."""

    list: ListSpec


class DefinePetPayload(Payload):
    """The PET to define (its list must exist)."""

    pet: PetSpec


class AddColumnPayload(Payload):
    """The column to add to the list or PET `name`."""

    name: str
    column: ColumnSpec


class CreateJobPayload(Payload):
    """The new job's definition; `activate` also activates it when it has no errors."""

    definition: JobDefinition
    activate: bool = False


class JobTarget(Payload):
    """Base of payloads of commands on one existing job."""

    job_id: int


class UpdateJobPayload(JobTarget):
    """The replacement definition and the job version it was based on (a stale one is refused)."""

    expected_version: int
    definition: JobDefinition


class JobCommandPayload(JobTarget):
    """Names the job; `expected_version`, when given, must be the current one."""

    expected_version: int | None = None


class CopyJobPayload(JobTarget):
    """The inactive job to copy and the copy's name."""

    name: str


class StopRunPayload(JobTarget):
    """The run (`JobID.RunID`) to stop."""

    run_id: int


class RunJobNowPayload(JobTarget):
    """The job to run; a repeated `idempotency_key` returns the first run instead of a second one. A dry run
    does everything but write: it reports what would be inserted, updated and rejected."""

    idempotency_key: str | None = None
    dry_run: bool = False


class JobCommand(Command):
    """Base of commands on one job, keyed by job id."""

    payload: JobTarget

    @property
    def partition_key(self) -> str:
        """The job id."""
        return str(self.payload.job_id)


class DefineTable(Command):
    """Define a custom table."""

    type: Literal["table.define"] = "table.define"
    schema_version: Literal[1] = 1
    payload: DefineTablePayload

    @property
    def partition_key(self) -> str:
        """The lower-cased table name."""
        return self.payload.table.name.lower()


class DefineList(Command):
    """Define a profile list."""

    type: Literal["list.define"] = "list.define"
    schema_version: Literal[1] = 1
    payload: DefineListPayload

    @property
    def partition_key(self) -> str:
        """The lower-cased list name."""
        return self.payload.list.name.lower()


class DefinePet(Command):
    """Define a profile extension table for a list."""

    type: Literal["pet.define"] = "pet.define"
    schema_version: Literal[1] = 1
    payload: DefinePetPayload

    @property
    def partition_key(self) -> str:
        """The lower-cased PET name."""
        return self.payload.pet.name.lower()


class _AddColumn(Command):
    """Base of the commands adding a column to a list or PET, keyed by its lower-cased name."""

    payload: AddColumnPayload

    @property
    def partition_key(self) -> str:
        """The lower-cased list or PET name."""
        return self.payload.name.lower()


class AddListColumn(_AddColumn):
    """Add a custom column to a profile list."""

    type: Literal["list.add_column"] = "list.add_column"
    schema_version: Literal[1] = 1


class AddPetColumn(_AddColumn):
    """Add a column to a PET."""

    type: Literal["pet.add_column"] = "pet.add_column"
    schema_version: Literal[1] = 1


class CreateJob(Command):
    """Create a job (it gets the next Job ID)."""

    type: Literal["job.create"] = "job.create"
    schema_version: Literal[1] = 1
    payload: CreateJobPayload


class UpdateJob(JobCommand):
    """Replace a job's definition."""

    type: Literal["job.update"] = "job.update"
    schema_version: Literal[1] = 1
    payload: UpdateJobPayload


class ActivateJob(JobCommand):
    """Activate a job."""

    type: Literal["job.activate"] = "job.activate"
    schema_version: Literal[1] = 1
    payload: JobCommandPayload


class DeactivateJob(JobCommand):
    """Deactivate a job."""

    type: Literal["job.deactivate"] = "job.deactivate"
    schema_version: Literal[1] = 1
    payload: JobCommandPayload


class DeleteJob(JobCommand):
    """Delete a job's definition and schedule."""

    type: Literal["job.delete"] = "job.delete"
    schema_version: Literal[1] = 1
    payload: JobCommandPayload


class RunJobNow(JobCommand):
    """Start a run of a job now, regardless of its schedule."""

    type: Literal["job.run_now"] = "job.run_now"
    schema_version: Literal[1] = 1
    payload: RunJobNowPayload


class CopyJob(JobCommand):
    """Copy an inactive, non-partner job under a new Job ID and the given name; the copy is inactive."""

    type: Literal["job.copy"] = "job.copy"
    schema_version: Literal[1] = 1
    payload: CopyJobPayload


class StopRun(JobCommand):
    """Ask a queued or running run of a job to stop."""

    type: Literal["run.stop"] = "run.stop"
    schema_version: Literal[1] = 1
    payload: StopRunPayload


class GroupTarget(Payload):
    """Base of payloads of commands on one existing group."""

    group_id: int


class CreateGroupPayload(Payload):
    """The new group's definition."""

    definition: GroupDefinition


class UpdateGroupPayload(GroupTarget):
    """The replacement definition and the group version it was based on (a stale one is refused)."""

    expected_version: int
    definition: GroupDefinition


class GroupCommandPayload(GroupTarget):
    """Names the group; `expected_version`, when given, must be the current one."""

    expected_version: int | None = None


class RunGroupNowPayload(GroupTarget):
    """The group to run; a repeated `idempotency_key` returns the first group run."""

    idempotency_key: str | None = None


class StopGroupRunPayload(GroupTarget):
    """The group run (`GroupID.RunID`) to stop."""

    run_id: int


class GroupCommand(Command):
    """Base of commands on one group, keyed by `group:<id>` (commands of one group are handled in order)."""

    payload: GroupTarget

    @property
    def partition_key(self) -> str:
        """The group id, apart from job ids."""
        return f"group:{self.payload.group_id}"


class CreateGroup(Command):
    """Create a group (it gets the next Group ID)."""

    type: Literal["group.create"] = "group.create"
    schema_version: Literal[1] = 1
    payload: CreateGroupPayload


class UpdateGroup(GroupCommand):
    """Replace a group's definition."""

    type: Literal["group.update"] = "group.update"
    schema_version: Literal[1] = 1
    payload: UpdateGroupPayload


class DeleteGroup(GroupCommand):
    """Delete a group; its jobs stay."""

    type: Literal["group.delete"] = "group.delete"
    schema_version: Literal[1] = 1
    payload: GroupCommandPayload


class RunGroupNow(GroupCommand):
    """Start a run of a group now."""

    type: Literal["group.run_now"] = "group.run_now"
    schema_version: Literal[1] = 1
    payload: RunGroupNowPayload


class StopGroupRun(GroupCommand):
    """Ask a running group run to stop."""

    type: Literal["group_run.stop"] = "group_run.stop"
    schema_version: Literal[1] = 1
    payload: StopGroupRunPayload


AnyCommand = Annotated[
    DefineTable
    | DefineAudience
    | UpdateAudience
    | DeleteAudience
    | DefineList
    | AddListColumn
    | DefinePet
    | AddPetColumn
    | CreateJob
    | UpdateJob
    | ActivateJob
    | DeactivateJob
    | DeleteJob
    | RunJobNow
    | CopyJob
    | StopRun
    | CreateGroup
    | UpdateGroup
    | DeleteGroup
    | RunGroupNow
    | StopGroupRun,
    Field(discriminator="type"),
]


class CommandAcceptedPayload(Payload):
    """What the accepted command produced: the aggregate it touched, for run-now the run, the validation
    errors a definition was saved with (it stays an inactive draft until they are fixed), and a job's state
    after the command."""

    command_id: UUID
    command_type: str
    target_type: str
    target_id: str
    target_version: int
    run_id: int | None = None
    errors: tuple[FieldError, ...] = ()
    state: Literal["active", "inactive"] | None = None


# `malformed`: the record names a command but does not decode as one (the errors name the failing fields).
# `internal`: the scheduler failed to decide the command for a reason of its own; nothing was stored.
# Codes are only ever added (ADR 0005): a consumer must treat one it does not know as a refusal.
RejectionCode = Literal["validation", "not_found", "conflict", "invalid_state", "malformed", "internal"]

# The precise reason of a refusal, for clients that act on it (the REST API's `reason`); only ever added to.
RefusalReason = Literal[
    "JOB_NOT_FOUND",
    "JOB_DELETED",
    "JOB_INACTIVE",
    "JOB_RUNNING",
    "JOB_HAS_ERRORS",
    "NAME_TAKEN",
    "STALE_VERSION",
    "COPY_REQUIRES_INACTIVE",
    "PARTNER_JOB_NOT_RUNNABLE",
    "PARTNER_JOB_NOT_COPYABLE",
    "TABLE_NOT_FOUND",
    "RUN_NOT_FOUND",
    "RUN_NOT_RUNNING",
    "EXPIRED",
    "INVALID_VALUE",
    "TABLE_EXISTS",
    "GROUP_NOT_FOUND",
    "GROUP_RUNNING",
    "GROUP_TOO_SMALL",
    "GROUP_MEMBER_NOT_FOUND",
    "GROUP_MEMBER_INACTIVE",
    "GROUP_MEMBER_NOT_ON_DEMAND",
    "GROUP_MEMBER_IN_OTHER_GROUP",
    "GROUP_MEMBER_REPEATED",
    "JOB_IN_GROUP",
    "CONCURRENT_CHANGE",
    "LIST_EXISTS",
    "LIST_NOT_FOUND",
    "PET_EXISTS",
    "PET_NOT_FOUND",
    "COLUMN_EXISTS",
    "AUDIENCE_EXISTS",
    "AUDIENCE_NOT_FOUND",
    "AUDIENCE_INVALID",
]


class CommandRejectedPayload(Payload):
    """Why the command was refused; nothing was stored."""

    command_id: UUID
    command_type: str
    code: RejectionCode
    message: str
    errors: tuple[FieldError, ...] = ()
    reason: RefusalReason | None = None


class ReplyEvent(Event):
    """Base of replies; the aggregate is the command itself (version 1)."""

    TOPIC: ClassVar[str] = REPLIES_TOPIC
    aggregate_type: Literal["command"] = "command"


class CommandAccepted(ReplyEvent):
    """The scheduler accepted a command and stored its events."""

    type: Literal["command.accepted"] = "command.accepted"
    schema_version: Literal[1] = 1
    payload: CommandAcceptedPayload


class CommandRejected(ReplyEvent):
    """The scheduler refused a command; nothing was stored."""

    type: Literal["command.rejected"] = "command.rejected"
    schema_version: Literal[1] = 1
    payload: CommandRejectedPayload


AnyReply = Annotated[CommandAccepted | CommandRejected, Field(discriminator="type")]
