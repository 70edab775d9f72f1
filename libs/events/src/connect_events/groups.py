"""Group events (topic `connect.groups`, keyed by group id): group definitions and group runs.

A group is an ordered list of at least two active, on-demand, non-partner jobs, each in at most one group. A
group run (`GroupID.RunID`) runs its members one at a time in order, each as an ordinary run of its job
(`run.requested` with `trigger="group"` and the group run's ids); when one does not succeed the rest never
start and the group run ends *failed* (or *stopped*). The scheduler is the one writer of every event here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from connect_events.definitions import Notifications, OnDemand, Schedule
from connect_events.envelope import Event, FieldError, Message, Payload
from connect_events.runs import RunStatus, Trigger

GROUPS_TOPIC = "connect.groups"


def group_run_key(group_id: int, run_id: int) -> str:
    """The group run's display id and aggregate id, `GroupID.RunID`."""
    return f"{group_id}.{run_id}"


class GroupDefinition(Message):
    """Everything a user saves about a group: its members in running order."""

    name: str
    description: str = ""
    members: tuple[int, ...]
    schedule: Schedule = OnDemand()
    expires_at: datetime | None = None
    notifications: Notifications = Notifications()


class GroupDefined(Payload):
    """The group's whole definition after the change, and its next fire (None: none scheduled)."""

    group_id: int
    definition: GroupDefinition
    next_run_at: datetime | None = None


class GroupDeletedPayload(Payload):
    """Why a group was deleted; its jobs stay."""

    group_id: int
    reason: Literal["user", "expired"] = "user"


class GroupEvent(Event):
    """Base of group definition events."""

    TOPIC: ClassVar[str] = GROUPS_TOPIC
    aggregate_type: Literal["group"] = "group"


class GroupCreated(GroupEvent):
    """A group was created with its first definition."""

    type: Literal["group.created"] = "group.created"
    schema_version: Literal[1] = 1
    payload: GroupDefined


class GroupUpdated(GroupEvent):
    """A group's definition was replaced; its next run uses it."""

    type: Literal["group.updated"] = "group.updated"
    schema_version: Literal[1] = 1
    payload: GroupDefined


class GroupDeleted(GroupEvent):
    """A group was deleted (by a user or at its expiration); its jobs and run history stay."""

    type: Literal["group.deleted"] = "group.deleted"
    schema_version: Literal[1] = 1
    payload: GroupDeletedPayload


class GroupRunPayload(Payload):
    """Names the group run."""

    group_id: int
    run_id: int


class GroupRunRequestedPayload(GroupRunPayload):
    """A group run was asked for: its members in order, frozen at request time."""

    trigger: Trigger = "manual"
    group_name: str
    members: tuple[int, ...]
    idempotency_key: str | None = None
    scheduled_for: datetime | None = None
    missed_fires: int = 0
    next_run_at: datetime | None = None


class GroupRunMemberRequestedPayload(GroupRunPayload):
    """The group run started its member at `position` (0-based) as run `job_id.member_run_id`."""

    position: int
    job_id: int
    member_run_id: int


class GroupRunStopRequestedPayload(GroupRunPayload):
    """A user asked the group run to stop: the running member is stopped and the rest do not start."""


class GroupRunEndedPayload(GroupRunPayload):
    """How the group run ended; `failed_job_id` names the member that did not succeed, with its words. A skipped
    run (born ended: its fire met a group run in progress) also says its trigger and the group's next fire."""

    status: RunStatus
    started_at: datetime
    finished_at: datetime
    failed_job_id: int | None = None
    failed_run_id: int | None = None
    error: str | None = None
    errors: tuple[FieldError, ...] = ()
    trigger: Trigger | None = None
    next_run_at: datetime | None = None


class GroupRunEvent(Event):
    """Base of group run events (aggregate `group_run`, id `GroupID.RunID`), keyed by the group id."""

    TOPIC: ClassVar[str] = GROUPS_TOPIC
    aggregate_type: Literal["group_run"] = "group_run"

    @property
    def partition_key(self) -> str:
        """Keyed by the group, so a group's runs stay in order with its definition events."""
        return self.aggregate_id.split(".", 1)[0]


class GroupRunRequested(GroupRunEvent):
    """A group run was requested (run now or schedule); its first member starts at once."""

    type: Literal["group_run.requested"] = "group_run.requested"
    schema_version: Literal[1] = 1
    payload: GroupRunRequestedPayload


class GroupRunMemberRequested(GroupRunEvent):
    """The group run requested the run of its next member."""

    type: Literal["group_run.member_requested"] = "group_run.member_requested"
    schema_version: Literal[1] = 1
    payload: GroupRunMemberRequestedPayload


class GroupRunStopRequested(GroupRunEvent):
    """A user asked the group run to stop."""

    type: Literal["group_run.stop_requested"] = "group_run.stop_requested"
    schema_version: Literal[1] = 1
    payload: GroupRunStopRequestedPayload


class GroupRunEnded(GroupRunEvent):
    """The group run ended: succeeded (every member did), failed, stopped or skipped (a fire met it running)."""

    type: Literal["group_run.ended"] = "group_run.ended"
    schema_version: Literal[1] = 1
    payload: GroupRunEndedPayload


AnyGroupEvent = Annotated[
    GroupCreated
    | GroupUpdated
    | GroupDeleted
    | GroupRunRequested
    | GroupRunMemberRequested
    | GroupRunStopRequested
    | GroupRunEnded,
    Field(discriminator="type"),
]
