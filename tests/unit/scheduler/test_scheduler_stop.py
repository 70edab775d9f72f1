"""Given/when/then for stopping a run: which runs can be stopped, and a stop asked twice."""

from __future__ import annotations

import pytest

from connect_events import Event, RunStopRequested, StopRun, StopRunPayload
from connect_scheduler.domain.jobs import fold
from connect_scheduler.domain.rejection import Rejected
from connect_scheduler.domain.run_control import decide_stop_run
from tests.unit.scheduler.scheduler_builders import (
    ACTOR,
    T0,
    active_job,
    causation,
    deleted,
    meta,
    run_requested,
    skipped,
    stop_requested,
)

JOB = 12
RUNNING = active_job(JOB, run_requested(JOB, 1), run_requested(JOB, 2), run_requested(JOB, 3))


def stop(run_id: int) -> StopRun:
    return StopRun(**meta(), payload=StopRunPayload(job_id=JOB, run_id=run_id))


def when_stopped(history: list[Event], cmd: StopRun, running: int | None) -> list[Event]:
    return decide_stop_run(fold(history), cmd, running, causation(cmd))


class TestStopRun:
    def test_asks_the_run_in_progress_to_stop(self) -> None:
        cmd = stop(3)

        [event] = when_stopped(RUNNING, cmd, running=3)

        assert isinstance(event, RunStopRequested)
        assert (event.aggregate_type, event.aggregate_id, event.aggregate_version) == ("run_stop", "12.3", 1)
        assert (event.partition_key, event.event_id, event.causation_id) == (
            "12",
            causation(cmd).event_id(0),
            cmd.command_id,
        )
        assert (event.actor, event.occurred_at) == (ACTOR, T0)
        assert (event.payload.job_id, event.payload.run_id) == (JOB, 3)

    def test_the_job_version_does_not_move(self) -> None:
        state = fold([*RUNNING, *when_stopped(RUNNING, stop(3), running=3)])
        assert state is not None
        assert (state.version, state.stops_requested) == (2, frozenset({3}))

    def test_a_second_stop_of_the_same_run_adds_nothing(self) -> None:
        history = [*RUNNING, stop_requested(JOB, 3)]
        assert when_stopped(history, stop(3), running=3) == []
        assert when_stopped(history, stop(3), running=None) == []  # it has ended since: still the same answer

    def test_a_run_of_a_deleted_job_can_still_be_stopped(self) -> None:
        [event] = when_stopped([*RUNNING, deleted(JOB, 3)], stop(3), running=3)
        assert isinstance(event, RunStopRequested)


REFUSED = {
    "missing job": ([], 1, None, "not_found", "JOB_NOT_FOUND", "job 12 does not exist"),
    "run never requested": (RUNNING, 4, 3, "not_found", "RUN_NOT_FOUND", "run 12.4 does not exist"),
    "run 0": (RUNNING, 0, 3, "not_found", "RUN_NOT_FOUND", "run 12.0 does not exist"),
    "ended": (RUNNING, 3, None, "invalid_state", "RUN_NOT_RUNNING", "run 12.3 already ended"),
    "an earlier run": (RUNNING, 2, 3, "invalid_state", "RUN_NOT_RUNNING", "run 12.2 already ended"),
    "skipped": (
        [*RUNNING, skipped(JOB, 4, running_run_id=3)],
        4,
        3,
        "invalid_state",
        "RUN_NOT_RUNNING",
        "run 12.4 already ended",
    ),
}


@pytest.mark.parametrize(
    ("history", "run_id", "running", "code", "reason", "message"), REFUSED.values(), ids=REFUSED.keys()
)
def test_stop_is_refused(
    history: list[Event], run_id: int, running: int | None, code: str, reason: str, message: str
) -> None:
    with pytest.raises(Rejected) as caught:
        when_stopped(history, stop(run_id), running)
    assert (caught.value.code, caught.value.reason, caught.value.message) == (code, reason, message)
