"""Given/when/then for run-now: numbering, idempotency keys, and the states that refuse it."""

from __future__ import annotations

import pytest

from connect_events import Event, RunJobNow, RunJobNowPayload, RunRequested
from connect_scheduler.domain.jobs import decide_run_job_now, fold, requested_run_id
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


def run_now(key: str | None = None) -> RunJobNow:
    return RunJobNow(**meta(), payload=RunJobNowPayload(job_id=JOB, idempotency_key=key))


def when_run_now(history: list[Event], cmd: RunJobNow) -> list[Event]:
    return decide_run_job_now(fold(history), cmd, customers(), causation(cmd))


class TestRunJobNow:
    def test_requests_run_1_with_everything_the_runner_needs(self) -> None:
        cmd = run_now("retry-1")

        [event] = when_run_now(active_job(JOB), cmd)

        assert isinstance(event, RunRequested)
        assert (event.aggregate_type, event.aggregate_id, event.aggregate_version) == ("run", "42.1", 1)
        assert event.partition_key == "42"
        assert (event.event_id, event.causation_id, event.correlation_id) == (
            causation(cmd).event_id(0),
            cmd.command_id,
            cmd.correlation_id,
        )
        assert (event.actor, event.occurred_at) == (ACTOR, T0)
        p = event.payload
        assert (p.job_id, p.run_id, p.trigger, p.idempotency_key, p.job_version) == (
            JOB,
            1,
            "manual",
            "retry-1",
            2,
        )
        assert (p.definition, p.table) == (definition(), customers())

    def test_run_ids_count_1_2_3(self) -> None:
        history = active_job(JOB)
        run_ids = []
        for _ in range(3):
            cmd = run_now()
            events = when_run_now(history, cmd)
            history = [*history, *events]
            state = fold(history)
            assert state is not None
            run_ids.append(requested_run_id(state, cmd))
        assert run_ids == [1, 2, 3]
        assert [e.aggregate_id for e in history if isinstance(e, RunRequested)] == ["42.1", "42.2", "42.3"]

    def test_a_repeated_idempotency_key_returns_the_earlier_run(self) -> None:
        history = active_job(JOB, run_requested(JOB, 1, "k1"), run_requested(JOB, 2, "k2"), run_requested(JOB, 3))
        cmd = run_now("k1")

        assert when_run_now(history, cmd) == []
        state = fold(history)
        assert state is not None
        assert requested_run_id(state, cmd) == 1

    def test_a_new_idempotency_key_starts_a_new_run(self) -> None:
        [event] = when_run_now(active_job(JOB, run_requested(JOB, 1, "k1")), run_now("k2"))
        assert isinstance(event, RunRequested)
        assert event.payload.run_id == 2

    def test_a_repeated_key_answers_with_its_run_even_after_deactivation(self) -> None:
        history = [*active_job(JOB, run_requested(JOB, 1, "k1")), deactivated(JOB, 3)]
        assert when_run_now(history, run_now("k1")) == []

    def test_the_job_version_is_frozen_into_the_request(self) -> None:
        history = [*active_job(JOB), deactivated(JOB, 3), activated(JOB, 4)]
        [event] = when_run_now(history, run_now())
        assert isinstance(event, RunRequested)
        assert event.payload.job_version == 4


REFUSED = {
    "missing job": ([], "not_found", "job 42 does not exist"),
    "deleted job": ([*active_job(JOB), deleted(JOB, 3)], "not_found", "job 42 was deleted"),
    "never activated": ([created(JOB)], "invalid_state", "job 42 is inactive"),
    "deactivated": ([*active_job(JOB), deactivated(JOB, 3)], "invalid_state", "job 42 is inactive"),
}


@pytest.mark.parametrize(("history", "code", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_run_now_is_refused(history: list[Event], code: str, message: str) -> None:
    with pytest.raises(Rejected) as caught:
        when_run_now(history, run_now())
    assert (caught.value.code, caught.value.message, caught.value.errors) == (code, message, ())


def test_a_job_whose_table_is_gone_cannot_run() -> None:
    cmd = run_now()
    with pytest.raises(Rejected) as caught:
        decide_run_job_now(fold(active_job(JOB)), cmd, None, causation(cmd))
    assert (caught.value.code, caught.value.message) == (
        "invalid_state",
        "table Customers of job 42 does not exist",
    )
