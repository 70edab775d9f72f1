"""Given/when/then for run-now: numbering, idempotency keys, and the states that refuse it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from connect_events import Event, RunJobNow, RunJobNowPayload, RunRequested
from connect_scheduler.domain import jobs
from connect_scheduler.domain.jobs import fold
from connect_scheduler.domain.rejection import Rejected
from connect_scheduler.domain.run_control import decide_run_job_now, requested_run_id
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
)

JOB = 42


def run_now(key: str | None = None) -> RunJobNow:
    return RunJobNow(**meta(), payload=RunJobNowPayload(job_id=JOB, idempotency_key=key))


def when_run_now(history: list[Event], cmd: RunJobNow, running: int | None = None) -> list[Event]:
    return decide_run_job_now(fold(history), cmd, customers(), running, T0, causation(cmd))


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

    def test_a_skipped_run_keeps_its_id(self) -> None:
        [event] = when_run_now(active_job(JOB, run_requested(JOB, 1), skipped(JOB, 2, running_run_id=1)), run_now())
        assert isinstance(event, RunRequested)
        assert event.payload.run_id == 3

    def test_a_repeated_key_answers_with_its_run_while_it_is_running(self) -> None:
        assert when_run_now(active_job(JOB, run_requested(JOB, 1, "k1")), run_now("k1"), running=1) == []

    def test_the_run_that_ended_lets_the_next_one_start(self) -> None:
        [event] = when_run_now(active_job(JOB, run_requested(JOB, 1)), run_now(), running=None)
        assert isinstance(event, RunRequested)
        assert event.payload.run_id == 2


EXPIRING = definition(expires_at=T0 + timedelta(minutes=1))
REFUSED = {
    "missing job": ([], None, "not_found", "JOB_NOT_FOUND", "job 42 does not exist"),
    "deleted job": ([*active_job(JOB), deleted(JOB, 3)], None, "not_found", "JOB_DELETED", "job 42 was deleted"),
    "never activated": ([created(JOB)], None, "invalid_state", "JOB_INACTIVE", "job 42 is inactive"),
    "deactivated": (
        [*active_job(JOB), deactivated(JOB, 3)],
        None,
        "invalid_state",
        "JOB_INACTIVE",
        "job 42 is inactive",
    ),
    "running": (
        active_job(JOB, run_requested(JOB, 1), run_requested(JOB, 2)),
        2,
        "invalid_state",
        "JOB_RUNNING",
        "job 42 is running (run 42.2)",
    ),
}


@pytest.mark.parametrize(("history", "running", "code", "reason", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_run_now_is_refused(history: list[Event], running: int | None, code: str, reason: str, message: str) -> None:
    with pytest.raises(Rejected) as caught:
        when_run_now(history, run_now(), running)
    assert (caught.value.code, caught.value.reason, caught.value.message, caught.value.errors) == (
        code,
        reason,
        message,
        (),
    )


def test_a_job_whose_table_is_gone_cannot_run() -> None:
    cmd = run_now()
    with pytest.raises(Rejected) as caught:
        decide_run_job_now(fold(active_job(JOB)), cmd, None, None, T0, causation(cmd))
    assert (caught.value.code, caught.value.reason, caught.value.message) == (
        "invalid_state",
        "TABLE_NOT_FOUND",
        "table Customers of job 42 does not exist",
    )


def test_a_job_past_its_expiration_cannot_run() -> None:
    history = [created(JOB, EXPIRING), activated(JOB, 2)]
    cmd = run_now()
    assert len(decide_run_job_now(fold(history), cmd, customers(), None, T0, causation(cmd))) == 1
    with pytest.raises(Rejected) as caught:
        decide_run_job_now(fold(history), cmd, customers(), None, T0 + timedelta(minutes=1), causation(cmd))
    assert (caught.value.code, caught.value.reason, caught.value.message) == (
        "invalid_state",
        "EXPIRED",
        "job 42 has expired",
    )


def test_a_partner_job_cannot_be_run_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "PARTNER_KINDS", frozenset({"import_custom_table"}))
    with pytest.raises(Rejected) as caught:
        when_run_now(active_job(JOB), run_now())
    assert (caught.value.code, caught.value.reason) == ("invalid_state", "PARTNER_JOB_NOT_RUNNABLE")


def dry_run(key: str | None = None) -> RunJobNow:
    return RunJobNow(**meta(), payload=RunJobNowPayload(job_id=JOB, idempotency_key=key, dry_run=True))


class TestDryRun:
    """A dry run writes nothing: it may test an inactive job without errors, and otherwise is a run-now."""

    @pytest.mark.parametrize(
        "history",
        [active_job(JOB), [created(JOB)], [*active_job(JOB), deactivated(JOB, 3)]],
        ids=["active", "never activated", "deactivated"],
    )
    def test_requests_a_dry_run(self, history: list[Event]) -> None:
        [event] = when_run_now(history, dry_run("k"))
        assert isinstance(event, RunRequested)
        assert (event.payload.run_id, event.payload.dry_run, event.payload.trigger) == (1, True, "manual")
        assert event.payload.idempotency_key == "k"

    def test_a_run_now_is_not_a_dry_run(self) -> None:
        [event] = when_run_now(active_job(JOB), run_now())
        assert isinstance(event, RunRequested)
        assert event.payload.dry_run is False

    def test_an_inactive_job_with_errors_is_refused_with_them(self) -> None:
        history: list[Event] = [created(JOB, definition(port=0, mapping=(("x", "nope"),)))]
        with pytest.raises(Rejected) as caught:
            when_run_now(history, dry_run())
        assert (caught.value.code, caught.value.reason) == ("validation", "JOB_HAS_ERRORS")
        assert caught.value.message == "job 42 has 3 error(s); fix them to dry-run it"
        assert [e.field for e in caught.value.errors] == [
            "settings.source.port",
            "settings.mapping[0].target",
            "settings.mapping",
        ]

    def test_an_inactive_job_is_checked_against_the_table_today(self) -> None:
        narrower = customers().model_copy(update={"columns": customers().columns[:1]})
        cmd = dry_run()
        with pytest.raises(Rejected) as caught:
            decide_run_job_now(fold([created(JOB)]), cmd, narrower, None, T0, causation(cmd))
        assert [e.field for e in caught.value.errors] == ["settings.mapping[1].target"]

    def test_an_active_job_is_not_checked_again(self) -> None:
        """Activation checked it; run-now of an active job only asks that its table exist."""
        narrower = customers().model_copy(update={"columns": customers().columns[:1]})
        cmd = dry_run()
        assert len(decide_run_job_now(fold(active_job(JOB)), cmd, narrower, None, T0, causation(cmd))) == 1

    def test_an_inactive_job_with_a_private_webhook_follows_the_operators_policy(self) -> None:
        job = definition()
        private = job.model_copy(
            update={"notifications": job.notifications.model_copy(update={"webhook_url": "http://10.0.0.1/hook"})}
        )
        cmd = dry_run()
        with pytest.raises(Rejected) as caught:
            decide_run_job_now(fold([created(JOB, private)]), cmd, customers(), None, T0, causation(cmd))
        assert [e.field for e in caught.value.errors] == ["notifications.webhook_url"]
        allowed = decide_run_job_now(
            fold([created(JOB, private)]), cmd, customers(), None, T0, causation(cmd), allow_private_webhooks=True
        )
        assert len(allowed) == 1

    def test_one_run_at_a_time_a_dry_run_included(self) -> None:
        with pytest.raises(Rejected) as caught:
            when_run_now([created(JOB), run_requested(JOB, 1)], dry_run(), running=1)
        assert caught.value.reason == "JOB_RUNNING"

    def test_a_repeated_key_returns_the_earlier_run(self) -> None:
        assert when_run_now([created(JOB), run_requested(JOB, 1, "k1")], dry_run("k1")) == []

    @pytest.mark.parametrize(
        ("history", "reason"),
        [
            ([], "JOB_NOT_FOUND"),
            ([*active_job(JOB), deleted(JOB, 3)], "JOB_DELETED"),
            ([created(JOB, EXPIRING)], "EXPIRED"),
        ],
    )
    def test_other_refusals_stand(self, history: list[Event], reason: str) -> None:
        cmd = dry_run()
        with pytest.raises(Rejected) as caught:
            decide_run_job_now(fold(history), cmd, customers(), None, T0 + timedelta(minutes=1), causation(cmd))
        assert caught.value.reason == reason

    def test_a_partner_job_cannot_be_dry_run(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(jobs, "PARTNER_KINDS", frozenset({"import_custom_table"}))
        with pytest.raises(Rejected) as caught:
            when_run_now([created(JOB)], dry_run())
        assert caught.value.reason == "PARTNER_JOB_NOT_RUNNABLE"

    def test_an_inactive_job_whose_table_is_gone_cannot_dry_run(self) -> None:
        cmd = dry_run()
        with pytest.raises(Rejected) as caught:
            decide_run_job_now(fold([created(JOB)]), cmd, None, None, T0, causation(cmd))
        assert caught.value.reason == "TABLE_NOT_FOUND"
