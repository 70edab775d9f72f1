"""Given/when/then for the scheduler's clock: the due row after a change, and what a due row leads to."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid5

import pytest

from connect_events import (
    Cron,
    Daily,
    Event,
    JobDefinition,
    JobDeleted,
    OnDemand,
    OneTime,
    RunRequested,
    RunSkipped,
    Schedule,
    TableSpec,
)
from connect_scheduler.domain.fires import decide_due, fire_is_due, slot, timing
from connect_scheduler.domain.jobs import JobState, fold
from connect_scheduler.domain.slots import SCHEDULER_ACTOR, Decision, Due, Slot
from tests.unit.scheduler.scheduler_builders import (
    activated,
    created,
    customers,
    deactivated,
    definition,
    deleted,
    run_requested,
)

JOB = 7
NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
EVERY_MINUTE = Cron(expression="* * * * *")
MINUTE = timedelta(minutes=1)


def job(schedule: Schedule = EVERY_MINUTE, *, active: bool = True, **changes: Any) -> JobState:
    """A job with `schedule`, activated unless told otherwise."""
    history: list[Event] = [created(JOB, _definition(schedule, **changes))]
    if active:
        history.append(activated(JOB, 2))
    state = fold(history)
    assert state is not None
    return state


def _definition(schedule: Schedule, **changes: Any) -> JobDefinition:
    return definition().model_copy(update={"schedule": schedule, **changes})


def then(state: JobState, *events: Event) -> JobState:
    after = fold(events, state)
    assert after is not None
    return after


def due_row(state: JobState, at: datetime = NOON) -> Due:
    """The row of `state` as the ticker claims it when its fire at `at` has come (no start window)."""
    return Due(id=state.job_id, slot=Slot(at, at, None))


def fired(at: datetime) -> Slot:
    """A row after the fire at `at` was recorded, nothing ahead yet."""
    return Slot(None, None, None, last_fire_at=at)


def no_fire(expires_at: datetime | None = None) -> Due:
    return Due(id=JOB, slot=Slot(None, None, expires_at))


def when_due(
    state: JobState | None, row: Due, now: datetime, table: TableSpec | None = None, running: int | None = None
) -> Decision:
    return decide_due(state, row, customers() if table is None else table, running, now)


class TestSlot:
    def test_an_active_recurring_job_waits_for_its_next_fire(self) -> None:
        assert slot(job(), NOON + timedelta(seconds=20)) == Slot(NOON + MINUTE, NOON + MINUTE, None)

    def test_a_fire_exactly_now_is_not_the_next_one(self) -> None:
        assert slot(job(), NOON) == Slot(NOON + MINUTE, NOON + MINUTE, None)

    @pytest.mark.parametrize(
        "state",
        [job(active=False), job(OnDemand()), job(OneTime(at=datetime(2026, 3, 2, 11, 59)))],
        ids=["inactive", "on demand", "one time passed"],
    )
    def test_a_job_with_nothing_ahead_keeps_a_row_that_never_wakes(self, state: JobState) -> None:
        row = slot(state, NOON)

        assert row == Slot(None, None, None) and row.wake_at is None

    def test_an_inactive_job_keeps_its_expiration(self) -> None:
        expires_at = NOON + timedelta(days=3)

        assert slot(job(active=False, expires_at=expires_at), NOON) == Slot(None, None, expires_at)
        assert Slot(None, None, expires_at).wake_at == expires_at

    def test_a_deleted_job_has_no_row_even_with_an_expiration(self) -> None:
        state = then(job(expires_at=NOON + timedelta(days=3)), deleted(JOB, 3))

        assert slot(state, NOON) is None

    def test_an_expiration_without_an_offset_is_a_drafts_error_not_an_instant(self) -> None:
        assert slot(job(active=False, expires_at=datetime(2026, 3, 5, 12, 0)), NOON) == Slot(None, None, None)

    def test_a_one_time_schedule_ahead_fires_once_at_its_wall_time_in_its_zone(self) -> None:
        at = OneTime(at=datetime(2026, 3, 2, 14, 30), time_zone="Europe/Paris")
        fire = datetime(2026, 3, 2, 13, 30, tzinfo=UTC)

        assert slot(job(at), NOON) == Slot(fire, fire, None)
        assert slot(job(at), fire) == Slot(None, None, None)

    def test_the_start_window_delays_the_start_by_whole_minutes_the_same_everywhere(self) -> None:
        daily = Daily(time=time(13, 0), start_window=True)
        fire = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)

        row = slot(job(daily), NOON)

        assert row is not None and row.fire_at == fire and row.due_at is not None
        delay = row.due_at - fire
        assert timedelta(0) <= delay <= timedelta(minutes=14) and delay % MINUTE == timedelta(0)
        assert slot(job(daily), NOON + timedelta(seconds=1)) == row
        assert row.wake_at == row.due_at

    def test_the_earlier_of_fire_and_expiration_wakes_the_scheduler(self) -> None:
        row = slot(job(expires_at=NOON + timedelta(seconds=30)), NOON)

        assert row is not None and row.wake_at == NOON + timedelta(seconds=30)


class TestPendingFire:
    """An edit or a run-now while a fire has come but is not recorded yet must not swallow it."""

    def test_a_fire_not_yet_recorded_is_kept_while_the_schedule_still_has_it(self) -> None:
        edited = then(job(), activated(JOB, 3))

        assert slot(edited, NOON + timedelta(seconds=5), Slot(NOON, NOON, None)) == Slot(NOON, NOON, None)

    def test_a_fire_the_new_schedule_no_longer_has_is_dropped(self) -> None:
        hourly = job(Cron(expression="0 * * * *"))

        assert slot(hourly, NOON + timedelta(seconds=5), Slot(NOON - MINUTE, NOON - MINUTE, None)) == Slot(
            NOON + timedelta(hours=1), NOON + timedelta(hours=1), None
        )

    def test_a_future_fire_is_recomputed_so_an_earlier_one_the_edit_added_is_not_missed(self) -> None:
        later = NOON + timedelta(hours=1)

        assert slot(job(), NOON + timedelta(seconds=5), Slot(later, later, None)) == Slot(
            NOON + MINUTE, NOON + MINUTE, None
        )

    def test_an_inactive_job_drops_its_pending_fire(self) -> None:
        inactive = then(job(), deactivated(JOB, 3))

        assert slot(inactive, NOON + timedelta(seconds=5), Slot(NOON, NOON, None)) == Slot(None, None, None)


class TestRecordedFire:
    """A command's time is the time it was issued: it may lag behind the ticker's, which recorded fires since."""

    def test_a_lagging_change_never_brings_a_recorded_fire_back(self) -> None:
        row = Slot(NOON + MINUTE, NOON + MINUTE, None, last_fire_at=NOON)

        assert slot(job(), NOON - 2 * MINUTE, row) == row

    def test_reactivation_with_a_lagging_time_starts_after_the_last_fire_recorded(self) -> None:
        assert slot(job(), NOON - 2 * MINUTE, fired(NOON)) == Slot(NOON + MINUTE, NOON + MINUTE, None, NOON)

    def test_a_fire_recorded_is_no_longer_pending(self) -> None:
        row = Slot(NOON, NOON, None, last_fire_at=NOON)

        assert slot(job(), NOON + timedelta(seconds=5), row) == Slot(NOON + MINUTE, NOON + MINUTE, None, NOON)


class TestFire:
    def test_a_due_fire_requests_the_next_run_with_what_the_runner_needs(self) -> None:
        state = then(job(), run_requested(JOB, 1), run_requested(JOB, 2))
        now = NOON + timedelta(milliseconds=300)

        decision = when_due(state, due_row(state), now)

        assert decision.outcome == "requested"
        [event] = decision.events
        assert isinstance(event, RunRequested)
        assert (event.aggregate_id, event.aggregate_version, event.partition_key) == (f"{JOB}.3", 1, str(JOB))
        assert (event.actor, event.occurred_at) == (SCHEDULER_ACTOR, now)
        p = event.payload
        assert (p.job_id, p.run_id, p.trigger, p.idempotency_key, p.job_version) == (JOB, 3, "schedule", None, 2)
        assert (p.definition, p.table) == (state.definition, customers())
        assert (p.scheduled_for, p.missed_fires, p.next_run_at) == (NOON, 0, NOON + MINUTE)
        assert decision.slot == Slot(NOON + MINUTE, NOON + MINUTE, None, last_fire_at=NOON)

    def test_ids_come_from_the_job_and_the_fire_so_no_two_instances_record_it_twice(self) -> None:
        state = job()

        one = when_due(state, due_row(state), NOON + timedelta(seconds=1))
        other = when_due(state, due_row(state), NOON + timedelta(seconds=2))
        later = when_due(state, due_row(state, NOON + MINUTE), NOON + MINUTE)

        assert one.events[0].event_id == other.events[0].event_id != later.events[0].event_id
        assert one.events[0].correlation_id == timing(state).fire_causation(NOON, NOON).correlation_id

    def test_a_fire_that_meets_a_running_run_is_recorded_skipped_not_queued(self) -> None:
        state = then(job(), run_requested(JOB, 1))

        decision = when_due(state, due_row(state), NOON, running=1)

        assert decision.outcome == "skipped"
        [event] = decision.events
        assert isinstance(event, RunSkipped)
        assert (event.aggregate_id, event.aggregate_version, event.actor) == (f"{JOB}.2", 1, SCHEDULER_ACTOR)
        p = event.payload
        assert (p.run_id, p.running_run_id, p.scheduled_for, p.next_run_at) == (2, 1, NOON, NOON + MINUTE)
        assert p.job_name == state.definition.name
        assert decision.slot == Slot(NOON + MINUTE, NOON + MINUTE, None, last_fire_at=NOON)

    def test_a_skipped_run_takes_its_number(self) -> None:
        state = then(job(), run_requested(JOB, 1))
        skipped = when_due(state, due_row(state), NOON, running=1).events

        decision = when_due(then(state, *skipped), due_row(state, NOON + MINUTE), NOON + MINUTE)

        assert [e.aggregate_id for e in decision.events] == [f"{JOB}.3"]

    def test_after_downtime_one_run_stands_for_the_missed_fires(self) -> None:
        state = job()
        now = NOON + timedelta(minutes=5, seconds=30)

        decision = when_due(state, due_row(state), now)

        [event] = decision.events
        assert isinstance(event, RunRequested)
        assert (event.payload.scheduled_for, event.payload.missed_fires) == (NOON, 5)
        assert decision.missed_fires == 5
        assert decision.slot == Slot(NOON + 6 * MINUTE, NOON + 6 * MINUTE, None, last_fire_at=NOON)

    def test_a_one_time_job_fires_once_then_never_again(self) -> None:
        state = job(OneTime(at=datetime(2026, 3, 2, 12, 0)))

        decision = when_due(state, due_row(state), NOON)

        assert decision.outcome == "requested" and decision.slot == fired(NOON)
        assert slot(then(state, *decision.events), NOON - MINUTE, decision.slot) == fired(NOON)

    def test_a_missing_table_records_nothing_and_moves_to_the_next_fire(self) -> None:
        state = job()

        decision = decide_due(state, due_row(state), None, None, NOON)

        assert (decision.outcome, decision.events) == ("table_missing", ())
        assert decision.slot == Slot(NOON + MINUTE, NOON + MINUTE, None, last_fire_at=NOON)

    def test_an_inactive_job_never_fires(self) -> None:
        state = job(active=False)

        assert not fire_is_due(state, due_row(state), NOON)
        assert when_due(state, due_row(state), NOON) == Decision("rescheduled", slot=Slot(None, None, None))

    def test_a_fire_in_its_start_window_waits_for_its_minute_even_after_an_edit(self) -> None:
        state = job(Daily(time=time(12, 0), start_window=True))
        row = slot(state, NOON - MINUTE)
        assert row is not None and row.fire_at == NOON and row.due_at is not None and row.due_at > NOON + MINUTE

        assert when_due(state, Due(JOB, row), NOON + MINUTE) == Decision("rescheduled", slot=row)
        assert slot(then(state, activated(JOB, 3)), NOON + MINUTE, row) == row

    def test_a_job_deleted_or_never_created_loses_its_row(self) -> None:
        state = then(job(), deleted(JOB, 3))

        assert when_due(state, due_row(state), NOON) == Decision("gone")
        assert when_due(None, due_row(state), NOON) == Decision("gone")


class TestExpiration:
    def test_an_expired_job_is_deleted_with_reason_expired(self) -> None:
        expires_at = NOON - timedelta(seconds=1)
        state = job(Daily(time=time(18, 0)), expires_at=expires_at)

        decision = when_due(state, no_fire(), NOON)

        assert decision.outcome == "expired" and decision.slot is None
        [event] = decision.events
        assert isinstance(event, JobDeleted)
        assert (event.aggregate_id, event.aggregate_version, event.actor) == (str(JOB), 3, SCHEDULER_ACTOR)
        assert (event.payload.job_id, event.payload.reason) == (JOB, "expired")

    def test_expiration_wins_over_a_fire_due_at_the_same_time(self) -> None:
        state = job(expires_at=NOON)

        decision = when_due(state, due_row(state), NOON)

        assert [type(e) for e in decision.events] == [JobDeleted]
        assert not fire_is_due(state, due_row(state), NOON)

    def test_an_inactive_job_expires_too(self) -> None:
        state = job(active=False, expires_at=NOON)

        assert when_due(state, no_fire(), NOON).outcome == "expired"

    def test_an_expiration_ahead_is_only_a_reason_to_wake_later(self) -> None:
        state = job(active=False, expires_at=NOON + MINUTE)

        decision = when_due(state, no_fire(), NOON)

        assert decision == Decision("rescheduled", slot=Slot(None, None, NOON + MINUTE))

    def test_the_expiry_id_is_the_same_on_every_instance(self) -> None:
        state = job(expires_at=NOON)
        row = no_fire()

        assert when_due(state, row, NOON).events[0].event_id == when_due(state, row, NOON + MINUTE).events[0].event_id

    def test_fire_and_expiry_ids_are_named_by_the_job_and_the_instant_alone(self) -> None:
        state = job(expires_at=NOON + MINUTE)

        [requested] = when_due(state, due_row(state), NOON).events
        [deleted] = when_due(state, no_fire(NOON + MINUTE), NOON + MINUTE).events

        fire_name = f"{JOB}@{NOON.isoformat()}"
        assert requested.correlation_id == uuid5(UUID("6f1f6c52-34a8-4b83-9d0e-2f1b7c3a9e51"), fire_name)
        expiry_name = f"{JOB}@{(NOON + MINUTE).isoformat()}"
        assert deleted.correlation_id == uuid5(UUID("0c7e2d9a-8b5f-4e61-a3c4-5d2e8f1b6a70"), expiry_name)
