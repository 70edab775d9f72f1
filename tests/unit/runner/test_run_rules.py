"""The run's rules (`domain.run`): given the events so far, when a command comes, then these events — or none.

Every move is checked against the contract's transition table; the clock is the commands' `now`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from connect_events import (
    RetryPolicy,
    RunCounts,
    RunEvent,
    RunFailed,
    RunLogged,
    RunProgressed,
    RunStarted,
    RunStatus,
    RunStopped,
    RunStopRequested,
    RunStopRequestedPayload,
    RunSucceeded,
    can_transition,
)
from connect_runner.domain import events
from connect_runner.domain.events import LogEntry, Origin
from connect_runner.domain.run import (
    NOTHING,
    Attempt,
    BeginAttempt,
    Command,
    Decision,
    Fail,
    IllegalTransitionError,
    Log,
    OutOfOrderError,
    Reap,
    RunRuleError,
    RunState,
    Snapshot,
    Stop,
    StopRequest,
    Succeed,
    Tick,
    apply,
    decide,
    evolve,
    must_stop,
)
from tests.unit.runner.runner_builders import location, run_request

T0 = datetime(2025, 3, 14, 10, 0, tzinfo=UTC)
ORIGIN = Origin.of(run_request(42, 7, source=location("/x.csv")))
COUNTS = RunCounts(rows_read=10, inserted=8, updated=1, rejected=1, bytes_transferred=300)
SO_FAR = RunCounts(rows_read=5000, bytes_transferred=120_000)
TEN_MIN = timedelta(minutes=10)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def begin(seconds: float = 0, runner: str = "host-a", max_attempts: int = 3) -> BeginAttempt:
    return BeginAttempt(runner=runner, now=at(seconds), max_attempts=max_attempts)


def stop_requested(seconds: float = 0, actor: str = "ada") -> RunStopRequested:
    return RunStopRequested(
        event_id=uuid4(),
        aggregate_id=ORIGIN.aggregate_id,
        aggregate_version=1,
        occurred_at=at(seconds),
        actor=actor,
        correlation_id=uuid4(),
        payload=RunStopRequestedPayload(job_id=42, run_id=7),
    )


def given(*steps: Command | RunStopRequested) -> RunState:
    """The state after these commands were decided and recorded (and stop requests received), in order."""
    state = RunState(ORIGIN)
    for step in steps:
        state = evolve(state, step) if isinstance(step, RunStopRequested) else apply(state, decide(state, step))
    return state


def kinds(decision: Decision) -> list[type[RunEvent]]:
    return [type(e) for e in decision.events]


RUNNING = (begin(),)
SUCCEEDED = (*RUNNING, Succeed(1, T0, COUNTS, at(5)))
FAILED = (*RUNNING, Fail(1, T0, RunCounts(), "FILE_NOT_FOUND", "no file matching '/x.csv'", at(5)))
STOPPED = (*RUNNING, stop_requested(2), Stop(1, T0, SO_FAR, at(3)))
REAPED = (*RUNNING, Reap(at(600), TEN_MIN))
ENDINGS = {"succeeded": SUCCEEDED, "failed": FAILED, "stopped": STOPPED, "reaped": REAPED}


class TestBeginAttempt:
    def test_a_queued_run_starts_its_first_attempt(self) -> None:
        decision = decide(given(), begin(runner="host-a"))

        [started] = decision.events
        assert isinstance(started, RunStarted)
        assert (started.aggregate_version, started.payload.attempt, started.payload.runner) == (2, 1, "host-a")
        state = apply(given(), decision)
        assert (state.status, state.attempt, state.heartbeat_at) == (
            RunStatus.RUNNING,
            Attempt(1, "host-a", T0),
            T0,
        )

    def test_a_new_attempt_continues_the_versions(self) -> None:
        state = given(begin(), Tick(1, at(1), Snapshot()), begin(60, runner="host-b"))

        assert state.attempt == Attempt(2, "host-b", at(60))
        assert (state.status, state.next_version) == (RunStatus.RUNNING, 5)

    @pytest.mark.parametrize("max_attempts", [1, 2, 3])
    def test_after_max_attempts_stopped_midway_the_run_is_given_up(self, max_attempts: int) -> None:
        state = given(*[begin(i, max_attempts=max_attempts) for i in range(max_attempts)])

        decision = decide(state, begin(99, max_attempts=max_attempts))

        assert kinds(decision) == [RunStarted, RunFailed]
        failed = decision.events[1]
        assert isinstance(failed, RunFailed)
        assert (failed.payload.code, failed.payload.error) == (
            "INTERNAL",
            f"gave up after {max_attempts} attempts: the runner stopped during each of them",
        )
        assert apply(state, decision).status is RunStatus.FAILED

    def test_a_run_stopped_before_it_started_ends_stopped_without_starting(self) -> None:
        state = given(stop_requested(1))

        decision = decide(state, begin(2))

        [stopped] = decision.events
        assert isinstance(stopped, RunStopped)
        assert (stopped.aggregate_version, stopped.payload.counts) == (2, RunCounts())
        assert stopped.payload.started_at == stopped.payload.finished_at == at(2)
        assert apply(state, decision).status is RunStatus.STOPPED

    def test_a_run_stopped_between_attempts_ends_stopped_without_a_new_attempt(self) -> None:
        decision = decide(given(begin(), stop_requested(5)), begin(60))
        assert kinds(decision) == [RunStopped]


@pytest.mark.parametrize("ending", ENDINGS, ids=str)
@pytest.mark.parametrize(
    "command",
    [
        begin(100),
        Tick(1, at(100), Snapshot(rows_read=1)),
        Succeed(1, T0, COUNTS, at(100)),
        Fail(1, T0, RunCounts(), "INTERNAL", "late", at(100)),
        Stop(1, T0, SO_FAR, at(100)),
        Reap(at(10_000), TEN_MIN),
    ],
    ids=lambda c: type(c).__name__,
)
def test_an_ended_run_stays_ended_whatever_comes(ending: str, command: Command) -> None:
    state = given(*ENDINGS[ending])
    assert state.terminal is not None and state.status in {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.STOPPED}

    assert decide(state, command) == NOTHING
    assert must_stop(state, 1)


class TestTick:
    def test_progress_is_reported_with_a_heartbeat(self) -> None:
        progress = Snapshot(stage="load", rows_read=5000, bytes_done=100, total_bytes=100)

        decision = decide(given(begin()), Tick(1, at(1), progress))

        [event] = decision.events
        assert isinstance(event, RunProgressed)
        assert (event.aggregate_version, event.payload.rows_read, event.payload.stage) == (3, 5000, "load")
        assert decision.heartbeat_at == at(1)

    def test_a_tick_without_progress_only_beats(self) -> None:
        state = given(begin())
        decision = decide(state, Tick(1, at(1)))
        assert decision == Decision(heartbeat_at=at(1))
        assert apply(state, decision) == replace(state, heartbeat_at=at(1))

    def test_a_superseded_attempt_neither_reports_nor_beats(self) -> None:
        assert decide(given(begin(), begin(60)), Tick(1, at(61), Snapshot(rows_read=1))) == NOTHING

    def test_a_run_asked_to_stop_reports_no_more_progress_and_must_stop(self) -> None:
        state = given(begin(), stop_requested(1))

        assert decide(state, Tick(1, at(2), Snapshot(rows_read=1))) == Decision(heartbeat_at=at(2))
        assert must_stop(state, 1) and state.stop == StopRequest(at(1), "ada")

    def test_a_queued_run_has_no_attempt_to_tick(self) -> None:
        assert decide(given(), Tick(1, at(1))) == NOTHING
        assert not must_stop(given(), 1)


PARSED = LogEntry("parsed", "parsed 10 data rows", details={"rows": 10})
VALIDATED = LogEntry("validated", "1 row rejected: INVALID_DATE 1", details={"rejected": 1})
ARCHIVED = LogEntry("archived", "moved to 'archive/42.7_x.csv'")


class TestLog:
    def test_entries_are_numbered_in_order_and_move_nothing(self) -> None:
        state = given(*RUNNING)

        decision = decide(state, Log(1, at(3), (PARSED, VALIDATED)))

        logged = [e for e in decision.events if isinstance(e, RunLogged)]
        assert logged == list(decision.events)
        assert [(e.aggregate_version, e.payload.attempt, e.payload.stage) for e in logged] == [
            (3, 1, "parsed"),
            (4, 1, "validated"),
        ]
        assert (logged[0].payload.message, logged[0].payload.details) == ("parsed 10 data rows", {"rows": 10})
        after = apply(state, decision)
        assert (after.status, after.next_version, after.heartbeat_at) == (RunStatus.RUNNING, 5, state.heartbeat_at)

    def test_no_entries_record_nothing(self) -> None:
        assert decide(given(*RUNNING), Log(1, at(3), ())) == NOTHING

    def test_a_superseded_attempt_logs_nothing(self) -> None:
        assert decide(given(begin(), begin(60)), Log(1, at(61), (PARSED,))) == NOTHING

    @pytest.mark.parametrize("ending", ENDINGS.values(), ids=ENDINGS.keys())
    def test_an_ended_run_takes_only_what_its_attempt_did_after_the_end(self, ending: tuple[Command, ...]) -> None:
        state = given(*ending)

        assert decide(state, Log(1, at(700), (PARSED,))) == NOTHING
        [archived] = decide(state, Log(1, at(700), (ARCHIVED,), after_end=True)).events
        assert isinstance(archived, RunLogged) and archived.aggregate_version == state.next_version
        assert apply(state, Decision((archived,))).terminal == state.terminal

    def test_a_run_without_an_attempt_logs_nothing(self) -> None:
        assert decide(given(), Log(1, at(1), (PARSED,), after_end=True)) == NOTHING


class TestSucceed:
    def test_the_load_commits_as_succeeded(self) -> None:
        [done] = decide(given(begin()), Succeed(1, T0, COUNTS, at(5))).events
        assert isinstance(done, RunSucceeded)
        assert (done.payload.counts, done.payload.started_at, done.payload.finished_at) == (COUNTS, T0, at(5))

    def test_a_run_that_never_started_cannot_succeed(self) -> None:
        with pytest.raises(IllegalTransitionError):
            decide(given(), Succeed(1, T0, COUNTS, at(5)))

    def test_a_stop_recorded_before_the_commit_wins(self) -> None:
        state = given(begin(), stop_requested(4))
        assert must_stop(state, 1)  # what the handler checks under the run's lock, before writing
        with pytest.raises(RunRuleError):
            decide(state, Succeed(1, T0, COUNTS, at(5)))

    def test_a_stop_after_the_commit_changes_nothing(self) -> None:
        done = given(*SUCCEEDED)
        assert evolve(done, stop_requested(6)) == done
        assert decide(done, begin(7)) == NOTHING


class TestFailAndStop:
    @pytest.mark.parametrize(("before", "attempt"), [((), None), (RUNNING, 1)], ids=["queued", "running"])
    def test_a_run_fails_from_queued_or_running(self, before: tuple[Command, ...], attempt: int | None) -> None:
        [failed] = decide(given(*before), Fail(attempt, T0, SO_FAR, "LOAD_FAILED", "refused", at(5))).events
        assert isinstance(failed, RunFailed)
        assert (failed.payload.code, failed.payload.error, failed.payload.counts) == ("LOAD_FAILED", "refused", SO_FAR)

    def test_a_stopped_attempt_ends_stopped_with_its_counts_so_far(self) -> None:
        [stopped] = decide(given(begin(), stop_requested(1)), Stop(1, T0, SO_FAR, at(2))).events
        assert isinstance(stopped, RunStopped)
        assert (stopped.payload.counts, stopped.payload.started_at, stopped.aggregate_version) == (SO_FAR, T0, 3)

    def test_nothing_stops_a_run_nobody_asked_to_stop(self) -> None:
        with pytest.raises(RunRuleError):
            decide(given(begin()), Stop(1, T0, SO_FAR, at(2)))

    def test_a_second_stop_request_keeps_the_first(self) -> None:
        assert given(stop_requested(1, "ada"), stop_requested(2, "bob")).stop == StopRequest(at(1), "ada")


class TestASupersededAttempt:
    """Attempt 1's runner lost the run (a rebalance) but worked on; attempt 2 began elsewhere."""

    TAKEN_OVER = (begin(), begin(60, runner="host-b"))

    @pytest.mark.parametrize(
        "outcome",
        [
            Succeed(1, T0, COUNTS, at(70)),
            Fail(1, T0, SO_FAR, "LOAD_FAILED", "refused", at(70)),
            Fail(1, T0, SO_FAR, "CONNECTION_FAILED", "refused", at(70), transient=True, retry=RetryPolicy(attempts=3)),
            Stop(1, T0, SO_FAR, at(70)),
        ],
        ids=["succeed", "fail", "fail-transient", "stop"],
    )
    def test_its_outcome_decides_nothing(self, outcome: Command) -> None:
        assert decide(given(*self.TAKEN_OVER), outcome) == NOTHING
        assert decide(given(*self.TAKEN_OVER, stop_requested(65)), outcome) == NOTHING

    def test_it_must_stop_while_the_latest_goes_on(self) -> None:
        state = given(*self.TAKEN_OVER)
        assert must_stop(state, 1) and not must_stop(state, 2)

    def test_the_latest_attempts_outcome_still_ends_the_run(self) -> None:
        [done] = decide(given(*self.TAKEN_OVER), Succeed(2, at(60), COUNTS, at(70))).events
        assert isinstance(done, RunSucceeded) and done.payload.started_at == at(60)


class TestReap:
    def test_a_run_silent_for_abandon_after_fails_as_lost(self) -> None:
        state = given(begin(runner="host-a"), Tick(1, at(30)))

        decision = decide(state, Reap(at(30) + TEN_MIN + timedelta(seconds=5), TEN_MIN))

        [lost] = decision.events
        assert isinstance(lost, RunFailed)
        assert (lost.payload.code, lost.payload.started_at, lost.payload.counts) == ("RUNNER_LOST", T0, RunCounts())
        assert lost.payload.error == "the run was lost: runner host-a gave no sign of life for 10 min 5 s (attempt 1)"
        assert apply(state, decision).heartbeat_at is None

    def test_the_silence_is_counted_from_the_last_heartbeat(self) -> None:
        state = given(begin(), Tick(1, at(500)))
        assert decide(state, Reap(at(600), TEN_MIN)) == NOTHING
        assert kinds(decide(state, Reap(at(1100), TEN_MIN))) == [RunFailed]

    def test_a_queued_run_is_not_reaped(self) -> None:
        assert decide(given(), Reap(at(10_000), TEN_MIN)) == NOTHING

    def test_an_attempt_of_an_older_runner_without_a_name(self) -> None:
        state = replace(given(begin()), attempt=Attempt(2, None, T0))
        [lost] = decide(state, Reap(at(45), timedelta(seconds=30))).events
        assert isinstance(lost, RunFailed)
        assert lost.payload.error == "the run was lost: its runner gave no sign of life for 45 s (attempt 2)"


STATUSES = [s for s in RunStatus]
BUILDS: dict[str, Callable[[int], RunEvent]] = {
    "started": lambda v: events.run_started(ORIGIN, v, 1, "host-a", T0),
    "progressed": lambda v: events.run_progressed(
        ORIGIN, v, T0, stage="load", rows_read=1, bytes_done=1, total_bytes=None
    ),
    "attempt_failed": lambda v: events.run_attempt_failed(
        ORIGIN, v, 1, T0, code="CONNECTION_FAILED", error="refused", retry_at=T0
    ),
    "succeeded": lambda v: events.run_succeeded(ORIGIN, v, COUNTS, T0, T0),
    "failed": lambda v: events.run_failed(ORIGIN, v, RunCounts(), T0, T0, code="INTERNAL", error="x"),
    "stopped": lambda v: events.run_stopped(ORIGIN, v, RunCounts(), T0, T0),
    "logged": lambda v: events.run_logged(ORIGIN, v, 1, T0, LogEntry("parsed", "parsed 1 data row")),
}
MOVES = {
    "started": RunStatus.RUNNING,
    "succeeded": RunStatus.SUCCEEDED,
    "failed": RunStatus.FAILED,
    "stopped": RunStatus.STOPPED,
}


class TestEvolveFollowsTheTransitionTable:
    @pytest.mark.parametrize("status", STATUSES, ids=str)
    @pytest.mark.parametrize("kind", BUILDS, ids=str)
    def test_each_event_in_each_status_moves_as_the_table_says(self, status: RunStatus, kind: str) -> None:
        state = RunState(ORIGIN, status=status, next_version=5, attempt=Attempt(1, "host-a", T0))
        event = BUILDS[kind](5)
        # An attempt's log moves nothing, whatever the status (the archive's entry follows the end).
        working = status is RunStatus.RUNNING or kind == "logged"
        allowed = can_transition(status, MOVES[kind]) if kind in MOVES else working

        if allowed:
            after = evolve(state, event)
            assert after.status is MOVES.get(kind, status)
            assert after.next_version == 6
        else:
            with pytest.raises(IllegalTransitionError):
                evolve(state, event)

    def test_a_log_needs_an_attempt(self) -> None:
        with pytest.raises(IllegalTransitionError):
            evolve(given(), BUILDS["logged"](2))

    def test_events_come_in_version_order(self) -> None:
        with pytest.raises(OutOfOrderError):
            evolve(given(begin()), BUILDS["succeeded"](2))
        with pytest.raises(OutOfOrderError):
            evolve(given(begin()), BUILDS["succeeded"](4))
