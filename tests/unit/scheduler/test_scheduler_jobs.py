"""Given/when/then for the job aggregate: create (drafts included), update, copy, activate, deactivate, delete."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import TypeVar

import pytest

from connect_events import (
    ActivateJob,
    CopyJob,
    CopyJobPayload,
    CreateJob,
    CreateJobPayload,
    Daily,
    DeactivateJob,
    DeleteJob,
    Event,
    JobActivated,
    JobCommandPayload,
    JobCreated,
    JobDeactivated,
    JobDefinition,
    JobDeleted,
    JobUpdated,
    OneTime,
    TableSpec,
    UpdateJob,
    UpdateJobPayload,
)
from connect_events.values import STORABLE
from connect_scheduler.domain import jobs
from connect_scheduler.domain.jobs import (
    JobState,
    UnexpectedEventError,
    decide_activate_job,
    decide_copy_job,
    decide_create_job,
    decide_deactivate_job,
    decide_delete_job,
    decide_update_job,
    evolve,
    fold,
    name_taken_late,
    saved_errors,
)
from connect_scheduler.domain.rejection import MAX_ERRORS, Rejected
from tests.unit.scheduler.scheduler_builders import (
    ACTOR,
    T0,
    activated,
    active_job,
    causation,
    created,
    customers,
    deactivated,
    definition,
    deleted,
    meta,
    run_requested,
    skipped,
    stop_requested,
)

JOB = 42
COPY = 43
C = TypeVar("C", ActivateJob, DeactivateJob, DeleteJob)
# Daily at 06:30 in Paris (UTC+1 in March): after T0 (09:30 UTC on 1 March) it next fires on 2 March, 05:30 UTC.
PARIS_MORNINGS = Daily(time=time(6, 30), time_zone="Europe/Paris")
NEXT_PARIS_MORNING = datetime.fromisoformat("2025-03-02T05:30:00+00:00")


def create(job: JobDefinition | None = None, *, activate: bool = False) -> CreateJob:
    return CreateJob(**meta(), payload=CreateJobPayload(definition=job or definition(), activate=activate))


def update(expected_version: int, job: JobDefinition | None = None) -> UpdateJob:
    payload = UpdateJobPayload(job_id=JOB, expected_version=expected_version, definition=job or definition("Renamed"))
    return UpdateJob(**meta(), payload=payload)


def copy(name: str = "Copy of nightly") -> CopyJob:
    return CopyJob(**meta(), payload=CopyJobPayload(job_id=JOB, name=name))


def job_command(cls: type[C], expected_version: int | None = None) -> C:
    return cls(**meta(), payload=JobCommandPayload(job_id=JOB, expected_version=expected_version))


def when_created(
    job: JobDefinition | None = None,
    *,
    activate: bool = False,
    table: TableSpec | None = None,
    owner: int | None = None,
) -> list[Event]:
    cmd = create(job, activate=activate)
    return decide_create_job(JOB, cmd, table or customers(), owner, T0, causation(cmd))


def when_updated(history: list[Event], cmd: UpdateJob, *, owner: int | None = None, now: datetime = T0) -> list[Event]:
    return decide_update_job(fold(history), cmd, customers(), owner, now, causation(cmd))


def when_copied(
    history: list[Event], cmd: CopyJob | None = None, *, table: TableSpec | None = None, owner: int | None = None
) -> list[Event]:
    cmd = cmd or copy()
    return decide_copy_job(fold(history), cmd, COPY, table, owner, T0, causation(cmd))


def activate(state: JobState | None, expected_version: int | None = None, *, now: datetime = T0) -> list[Event]:
    cmd = job_command(ActivateJob, expected_version)
    return decide_activate_job(state, cmd, customers(), now, causation(cmd))


def deactivate(state: JobState | None, expected_version: int | None = None) -> list[Event]:
    cmd = job_command(DeactivateJob, expected_version)
    return decide_deactivate_job(state, cmd, causation(cmd))


def delete(state: JobState | None, expected_version: int | None = None) -> list[Event]:
    cmd = job_command(DeleteJob, expected_version)
    return decide_delete_job(state, cmd, causation(cmd))


def refused(decide: Callable[[], object]) -> Rejected:
    with pytest.raises(Rejected) as caught:
        decide()
    return caught.value


def answer(rejection: Rejected) -> tuple[object, ...]:
    return (rejection.code, rejection.reason, rejection.message, rejection.errors)


def fields(rejection_or_events: Rejected | list[Event]) -> list[str]:
    if isinstance(rejection_or_events, Rejected):
        return [e.field for e in rejection_or_events.errors]
    return [e.field for e in saved_errors(rejection_or_events)]


class TestCreateJob:
    def test_creates_an_inactive_job_under_the_given_id(self) -> None:
        cmd = create()

        [event] = decide_create_job(JOB, cmd, customers(), None, T0, causation(cmd))

        assert isinstance(event, JobCreated)
        assert (event.aggregate_type, event.aggregate_id, event.aggregate_version) == ("job", "42", 1)
        assert (event.payload.job_id, event.payload.definition) == (JOB, definition())
        assert (event.payload.errors, event.payload.next_run_at, event.payload.copied_from) == ((), None, None)
        assert (event.event_id, event.causation_id) == (causation(cmd).event_id(0), cmd.command_id)
        assert (event.actor, event.occurred_at, event.correlation_id) == (ACTOR, T0, cmd.correlation_id)
        state = fold([event])
        assert state is not None
        assert (state.job_id, state.version, state.active) == (JOB, 1, False)

    def test_activate_flag_also_activates_it_with_its_next_fire(self) -> None:
        cmd = create(definition(schedule=PARIS_MORNINGS), activate=True)

        events = decide_create_job(JOB, cmd, customers(), None, T0, causation(cmd))

        assert [type(e) for e in events] == [JobCreated, JobActivated]
        assert [e.aggregate_version for e in events] == [1, 2]
        assert events[1].event_id == causation(cmd).event_id(1)
        assert isinstance(events[1], JobActivated)
        assert events[1].payload.next_run_at == NEXT_PARIS_MORNING
        state = fold(events)
        assert state is not None
        assert (state.version, state.active) == (2, True)

    def test_an_on_demand_job_has_no_next_fire(self) -> None:
        [_, event] = when_created(activate=True)
        assert isinstance(event, JobActivated)
        assert event.payload.next_run_at is None

    def test_a_definition_with_errors_is_kept_as_an_inactive_draft_with_all_of_them(self) -> None:
        job = definition(
            mapping=(("id", "nope"),),
            port=0,
            schedule=Daily(time=time(6, 30), time_zone="Mars/Olympus"),
            expires_at=T0 - timedelta(minutes=1),
        )

        events = when_created(job, activate=True)  # asked to activate: it cannot be, it stays a draft

        assert [type(e) for e in events] == [JobCreated]
        assert fields(events) == [
            "settings.source.port",
            "settings.mapping[0].target",
            "settings.mapping",
            "schedule.time_zone",
            "expires_at",
        ]
        state = fold(events)
        assert state is not None
        assert state.active is False

    def test_a_drafts_errors_stay_few_enough_for_the_bus(self) -> None:
        job = definition(mapping=(("id", "id"), *((f"c{i}", f"nope{i}") for i in range(150))))
        errors = saved_errors(when_created(job))
        assert len(errors) == MAX_ERRORS
        assert errors[-1].message == "… and 51 more errors"

    def test_a_missing_table_is_a_draft_error(self) -> None:
        cmd = create()
        [event] = decide_create_job(JOB, cmd, None, None, T0, causation(cmd))
        assert [(e.field, e.message) for e in saved_errors([event])] == [("settings.table", "no table named Customers")]

    def test_a_name_held_by_another_job_is_refused_with_every_error(self) -> None:
        rejection = refused(lambda: when_created(definition("NIGHTLY customers", port=0), owner=7))

        assert (rejection.code, rejection.reason) == ("validation", "NAME_TAKEN")
        assert rejection.message == "the job has 2 error(s)"
        assert [(e.field, e.message) for e in rejection.errors] == [
            ("settings.source.port", "must be 1 to 65535"),
            ("name", "a job named NIGHTLY customers already exists"),
        ]

    def test_a_name_breaking_the_rule_is_refused(self) -> None:
        rejection = refused(lambda: when_created(definition("bad/name", port=0)))
        assert (rejection.code, rejection.reason) == ("validation", "JOB_HAS_ERRORS")
        assert fields(rejection) == ["name", "settings.source.port"]

    @pytest.mark.parametrize(
        ("job", "field"),
        [
            (definition(path="in\x00.csv"), "settings.source.path"),
            (definition(description="\ud800"), "description"),
            (definition(schedule=Daily(time=time(6, 30), time_zone="UTC\x00")), "schedule.time_zone"),
        ],
        ids=["NUL in a path", "lone surrogate in the description", "NUL in a time zone"],
    )
    def test_a_text_postgres_cannot_hold_is_refused(self, job: JobDefinition, field: str) -> None:
        rejection = refused(lambda: when_created(job))
        assert (rejection.code, rejection.reason) == ("validation", "JOB_HAS_ERRORS")
        assert field in fields(rejection)
        assert len(set(fields(rejection))) == len(rejection.errors)  # each field named once

    def test_a_text_no_rule_looks_at_is_still_refused_when_unstorable(self) -> None:
        job = definition(host_key_fingerprint="SHA256:\x00")
        rejection = refused(lambda: when_created(job))
        assert [(e.field, e.message) for e in rejection.errors] == [("settings.source.host_key_fingerprint", STORABLE)]


class TestNameTakenLate:
    """A name claimed by another job after it was checked is refused exactly as a name seen taken."""

    def test_a_create_answers_like_a_create_seeing_the_name_taken(self) -> None:
        job = definition("NIGHTLY customers", port=0)
        seen = refused(lambda: when_created(job, owner=7))
        saved = when_created(job)

        late = name_taken_late("NIGHTLY customers", saved_errors(saved))

        assert answer(late) == answer(seen)

    def test_an_update_answers_like_an_update_seeing_the_name_taken(self) -> None:
        cmd = update(1, definition("Other"))
        seen = refused(lambda: when_updated([created(JOB)], cmd, owner=7))

        late = name_taken_late("Other", (), JOB)

        assert answer(late) == answer(seen)


class TestUpdateJob:
    def test_replaces_the_definition_of_an_active_job_and_gives_its_next_fire(self) -> None:
        cmd = update(2, definition("Renamed", schedule=PARIS_MORNINGS))

        [event] = when_updated(active_job(JOB, run_requested(JOB, 1)), cmd)

        assert isinstance(event, JobUpdated)
        assert event.aggregate_version == 3  # run requests do not count as job versions
        assert event.payload.definition == definition("Renamed", schedule=PARIS_MORNINGS)
        assert (event.payload.errors, event.payload.next_run_at) == ((), NEXT_PARIS_MORNING)

    def test_an_inactive_job_has_no_next_fire(self) -> None:
        [event] = when_updated([created(JOB)], update(1, definition(schedule=PARIS_MORNINGS)))
        assert isinstance(event, JobUpdated)
        assert event.payload.next_run_at is None

    def test_an_inactive_job_may_become_a_draft(self) -> None:
        [event] = when_updated([created(JOB)], update(1, definition(port=0)))
        assert isinstance(event, JobUpdated)
        assert fields([event]) == ["settings.source.port"]

    def test_an_active_job_takes_no_definition_with_errors(self) -> None:
        rejection = refused(lambda: when_updated(active_job(JOB), update(2, definition(port=0))))

        assert (rejection.code, rejection.reason) == ("validation", "JOB_HAS_ERRORS")
        assert rejection.message == "job 42 is active and the new definition has 1 error(s); deactivate it first"
        assert fields(rejection) == ["settings.source.port"]

    def test_an_active_job_whose_expiration_has_passed_takes_no_edit_keeping_it(self) -> None:
        job = definition(expires_at=T0 + timedelta(hours=1))
        cmd = update(2, job)
        rejection = refused(lambda: when_updated(active_job(JOB), cmd, now=T0 + timedelta(hours=2)))
        assert fields(rejection) == ["expires_at"]

    @pytest.mark.parametrize("stale", [0, 1, 3])
    def test_a_stale_expected_version_is_a_conflict(self, stale: int) -> None:
        rejection = refused(lambda: when_updated(active_job(JOB), update(expected_version=stale)))

        assert (rejection.code, rejection.reason) == ("conflict", "STALE_VERSION")
        assert rejection.message == f"job 42 is at version 2, not {stale}"

    def test_keeping_its_own_name_in_another_case_is_fine(self) -> None:
        assert len(when_updated([created(JOB)], update(1, definition("NIGHTLY CUSTOMERS")), owner=JOB)) == 1

    def test_taking_another_jobs_name_is_refused(self) -> None:
        rejection = refused(lambda: when_updated([created(JOB)], update(1, definition("Other")), owner=7))
        assert (rejection.reason, fields(rejection)) == ("NAME_TAKEN", ["name"])

    def test_a_name_breaking_the_rule_is_refused_with_all_errors(self) -> None:
        rejection = refused(lambda: when_updated([created(JOB)], update(1, definition("bad/name", port=0))))
        assert (rejection.code, rejection.reason, fields(rejection)) == (
            "validation",
            "JOB_HAS_ERRORS",
            ["name", "settings.source.port"],
        )


class TestCopyJob:
    def test_copies_an_inactive_job_under_a_new_id_and_the_given_name(self) -> None:
        cmd = copy("Copy of nightly")
        history = [created(JOB, definition(schedule=PARIS_MORNINGS)), run_requested(JOB, 1)]

        [event] = when_copied(history, cmd, table=customers())

        assert isinstance(event, JobCreated)
        assert (event.aggregate_id, event.aggregate_version, event.event_id) == ("43", 1, causation(cmd).event_id(0))
        p = event.payload
        assert (p.job_id, p.copied_from, p.errors, p.next_run_at) == (COPY, JOB, (), None)
        assert p.definition == definition("Copy of nightly", schedule=PARIS_MORNINGS)
        state = fold([event])
        assert state is not None
        assert (state.job_id, state.active, state.last_run_id) == (COPY, False, 0)

    def test_the_copys_errors_are_found_afresh(self) -> None:
        [event] = when_copied([created(JOB)], table=None)  # the original's table is gone
        assert fields([event]) == ["settings.table"]

    def test_a_deactivated_job_can_be_copied(self) -> None:
        assert len(when_copied([*active_job(JOB), deactivated(JOB, 3)], table=customers())) == 1

    def test_an_active_job_cannot_be_copied(self) -> None:
        rejection = refused(lambda: when_copied(active_job(JOB)))
        assert (rejection.code, rejection.reason) == ("invalid_state", "COPY_REQUIRES_INACTIVE")
        assert rejection.message == "job 42 is active; only an inactive job can be copied"

    def test_a_partner_job_cannot_be_copied(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(jobs, "PARTNER_KINDS", frozenset({"import_custom_table"}))
        rejection = refused(lambda: when_copied([created(JOB)]))
        assert (rejection.code, rejection.reason) == ("invalid_state", "PARTNER_JOB_NOT_COPYABLE")

    def test_the_name_must_be_free_of_the_original_too(self) -> None:
        cmd = copy("NIGHTLY CUSTOMERS")
        rejection = refused(lambda: when_copied([created(JOB)], cmd, table=customers(), owner=JOB))
        assert (rejection.reason, rejection.message) == ("NAME_TAKEN", "the job has 1 error(s)")

    def test_the_name_must_follow_the_rule(self) -> None:
        rejection = refused(lambda: when_copied([created(JOB)], copy("a/b"), table=customers()))
        assert (rejection.reason, fields(rejection)) == ("JOB_HAS_ERRORS", ["name"])


MISSING_OR_DELETED = {
    "missing": ([], "JOB_NOT_FOUND", "job 42 does not exist"),
    "deleted": ([created(JOB), deleted(JOB, 2)], "JOB_DELETED", "job 42 was deleted"),
}


@pytest.mark.parametrize(("history", "reason", "message"), MISSING_OR_DELETED.values(), ids=MISSING_OR_DELETED.keys())
class TestMissingOrDeletedJobs:
    def test_update_is_not_found(self, history: list[Event], reason: str, message: str) -> None:
        rejection = refused(lambda: when_updated(history, update(2)))
        assert (rejection.code, rejection.reason, rejection.message) == ("not_found", reason, message)

    def test_copy_is_not_found(self, history: list[Event], reason: str, message: str) -> None:
        rejection = refused(lambda: when_copied(history))
        assert (rejection.code, rejection.reason, rejection.message) == ("not_found", reason, message)

    @pytest.mark.parametrize("decide", [activate, deactivate, delete])
    def test_state_changes_are_not_found(
        self, history: list[Event], reason: str, message: str, decide: Callable[[JobState | None], list[Event]]
    ) -> None:
        rejection = refused(lambda: decide(fold(history)))
        assert (rejection.code, rejection.reason, rejection.message) == ("not_found", reason, message)


class TestActivateJob:
    def test_activates_a_job_without_errors_and_gives_its_next_fire(self) -> None:
        [event] = activate(fold([created(JOB, definition(schedule=PARIS_MORNINGS))]), expected_version=1)
        assert isinstance(event, JobActivated)
        assert (event.aggregate_version, event.payload.next_run_at) == (2, NEXT_PARIS_MORNING)

    def test_an_active_job_stays_as_it_is(self) -> None:
        assert activate(fold(active_job(JOB))) == []

    def test_a_draft_is_refused_with_its_errors(self) -> None:
        rejection = refused(lambda: activate(fold([created(JOB, definition(port=0))])))
        assert (rejection.code, rejection.reason) == ("validation", "JOB_HAS_ERRORS")
        assert rejection.message == "job 42 has 1 error(s); fix them to activate it"
        assert fields(rejection) == ["settings.source.port"]

    def test_a_draft_fixed_by_an_edit_can_be_activated(self) -> None:
        history = [created(JOB, definition(port=0)), fixed(definition())]
        [event] = activate(fold(history), expected_version=2)
        assert isinstance(event, JobActivated)

    def test_requires_its_table_today(self) -> None:
        cmd = job_command(ActivateJob)
        rejection = refused(lambda: decide_activate_job(fold([created(JOB)]), cmd, None, T0, causation(cmd)))
        assert rejection.reason == "JOB_HAS_ERRORS"
        assert [(e.field, e.message) for e in rejection.errors] == [("settings.table", "no table named Customers")]

    def test_an_expiration_that_has_passed_is_refused(self) -> None:
        job = definition(expires_at=T0 + timedelta(hours=1))
        state = fold([created(JOB, job)])
        assert len(activate(state, now=T0 + timedelta(minutes=59))) == 1
        rejection = refused(lambda: activate(state, now=T0 + timedelta(hours=1)))
        assert [(e.field, e.message) for e in rejection.errors] == [("expires_at", "is in the past")]

    def test_a_one_time_schedule_whose_time_has_passed_is_refused(self) -> None:
        once = OneTime(at=datetime(2025, 3, 1, 12, 0), time_zone="Europe/Paris")  # 11:00 UTC
        state = fold([created(JOB, definition(schedule=once))])
        [event] = activate(state, now=T0)
        assert isinstance(event, JobActivated)
        assert event.payload.next_run_at == datetime.fromisoformat("2025-03-01T11:00:00+00:00")
        rejection = refused(lambda: activate(state, now=T0 + timedelta(hours=2)))
        assert fields(rejection) == ["schedule.at"]

    def test_a_stale_expected_version_is_a_conflict(self) -> None:
        rejection = refused(lambda: activate(fold([created(JOB)]), expected_version=2))
        assert (rejection.code, rejection.reason) == ("conflict", "STALE_VERSION")


class TestDeactivateJob:
    def test_deactivates_an_active_job(self) -> None:
        [event] = deactivate(fold(active_job(JOB)))
        assert isinstance(event, JobDeactivated)
        assert (event.aggregate_version, event.payload.next_run_at) == (3, None)

    def test_an_inactive_job_stays_as_it_is(self) -> None:
        assert deactivate(fold([created(JOB)])) == []

    def test_a_stale_expected_version_is_a_conflict(self) -> None:
        rejection = refused(lambda: deactivate(fold(active_job(JOB)), expected_version=3))
        assert (rejection.code, rejection.reason) == ("conflict", "STALE_VERSION")


class TestDeleteJob:
    def test_deletes_by_user_request(self) -> None:
        given = fold(active_job(JOB))
        [event] = delete(given, expected_version=2)
        assert isinstance(event, JobDeleted)
        assert (event.payload.reason, event.aggregate_version) == ("user", 3)
        state = fold([event], given)
        assert state is not None
        assert (state.deleted, state.active) == (True, False)

    def test_a_running_job_can_be_deleted(self) -> None:
        assert len(delete(fold(active_job(JOB, run_requested(JOB, 1))))) == 1

    def test_a_stale_expected_version_is_a_conflict(self) -> None:
        rejection = refused(lambda: delete(fold(active_job(JOB)), expected_version=1))
        assert (rejection.code, rejection.reason) == ("conflict", "STALE_VERSION")


class TestEvolve:
    def test_version_counts_job_events_only(self) -> None:
        history = [*active_job(JOB, run_requested(JOB, 1), run_requested(JOB, 2, "k")), deactivated(JOB, 3)]
        state = fold(history)
        assert state is not None
        assert (state.version, state.active, state.last_run_id, state.last_requested_run_id) == (3, False, 2, 2)
        assert dict(state.idempotency_keys) == {"k": 2}

    def test_a_skipped_run_takes_a_run_id_but_is_not_the_last_requested(self) -> None:
        state = fold(active_job(JOB, run_requested(JOB, 1), skipped(JOB, 2, running_run_id=1)))
        assert state is not None
        assert (state.version, state.last_run_id, state.last_requested_run_id) == (2, 2, 1)

    def test_a_stop_request_is_remembered_without_a_new_version(self) -> None:
        state = fold(active_job(JOB, run_requested(JOB, 1), stop_requested(JOB, 1)))
        assert state is not None
        assert (state.version, state.stops_requested) == (2, frozenset({1}))

    def test_an_event_before_creation_is_refused(self) -> None:
        with pytest.raises(UnexpectedEventError):
            evolve(None, activated(JOB, 2))


def fixed(job: JobDefinition) -> JobUpdated:
    """Job 42's definition replaced by `job` at version 2."""
    cmd = update(1, job)
    [event] = decide_update_job(fold([created(JOB)]), cmd, customers(), None, T0, causation(cmd))
    assert isinstance(event, JobUpdated)
    return event
