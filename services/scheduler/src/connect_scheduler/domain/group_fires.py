"""What a group's due row holds and what the group records when it comes due (spec §7.3: a group runs on its own
schedule, with the options of a job's, and expires like a job; its jobs stay).

Like a job's, every live group's due row follows `domain/slots.py`. When it comes due, `decide_group_due`
records the group deleted as expired; or, for a fire, a group run requested with its first member started at
once, or skipped when a group run is still in progress.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from connect_events import (
    GroupDeleted,
    GroupDeletedPayload,
    GroupRunEnded,
    GroupRunEndedPayload,
    RunStatus,
    group_run_key,
)
from connect_runtime.messages import Causation
from connect_scheduler.domain import slots
from connect_scheduler.domain.envelope import envelope
from connect_scheduler.domain.group_runs import MemberFacts, request_group_run, start_next
from connect_scheduler.domain.groups import GroupState, evolve
from connect_scheduler.domain.slots import Decision, Due, Fire, Slot, Timing, due_now, fire_starts


def group_timing(group: GroupState) -> Timing:
    """What the group's row follows: its schedule and its expiration."""
    definition = group.definition
    return Timing("group", group.group_id, definition.schedule, slots.expiry(definition.expires_at))


def group_slot(group: GroupState, now: datetime, previous: Slot | None = None) -> Slot | None:
    """The group's due row after a change at `now` (`slots.slot`); None for a deleted group, which has none."""
    return None if group.deleted else slots.slot(group_timing(group), now, previous)


def group_fire_is_due(group: GroupState | None, due: Due, now: datetime) -> bool:
    """Whether the row's fire starts now for a live group that does not expire first."""
    return group is not None and not group.deleted and fire_starts(group_timing(group), due.slot, now)


def decide_group_due(group: GroupState | None, due: Due, first: MemberFacts | None, now: datetime) -> Decision:
    """What to record for a claimed group due row at `now` (`slots.due_now`); `first` is the first member's
    facts when a fire is due (`group_fire_is_due`).

    The group is deleted at its expiration. A fire that meets a group run in progress is recorded skipped;
    after downtime one group run stands for the missed fires.
    """
    if group is None or group.deleted:
        return Decision("gone")
    fire = due_now(group_timing(group), due.slot, now, partial(_expired, group))
    if isinstance(fire, Decision):
        return fire
    if group.run is not None and group.run.in_progress:
        return Decision("skipped", (_skipped(group, fire),), fire.after)
    facts = (fire.at, fire.missed, fire.next_run_at)
    requested = request_group_run(group, fire.causation, trigger="schedule", fire=facts)
    events = (requested, *start_next(evolve(group, requested), first, fire.causation, 1, now))
    return Decision("requested", events, fire.after, fire.missed)


def _expired(group: GroupState, causation: Causation) -> GroupDeleted:
    payload = GroupDeletedPayload(group_id=group.group_id, reason="expired")
    return GroupDeleted(**envelope(causation, 0, str(group.group_id), group.version + 1), payload=payload)


def _skipped(group: GroupState, fire: Fire) -> GroupRunEnded:
    """A group run born ended: its fire met the group run in progress, so none of its members start."""
    assert group.run is not None
    run_id = group.last_run_id + 1
    running = group_run_key(group.group_id, group.run.run_id)
    payload = GroupRunEndedPayload(
        group_id=group.group_id,
        run_id=run_id,
        status=RunStatus.SKIPPED,
        started_at=fire.at,
        finished_at=fire.causation.occurred_at,
        error=f"group run {running} was still running",
        trigger="schedule",
        next_run_at=fire.next_run_at,
    )
    return GroupRunEnded(**envelope(fire.causation, 0, group_run_key(group.group_id, run_id), 1), payload=payload)
