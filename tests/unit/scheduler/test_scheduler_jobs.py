"""Given/when/then for the job aggregate: create, update, activate, deactivate, delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest

from connect_events import (
    ActivateJob,
    CreateJob,
    CreateJobPayload,
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
    UpdateJob,
    UpdateJobPayload,
)
from connect_scheduler.domain.jobs import (
    JobState,
    UnexpectedEventError,
    decide_activate_job,
    decide_create_job,
    decide_deactivate_job,
    decide_delete_job,
    decide_update_job,
    evolve,
    fold,
    name_taken_late,
)
from connect_scheduler.domain.rejection import Rejected
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
)

JOB = 42
C = TypeVar("C", ActivateJob, DeactivateJob, DeleteJob)


def create(job: JobDefinition | None = None, *, activate: bool = False) -> CreateJob:
    return CreateJob(**meta(), payload=CreateJobPayload(definition=job or definition(), activate=activate))


def update(expected_version: int, job: JobDefinition | None = None) -> UpdateJob:
    payload = UpdateJobPayload(job_id=JOB, expected_version=expected_version, definition=job or definition("Renamed"))
    return UpdateJob(**meta(), payload=payload)


def job_command(cls: type[C], expected_version: int | None = None) -> C:
    return cls(**meta(), payload=JobCommandPayload(job_id=JOB, expected_version=expected_version))


def activate(state: JobState | None, expected_version: int | None = None) -> list[Event]:
    cmd = job_command(ActivateJob, expected_version)
    return decide_activate_job(state, cmd, customers(), causation(cmd))


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


class TestCreateJob:
    def test_creates_an_inactive_job_under_the_given_id(self) -> None:
        cmd = create()

        [event] = decide_create_job(JOB, cmd, customers(), None, causation(cmd))

        assert isinstance(event, JobCreated)
        assert (event.aggregate_type, event.aggregate_id, event.aggregate_version) == ("job", "42", 1)
        assert (event.payload.job_id, event.payload.definition) == (JOB, definition())
        assert (event.event_id, event.causation_id) == (causation(cmd).event_id(0), cmd.command_id)
        assert (event.actor, event.occurred_at, event.correlation_id) == (ACTOR, T0, cmd.correlation_id)
        state = fold([event])
        assert state is not None
        assert (state.job_id, state.version, state.active) == (JOB, 1, False)

    def test_activate_flag_also_activates_it(self) -> None:
        cmd = create(activate=True)

        events = decide_create_job(JOB, cmd, customers(), None, causation(cmd))

        assert [type(e) for e in events] == [JobCreated, JobActivated]
        assert [e.aggregate_version for e in events] == [1, 2]
        assert events[1].event_id == causation(cmd).event_id(1)
        state = fold(events)
        assert state is not None
        assert (state.version, state.active) == (2, True)

    def test_a_name_held_by_another_job_is_a_validation_error(self) -> None:
        cmd = create(definition("NIGHTLY customers"))

        rejection = refused(lambda: decide_create_job(JOB, cmd, customers(), 7, causation(cmd)))

        assert rejection.code == "validation"
        assert [(e.field, e.message) for e in rejection.errors] == [
            ("name", "a job named NIGHTLY customers already exists")
        ]

    def test_every_error_is_returned_with_the_name_clash(self) -> None:
        cmd = create(definition(mapping=(("x", "nope"),)))

        rejection = refused(lambda: decide_create_job(JOB, cmd, None, 7, causation(cmd)))

        assert rejection.code == "validation"
        assert [e.field for e in rejection.errors] == ["settings.table", "name"]


class TestNameTakenLate:
    """A name claimed by another job after it was checked is refused exactly as a name seen taken."""

    def test_a_create_answers_like_a_create_seeing_the_name_taken(self) -> None:
        cmd = create(definition("NIGHTLY customers"))
        seen = refused(lambda: decide_create_job(JOB, cmd, customers(), 7, causation(cmd)))

        late = name_taken_late("NIGHTLY customers")

        assert (late.code, late.message, late.errors) == (seen.code, seen.message, seen.errors)

    def test_an_update_answers_like_an_update_seeing_the_name_taken(self) -> None:
        given = fold([created(JOB)])
        cmd = update(1, definition("Other"))
        seen = refused(lambda: decide_update_job(given, cmd, customers(), 7, causation(cmd)))

        late = name_taken_late("Other", JOB)

        assert (late.code, late.message, late.errors) == (seen.code, seen.message, seen.errors)


class TestUpdateJob:
    def test_replaces_the_definition_at_the_next_version(self) -> None:
        given = fold(active_job(JOB, run_requested(JOB, 1)))
        cmd = update(expected_version=2)

        [event] = decide_update_job(given, cmd, customers(), None, causation(cmd))

        assert isinstance(event, JobUpdated)
        assert event.aggregate_version == 3  # run requests do not count as job versions
        assert event.payload.definition == definition("Renamed")

    @pytest.mark.parametrize("stale", [0, 1, 3])
    def test_a_stale_expected_version_is_a_conflict(self, stale: int) -> None:
        given = fold(active_job(JOB))
        cmd = update(expected_version=stale)

        rejection = refused(lambda: decide_update_job(given, cmd, customers(), None, causation(cmd)))

        assert rejection.code == "conflict"
        assert rejection.message == f"job 42 is at version 2, not {stale}"

    def test_keeping_its_own_name_in_another_case_is_fine(self) -> None:
        given = fold([created(JOB)])
        cmd = update(1, definition("NIGHTLY CUSTOMERS"))
        assert len(decide_update_job(given, cmd, customers(), JOB, causation(cmd))) == 1

    def test_taking_another_jobs_name_is_refused(self) -> None:
        given = fold([created(JOB)])
        cmd = update(1, definition("Other"))
        rejection = refused(lambda: decide_update_job(given, cmd, customers(), 7, causation(cmd)))
        assert [e.field for e in rejection.errors] == ["name"]

    def test_an_invalid_definition_is_refused_with_all_errors(self) -> None:
        given = fold([created(JOB)])
        cmd = update(1, definition("bad/name", port=0))
        rejection = refused(lambda: decide_update_job(given, cmd, customers(), None, causation(cmd)))
        assert (rejection.code, [e.field for e in rejection.errors]) == (
            "validation",
            ["name", "settings.source.port"],
        )


MISSING_OR_DELETED = {
    "missing": ([], "job 42 does not exist"),
    "deleted": ([created(JOB), deleted(JOB, 2)], "job 42 was deleted"),
}


@pytest.mark.parametrize(("history", "message"), MISSING_OR_DELETED.values(), ids=MISSING_OR_DELETED.keys())
class TestMissingOrDeletedJobs:
    def test_update_is_not_found(self, history: list[Event], message: str) -> None:
        cmd = update(2)
        rejection = refused(lambda: decide_update_job(fold(history), cmd, customers(), None, causation(cmd)))
        assert (rejection.code, rejection.message) == ("not_found", message)

    @pytest.mark.parametrize("decide", [activate, deactivate, delete])
    def test_state_changes_are_not_found(
        self, history: list[Event], message: str, decide: Callable[[JobState | None], list[Event]]
    ) -> None:
        rejection = refused(lambda: decide(fold(history)))
        assert (rejection.code, rejection.message) == ("not_found", message)


class TestActivateJob:
    def test_activates_a_valid_inactive_job(self) -> None:
        [event] = activate(fold([created(JOB)]), expected_version=1)
        assert isinstance(event, JobActivated)
        assert event.aggregate_version == 2

    def test_an_active_job_stays_as_it_is(self) -> None:
        assert activate(fold(active_job(JOB))) == []

    def test_requires_a_valid_definition_today(self) -> None:
        cmd = job_command(ActivateJob)
        rejection = refused(lambda: decide_activate_job(fold([created(JOB)]), cmd, None, causation(cmd)))
        assert rejection.code == "validation"
        assert [(e.field, e.message) for e in rejection.errors] == [("settings.table", "no table named Customers")]

    def test_a_stale_expected_version_is_a_conflict(self) -> None:
        assert refused(lambda: activate(fold([created(JOB)]), expected_version=2)).code == "conflict"


class TestDeactivateJob:
    def test_deactivates_an_active_job(self) -> None:
        [event] = deactivate(fold(active_job(JOB)))
        assert isinstance(event, JobDeactivated)
        assert event.aggregate_version == 3

    def test_an_inactive_job_stays_as_it_is(self) -> None:
        assert deactivate(fold([created(JOB)])) == []

    def test_a_stale_expected_version_is_a_conflict(self) -> None:
        assert refused(lambda: deactivate(fold(active_job(JOB)), expected_version=3)).code == "conflict"


class TestDeleteJob:
    def test_deletes_by_user_request(self) -> None:
        given = fold(active_job(JOB))
        [event] = delete(given, expected_version=2)
        assert isinstance(event, JobDeleted)
        assert (event.payload.reason, event.aggregate_version) == ("user", 3)
        state = fold([event], given)
        assert state is not None
        assert (state.deleted, state.active) == (True, False)

    def test_a_stale_expected_version_is_a_conflict(self) -> None:
        assert refused(lambda: delete(fold(active_job(JOB)), expected_version=1)).code == "conflict"


class TestEvolve:
    def test_version_counts_job_events_only(self) -> None:
        history = [*active_job(JOB, run_requested(JOB, 1), run_requested(JOB, 2, "k")), deactivated(JOB, 3)]
        state = fold(history)
        assert state is not None
        assert (state.version, state.active, state.last_run_id) == (3, False, 2)
        assert dict(state.idempotency_keys) == {"k": 2}

    def test_an_event_before_creation_is_refused(self) -> None:
        with pytest.raises(UnexpectedEventError):
            evolve(None, activated(JOB, 2))
