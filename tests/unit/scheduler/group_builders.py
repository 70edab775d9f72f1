"""Builders for the group unit tests: group commands, definitions, the events a group's history is made of, and
member jobs in each state a group rule looks at."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from connect_events import (
    CreateGroup,
    CreateGroupPayload,
    Daily,
    Event,
    GroupCreated,
    GroupDefined,
    GroupDefinition,
    GroupDeleted,
    GroupDeletedPayload,
    GroupRunEnded,
    GroupRunEndedPayload,
    GroupRunMemberRequested,
    GroupRunMemberRequestedPayload,
    GroupRunRequested,
    GroupRunRequestedPayload,
    GroupRunStopRequested,
    GroupRunStopRequestedPayload,
    RunStatus,
    Schedule,
    group_run_key,
)
from connect_scheduler.domain.group_runs import MemberFacts
from connect_scheduler.domain.jobs import JobState, fold
from tests.unit.scheduler.scheduler_builders import (
    ACTOR,
    ON_DEMAND,
    T0,
    active_job,
    created,
    customers,
    deactivated,
    definition,
    deleted,
    meta,
    run_requested,
)

GROUP = 7
RUN_CORRELATION = UUID("00000000-0000-0000-0000-00000000c0de")
DAILY = Daily(time=datetime(2025, 3, 1, 6, 0).time(), time_zone="Europe/Paris")


def group_definition(
    members: tuple[int, ...] = (1, 2, 3),
    name: str = "Morning loads",
    *,
    schedule: Schedule = ON_DEMAND,
    **fields: Any,
) -> GroupDefinition:
    return GroupDefinition(name=name, members=members, schedule=schedule, **fields)


def create_group(group: GroupDefinition | None = None) -> CreateGroup:
    return CreateGroup(**meta(), payload=CreateGroupPayload(definition=group or group_definition()))


def _meta(aggregate_id: str, version: int, correlation_id: UUID | None = None) -> dict[str, Any]:
    return {
        "event_id": uuid4(),
        "aggregate_id": aggregate_id,
        "aggregate_version": version,
        "occurred_at": T0,
        "actor": ACTOR,
        "correlation_id": correlation_id or uuid4(),
        "causation_id": uuid4(),
    }


def group_created(group: GroupDefinition | None = None, group_id: int = GROUP) -> GroupCreated:
    payload = GroupDefined(group_id=group_id, definition=group or group_definition())
    return GroupCreated(**_meta(str(group_id), 1), payload=payload)


def group_deleted(version: int, group_id: int = GROUP) -> GroupDeleted:
    return GroupDeleted(**_meta(str(group_id), version), payload=GroupDeletedPayload(group_id=group_id))


def group_run_requested(
    run_id: int, members: tuple[int, ...] = (1, 2, 3), key: str | None = None, group_id: int = GROUP
) -> GroupRunRequested:
    payload = GroupRunRequestedPayload(
        group_id=group_id, run_id=run_id, group_name="Morning loads", members=members, idempotency_key=key
    )
    return GroupRunRequested(**_meta(group_run_key(group_id, run_id), 1, RUN_CORRELATION), payload=payload)


def member_requested(run_id: int, position: int, job_id: int, member_run_id: int, version: int) -> Event:
    payload = GroupRunMemberRequestedPayload(
        group_id=GROUP, run_id=run_id, position=position, job_id=job_id, member_run_id=member_run_id
    )
    return GroupRunMemberRequested(**_meta(group_run_key(GROUP, run_id), version, RUN_CORRELATION), payload=payload)


def group_stop_requested(run_id: int, version: int) -> Event:
    payload = GroupRunStopRequestedPayload(group_id=GROUP, run_id=run_id)
    return GroupRunStopRequested(**_meta(group_run_key(GROUP, run_id), version, RUN_CORRELATION), payload=payload)


def group_run_ended(run_id: int, version: int, status: RunStatus = RunStatus.SUCCEEDED) -> Event:
    payload = GroupRunEndedPayload(group_id=GROUP, run_id=run_id, status=status, started_at=T0, finished_at=T0)
    return GroupRunEnded(**_meta(group_run_key(GROUP, run_id), version, RUN_CORRELATION), payload=payload)


def at_member(position: int, member_run_id: int = 1, members: tuple[int, ...] = (1, 2, 3)) -> list[Event]:
    """A group of `members` whose run 1 has requested its members up to `position` (runs `member_run_id`)."""
    history: list[Event] = [group_created(group_definition(members)), group_run_requested(1, members)]
    for p in range(position + 1):
        history.append(member_requested(1, p, members[p], member_run_id, version=p + 2))
    return history


def job(job_id: int, *events: Event) -> JobState:
    """An active on-demand job with `events` after its activation."""
    state = fold(active_job(job_id, *events))
    assert state is not None
    return state


def jobs_state(*job_ids: int) -> Mapping[int, JobState | None]:
    return {job_id: job(job_id) for job_id in job_ids}


def scheduled_job(job_id: int) -> JobState:
    state = fold([created(job_id, definition(schedule=DAILY)), *active_job(job_id)[1:]])
    assert state is not None
    return state


def inactive_job(job_id: int) -> JobState:
    state = fold([*active_job(job_id), deactivated(job_id, 3)])
    assert state is not None
    return state


def deleted_job(job_id: int) -> JobState:
    state = fold([*active_job(job_id), deleted(job_id, 3)])
    assert state is not None
    return state


def facts(job_id: int, state: JobState | None = None, *, running: int | None = None, table: bool = True) -> MemberFacts:
    """A member ready to start unless told otherwise."""
    return MemberFacts(
        job_id=job_id,
        job=job(job_id) if state is None else state,
        target=customers() if table else None,
        running=running,
    )


def running_job(job_id: int, run_id: int) -> JobState:
    """A job whose runs up to `run_id` were requested."""
    return job(job_id, *(run_requested(job_id, r) for r in range(1, run_id + 1)))
