"""Job events (topic `connect.jobs`, keyed by job id)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from connect_events.definitions import JobDefinition
from connect_events.envelope import Event, FieldError, Payload

JOBS_TOPIC = "connect.jobs"


class JobRef(Payload):
    """Payload naming the job; on activation and deactivation also its next fire (None: none scheduled)."""

    job_id: int
    next_run_at: datetime | None = None


class JobDefined(Payload):
    """Payload carrying the job's whole definition after the change.

    `errors` are the validation errors the definition was saved with (a draft: the job stays inactive until
    they are fixed); `next_run_at` the job's next fire once it is active; `copied_from` the job it copies.
    """

    job_id: int
    definition: JobDefinition
    errors: tuple[FieldError, ...] = ()
    next_run_at: datetime | None = None
    copied_from: int | None = None


class JobDeletedPayload(Payload):
    """Why a job was deleted."""

    job_id: int
    reason: Literal["user", "expired"] = "user"


class JobEvent(Event):
    """Base of job events."""

    TOPIC: ClassVar[str] = JOBS_TOPIC
    aggregate_type: Literal["job"] = "job"


class JobCreated(JobEvent):
    """A job was created (inactive) with its first definition."""

    type: Literal["job.created"] = "job.created"
    schema_version: Literal[1] = 1
    payload: JobDefined


class JobUpdated(JobEvent):
    """A job's definition was replaced; the next run uses it."""

    type: Literal["job.updated"] = "job.updated"
    schema_version: Literal[1] = 1
    payload: JobDefined


class JobActivated(JobEvent):
    """A job became active: its schedule fires and it may be run."""

    type: Literal["job.activated"] = "job.activated"
    schema_version: Literal[1] = 1
    payload: JobRef


class JobDeactivated(JobEvent):
    """A job became inactive: it never fires and cannot be run."""

    type: Literal["job.deactivated"] = "job.deactivated"
    schema_version: Literal[1] = 1
    payload: JobRef


class JobDeleted(JobEvent):
    """A job's definition and schedule were removed; its loaded data and run history stay."""

    type: Literal["job.deleted"] = "job.deleted"
    schema_version: Literal[1] = 1
    payload: JobDeletedPayload


AnyJobEvent = Annotated[
    JobCreated | JobUpdated | JobActivated | JobDeactivated | JobDeleted,
    Field(discriminator="type"),
]
