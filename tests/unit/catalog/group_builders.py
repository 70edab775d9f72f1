"""Group event builders for the catalog's unit tests: valid events with defaults, overridable per test."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal
from uuid import uuid4

from connect_events import (
    Daily,
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
    GroupUpdated,
    OnDemand,
    RunStatus,
    Schedule,
    group_run_key,
)
from tests.unit.catalog.catalog_builders import ACTOR, CORRELATION, T0

GROUP_ID = 31
GROUP_RUN_ID = 4
MEMBERS = (1042, 1043)
DAILY = Daily(time=T0.time())


def _envelope(aggregate_id: str, version: int, at: datetime, actor: str = ACTOR) -> dict[str, object]:
    return {
        "event_id": uuid4(), "aggregate_id": aggregate_id, "aggregate_version": version, "occurred_at": at,
        "actor": actor, "correlation_id": CORRELATION,
    }  # fmt: skip


def group_definition(
    name: str = "Nightly chain", members: tuple[int, ...] = MEMBERS, schedule: Schedule | None = None
) -> GroupDefinition:
    return GroupDefinition(name=name, description="in order", members=members, schedule=schedule or OnDemand())


def group_created(
    group_id: int = GROUP_ID,
    members: tuple[int, ...] = MEMBERS,
    at: datetime = T0,
    *,
    schedule: Schedule | None = None,
    next_run_at: datetime | None = None,
) -> GroupCreated:
    definition = group_definition(members=members, schedule=schedule)
    payload = GroupDefined(group_id=group_id, definition=definition, next_run_at=next_run_at)
    return GroupCreated(**_envelope(str(group_id), 1, at), payload=payload)


def group_updated(
    group_id: int = GROUP_ID,
    version: int = 2,
    members: tuple[int, ...] = MEMBERS,
    at: datetime = T0,
    name: str = "Renamed",
) -> GroupUpdated:
    payload = GroupDefined(group_id=group_id, definition=group_definition(name, members))
    return GroupUpdated(**_envelope(str(group_id), version, at), payload=payload)


def group_deleted(
    group_id: int = GROUP_ID, version: int = 2, at: datetime = T0, reason: Literal["user", "expired"] = "user"
) -> GroupDeleted:
    payload = GroupDeletedPayload(group_id=group_id, reason=reason)
    return GroupDeleted(**_envelope(str(group_id), version, at), payload=payload)


def group_run_requested(
    group_id: int = GROUP_ID,
    run_id: int = GROUP_RUN_ID,
    at: datetime = T0,
    *,
    scheduled_for: datetime | None = None,
    next_run_at: datetime | None = None,
    missed_fires: int = 0,
) -> GroupRunRequested:
    payload = GroupRunRequestedPayload(
        group_id=group_id, run_id=run_id, trigger="manual" if scheduled_for is None else "schedule",
        group_name="Nightly chain", members=MEMBERS, scheduled_for=scheduled_for, next_run_at=next_run_at,
        missed_fires=missed_fires,
    )  # fmt: skip
    return GroupRunRequested(**_envelope(group_run_key(group_id, run_id), 1, at), payload=payload)


def member_requested(
    position: int, member_run_id: int, version: int, group_id: int = GROUP_ID, run_id: int = GROUP_RUN_ID
) -> GroupRunMemberRequested:
    payload = GroupRunMemberRequestedPayload(
        group_id=group_id, run_id=run_id, position=position, job_id=MEMBERS[position], member_run_id=member_run_id
    )
    at = T0 + timedelta(minutes=position)
    return GroupRunMemberRequested(**_envelope(group_run_key(group_id, run_id), version, at), payload=payload)


def group_stop_requested(
    version: int, actor: str = "otto", run_id: int = GROUP_RUN_ID, group_id: int = GROUP_ID
) -> GroupRunStopRequested:
    payload = GroupRunStopRequestedPayload(group_id=group_id, run_id=run_id)
    return GroupRunStopRequested(**_envelope(group_run_key(group_id, run_id), version, T0, actor), payload=payload)


def group_run_ended(
    version: int,
    status: RunStatus = RunStatus.SUCCEEDED,
    run_id: int = GROUP_RUN_ID,
    *,
    failed: tuple[int, int | None] | None = None,
    error: str | None = None,
    started_at: datetime = T0,
    group_id: int = GROUP_ID,
    next_run_at: datetime | None = None,
) -> GroupRunEnded:
    failed_job_id, failed_run_id = failed or (None, None)
    payload = GroupRunEndedPayload(
        group_id=group_id, run_id=run_id, status=status, started_at=started_at,
        finished_at=started_at + timedelta(minutes=5), failed_job_id=failed_job_id, failed_run_id=failed_run_id,
        error=error, trigger="schedule" if next_run_at else None, next_run_at=next_run_at,
    )  # fmt: skip
    at = started_at + timedelta(minutes=5)
    return GroupRunEnded(**_envelope(group_run_key(group_id, run_id), version, at), payload=payload)
