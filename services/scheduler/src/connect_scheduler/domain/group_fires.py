"""When a group next wakes the scheduler, and what it records then (spec §7.3: a group runs on its own schedule,
with the options of a job's, and expires like a job; its jobs stay).

Like a job (`domain/fires.py`), every live group has a due row (`group_slot`), which wakes the scheduler when the
group has something ahead and remembers the last fire recorded. When it comes due, `decide_group_due` records
the group deleted as expired; or, for a fire, a group run requested with its first member started at once, or
skipped when a group run is still in progress. Events of a fire take their ids from the group and the fire time
alone, so two scheduler instances never record one fire twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid5

from connect_events import (
    GroupDeleted,
    GroupDeletedPayload,
    GroupRunEnded,
    GroupRunEndedPayload,
    RunStatus,
    group_run_key,
)
from connect_runtime.messages import Causation
from connect_scheduler.domain.envelope import envelope
from connect_scheduler.domain.fires import MISSED_FIRES_LIMIT, SCHEDULER_ACTOR, Decision, Slot
from connect_scheduler.domain.group_runs import MemberFacts, request_group_run, start_next
from connect_scheduler.domain.groups import GroupState, evolve
from connect_scheduler.domain.schedules import missed_fires, next_fire, start_delay

# Namespaces of the deterministic ids of group fires and expirations (uuid5 of the group and the instant).
GROUP_FIRES = UUID("3d0b8a6e-9c41-4f7a-b2d5-6e8f1a3c5b72")
GROUP_EXPIRATIONS = UUID("a4e2c9d1-7b36-4a58-8f0e-1c9d3b5a7e64")
_JUST_BEFORE = timedelta(microseconds=1)


@dataclass(frozen=True)
class GroupDue:
    """A group's due row as a ticker claimed it."""

    group_id: int
    slot: Slot


def group_slot(group: GroupState, now: datetime, previous: Slot | None = None) -> Slot | None:
    """The group's due row after a change at `now`; None for a deleted group, which has none.

    `previous` is the row as it was. Its fire, if it has come but is not recorded yet, is kept while the schedule
    still has it, so an edit never swallows a fire. Otherwise the next fire is the first after `now` and after
    the last fire recorded: a command whose time lags behind the ticker's cannot bring a recorded fire back.
    """
    if group.deleted:
        return None
    schedule = group.definition.schedule
    last = previous.last_fire_at if previous else None
    if previous is not None and _still_pending(group, previous, now):
        fire = previous.fire_at
    else:
        fire = next_fire(schedule, now if last is None else max(now, last))
    due_at = None if fire is None else fire + start_delay(schedule, group_fire_key(group.group_id, fire))
    return Slot(fire_at=fire, due_at=due_at, expires_at=group_expiry(group), last_fire_at=last)


def group_expiry(group: GroupState) -> datetime | None:
    """The instant the group expires (UTC); None for never (a saved group's expiration always has an offset)."""
    expires_at = group.definition.expires_at
    return None if expires_at is None or expires_at.tzinfo is None else expires_at.astimezone(UTC)


def group_fire_is_due(group: GroupState | None, due: GroupDue, now: datetime) -> bool:
    """Whether the row's fire starts now for a live group that does not expire first."""
    if group is None or group.deleted or _expired(group, now):
        return False
    return due.slot.fire_at is not None and due.slot.due_at is not None and due.slot.due_at <= now


def decide_group_due(group: GroupState | None, due: GroupDue, first: MemberFacts | None, now: datetime) -> Decision:
    """What to record for a claimed group due row at `now`; `first` is the first member's facts when a fire is
    due (`group_fire_is_due`).

    Expiration wins over a fire due at the same time. A fire that meets a group run in progress is recorded
    skipped. After downtime a recurring group runs once, for its first missed fire, saying how many later ones
    it stands for.
    """
    if group is None or group.deleted:
        return Decision("gone")
    if _expired(group, now):
        return Decision("expired", (_expired_event(group, now),))
    fire_at = due.slot.fire_at
    if not group_fire_is_due(group, due, now) or fire_at is None:
        return Decision("rescheduled", slot=group_slot(group, now, due.slot))
    after = group_slot(group, now, Slot(None, None, None, last_fire_at=fire_at))
    next_run_at = after.fire_at if after else None
    causation = group_fire_causation(group.group_id, fire_at, now)
    if group.run is not None and group.run.in_progress:
        return Decision("skipped", (_skipped(group, fire_at, causation),), after)
    missed = missed_fires(group.definition.schedule, fire_at, now, MISSED_FIRES_LIMIT)
    requested = request_group_run(group, causation, trigger="schedule", fire=(fire_at, missed, next_run_at))
    events = (requested, *start_next(evolve(group, requested), first, causation, 1, now))
    return Decision("requested", events, after, missed)


def group_fire_key(group_id: int, fire_at: datetime) -> str:
    """Names one fire of one group, the same in every scheduler instance."""
    return f"group:{group_id}@{fire_at.astimezone(UTC).isoformat()}"


def group_fire_causation(group_id: int, fire_at: datetime, now: datetime) -> Causation:
    """The envelope source of a group fire's events: a fire starts its own correlation."""
    fire = uuid5(GROUP_FIRES, group_fire_key(group_id, fire_at))
    return Causation(actor=SCHEDULER_ACTOR, correlation_id=fire, causation_id=fire, occurred_at=now)


def _still_pending(group: GroupState, previous: Slot, now: datetime) -> bool:
    pending, last = previous.fire_at, previous.last_fire_at
    if pending is None or pending > now or (last is not None and pending <= last):
        return False
    return next_fire(group.definition.schedule, pending - _JUST_BEFORE) == pending


def _expired(group: GroupState, now: datetime) -> bool:
    expires_at = group_expiry(group)
    return expires_at is not None and expires_at <= now


def _expired_event(group: GroupState, now: datetime) -> GroupDeleted:
    expires_at = group_expiry(group)
    assert expires_at is not None
    key = uuid5(GROUP_EXPIRATIONS, f"{group.group_id}@{expires_at.isoformat()}")
    causation = Causation(actor=SCHEDULER_ACTOR, correlation_id=key, causation_id=key, occurred_at=now)
    payload = GroupDeletedPayload(group_id=group.group_id, reason="expired")
    return GroupDeleted(**envelope(causation, 0, str(group.group_id), group.version + 1), payload=payload)


def _skipped(group: GroupState, fire_at: datetime, causation: Causation) -> GroupRunEnded:
    """A group run born ended: its fire met the group run in progress, so none of its members start."""
    assert group.run is not None
    run_id = group.last_run_id + 1
    running = group_run_key(group.group_id, group.run.run_id)
    payload = GroupRunEndedPayload(
        group_id=group.group_id,
        run_id=run_id,
        status=RunStatus.SKIPPED,
        started_at=fire_at,
        finished_at=causation.occurred_at,
        error=f"group run {running} was still running",
    )
    return GroupRunEnded(**envelope(causation, 0, group_run_key(group.group_id, run_id), 1), payload=payload)
