"""Given/when/then for scheduled groups: the due row after a change, and what a due row leads to (a group run
with its first member, a skip, an expiry), with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid5

from connect_events import (
    Event,
    GroupDeleted,
    GroupRunEnded,
    GroupRunMemberRequested,
    GroupRunRequested,
    RunRequested,
    RunStatus,
)
from connect_scheduler.domain.group_fires import (
    decide_group_due,
    group_fire_is_due,
    group_slot,
    group_timing,
)
from connect_scheduler.domain.groups import GroupState, fold
from connect_scheduler.domain.slots import Due, Slot
from tests.unit.scheduler.group_builders import (
    DAILY,
    GROUP,
    facts,
    group_created,
    group_definition,
    group_deleted,
    group_run_requested,
    inactive_job,
)
from tests.unit.scheduler.scheduler_builders import T0

# DAILY fires at 06:00 in Paris: 05:00 UTC in March.
FIRE = datetime(2025, 3, 2, 5, 0, tzinfo=UTC)
NEXT = FIRE + timedelta(days=1)


def scheduled(*events: Event, **fields: object) -> GroupState:
    state = fold([group_created(group_definition(**{"schedule": DAILY, **fields})), *events])  # type: ignore[arg-type]
    assert state is not None
    return state


def due(fire_at: datetime | None = FIRE, due_at: datetime | None = FIRE) -> Due:
    return Due(id=GROUP, slot=Slot(fire_at, due_at, None))


class TestGroupSlot:
    def test_an_on_demand_group_has_a_row_that_never_wakes(self) -> None:
        state = fold([group_created()])
        assert state is not None
        row = group_slot(state, T0)
        assert row == Slot(None, None, None)
        assert row.wake_at is None

    def test_a_scheduled_group_wakes_at_its_next_fire(self) -> None:
        row = group_slot(scheduled(), T0)
        assert row is not None
        assert (row.fire_at, row.due_at, row.wake_at) == (FIRE, FIRE, FIRE)

    def test_an_expiration_wakes_it_first(self) -> None:
        expires_at = T0 + timedelta(hours=1)
        row = group_slot(scheduled(expires_at=expires_at), T0)
        assert row is not None
        assert (row.expires_at, row.wake_at) == (expires_at, expires_at)

    def test_a_start_window_delays_the_fire_by_whole_minutes_under_15(self) -> None:
        row = group_slot(scheduled(schedule=DAILY.model_copy(update={"start_window": True})), T0)
        assert row is not None and row.due_at is not None
        delay = row.due_at - FIRE
        assert timedelta(0) <= delay < timedelta(minutes=15) and delay.seconds % 60 == 0

    def test_a_deleted_group_has_no_row(self) -> None:
        assert group_slot(scheduled(group_deleted(2)), T0) is None

    def test_a_fire_that_came_but_is_not_recorded_is_kept_by_an_edit(self) -> None:
        late = FIRE + timedelta(seconds=30)
        row = group_slot(scheduled(), late, Slot(FIRE, FIRE, None))
        assert row is not None and row.fire_at == FIRE

    def test_a_recorded_fire_never_comes_back(self) -> None:
        lagging = FIRE - timedelta(minutes=1)  # a command whose time lags behind the ticker's
        row = group_slot(scheduled(), lagging, Slot(NEXT, NEXT, None, last_fire_at=FIRE))
        assert row is not None
        assert (row.fire_at, row.last_fire_at) == (NEXT, FIRE)


class TestDecideGroupDue:
    def test_a_due_fire_requests_a_group_run_and_starts_its_first_member(self) -> None:
        now = FIRE + timedelta(seconds=2)
        state = scheduled()
        assert group_fire_is_due(state, due(), now)

        decision = decide_group_due(state, due(), facts(1), now)

        requested, member_run, member = decision.events
        causation = group_timing(scheduled()).fire_causation(FIRE, now)
        assert isinstance(requested, GroupRunRequested)
        assert (requested.aggregate_id, requested.event_id, requested.actor) == (
            "7.1",
            causation.event_id(0),
            "scheduler",
        )
        p = requested.payload
        assert (p.trigger, p.scheduled_for, p.missed_fires, p.next_run_at) == ("schedule", FIRE, 0, NEXT)
        assert isinstance(member_run, RunRequested)
        assert (member_run.aggregate_id, member_run.payload.trigger, member_run.correlation_id) == (
            "1.1",
            "group",
            causation.correlation_id,
        )
        assert isinstance(member, GroupRunMemberRequested)
        assert decision.outcome == "requested"
        assert decision.slot == Slot(NEXT, NEXT, None, last_fire_at=FIRE)

    def test_two_instances_record_one_fire_with_the_same_ids(self) -> None:
        now = FIRE + timedelta(seconds=2)
        first = decide_group_due(scheduled(), due(), facts(1), now)
        second = decide_group_due(scheduled(), due(), facts(1), now + timedelta(seconds=1))
        assert [e.event_id for e in first.events] == [e.event_id for e in second.events]

    def test_a_fire_that_meets_a_group_run_in_progress_is_skipped(self) -> None:
        state = scheduled(group_run_requested(1))

        decision = decide_group_due(state, due(), None, FIRE)

        [skipped] = decision.events
        assert isinstance(skipped, GroupRunEnded)
        assert (skipped.aggregate_id, skipped.aggregate_version) == ("7.2", 1)
        p = skipped.payload
        assert (p.status, p.started_at, p.error) == (RunStatus.SKIPPED, FIRE, "group run 7.1 was still running")
        assert (p.trigger, p.next_run_at) == ("schedule", NEXT)
        assert (decision.outcome, decision.slot) == ("skipped", Slot(NEXT, NEXT, None, last_fire_at=FIRE))
        after = fold([skipped], state)
        assert after is not None and after.run is not None
        assert (after.last_run_id, after.run.run_id, after.run.in_progress) == (2, 1, True)

    def test_after_downtime_one_group_run_stands_for_the_missed_fires(self) -> None:
        now = FIRE + timedelta(days=2, hours=1)
        decision = decide_group_due(scheduled(), due(), facts(1), now)
        requested = decision.events[0]
        assert isinstance(requested, GroupRunRequested)
        assert (requested.payload.scheduled_for, requested.payload.missed_fires) == (FIRE, 2)
        assert decision.missed_fires == 2
        assert decision.slot is not None and decision.slot.fire_at == FIRE + timedelta(days=3)

    def test_a_first_member_that_cannot_start_fails_the_scheduled_group_run(self) -> None:
        decision = decide_group_due(scheduled(), due(), facts(1, inactive_job(1)), FIRE)
        requested, ended = decision.events
        assert isinstance(requested, GroupRunRequested)
        assert isinstance(ended, GroupRunEnded)
        assert (ended.payload.status, ended.payload.error) == (
            RunStatus.FAILED,
            "member 1 could not start: job 1 is inactive",
        )

    def test_an_expired_group_is_deleted_with_reason_expired(self) -> None:
        expires_at = FIRE
        decision = decide_group_due(scheduled(expires_at=expires_at), due(), None, expires_at)
        [deleted] = decision.events
        assert isinstance(deleted, GroupDeleted)
        assert (deleted.aggregate_version, deleted.payload.reason, deleted.actor) == (2, "expired", "scheduler")
        assert (decision.outcome, decision.slot) == ("expired", None)
        again = decide_group_due(scheduled(expires_at=expires_at), due(), None, expires_at + timedelta(seconds=1))
        assert again.events[0].event_id == deleted.event_id

    def test_fire_and_expiry_ids_are_named_by_the_group_and_the_instant_alone(self) -> None:
        expires_at = FIRE + timedelta(minutes=1)
        state = scheduled(expires_at=expires_at)

        requested = decide_group_due(state, due(), facts(1), FIRE).events[0]
        [deleted] = decide_group_due(state, due(), None, expires_at).events

        fire_name = f"group:{GROUP}@{FIRE.isoformat()}"
        assert requested.correlation_id == uuid5(UUID("3d0b8a6e-9c41-4f7a-b2d5-6e8f1a3c5b72"), fire_name)
        expiry_name = f"{GROUP}@{expires_at.isoformat()}"
        assert deleted.correlation_id == uuid5(UUID("a4e2c9d1-7b36-4a58-8f0e-1c9d3b5a7e64"), expiry_name)

    def test_a_row_not_yet_due_is_rescheduled(self) -> None:
        decision = decide_group_due(scheduled(), due(due_at=FIRE + timedelta(minutes=3)), None, FIRE)
        assert (decision.outcome, decision.events) == ("rescheduled", ())
        assert decision.slot is not None and decision.slot.fire_at == FIRE

    def test_a_deleted_group_is_gone(self) -> None:
        assert decide_group_due(scheduled(group_deleted(2)), due(), None, FIRE).outcome == "gone"
        assert decide_group_due(None, due(), None, FIRE).outcome == "gone"
