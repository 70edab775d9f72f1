"""The retry rules of a run (`domain.run` with `domain.retries`): given the events so far, when an attempt fails,
then the run waits for another attempt (`run.attempt_failed`) or ends — and what comes during the wait.

Transient failures only are retried, while the job's policy has attempts left; the waits grow by the policy's
multiplier; attempts that died with their runner are counted apart from those that failed. From the first
failed attempt on the retry poller begins the run's attempts, never its request; a waiting run needs no sign of
life and is never reaped.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from connect_events import (
    FailureCode,
    RetryPolicy,
    RunAttemptFailed,
    RunCounts,
    RunEvent,
    RunFailed,
    RunProgressed,
    RunStarted,
    RunStatus,
    RunStopped,
    RunStopRequested,
    RunStopRequestedPayload,
)
from connect_runner.domain import events
from connect_runner.domain.events import Origin
from connect_runner.domain.retries import MAX_WAIT_S, backoff, exhausted, retries_left
from connect_runner.domain.run import (
    Attempt,
    BeginAttempt,
    Command,
    Decision,
    Fail,
    IllegalTransitionError,
    Reap,
    RunState,
    Snapshot,
    Tick,
    apply,
    decide,
    evolve,
    must_stop,
    next_attempt_at,
)
from tests.unit.runner.runner_builders import location, run_request

T0 = datetime(2025, 3, 14, 10, 0, tzinfo=UTC)
ORIGIN = Origin.of(run_request(42, 7, source=location("/x.csv")))
SO_FAR = RunCounts(rows_read=0, bytes_transferred=0)
POLICY = RetryPolicy(attempts=3, initial_backoff_s=60, multiplier=2.0)
REFUSED = "cannot connect to connect@127.0.0.1:22: the server refused the connection (nothing listens on port 22)"
TEN_MIN = timedelta(minutes=10)
RESUME_AFTER = timedelta(seconds=30)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def begin(seconds: float = 0, runner: str = "host-a", max_attempts: int = 3) -> BeginAttempt:
    return BeginAttempt(runner=runner, now=at(seconds), max_attempts=max_attempts)


def retry(seconds: float = 0, runner: str = "host-a", max_attempts: int = 3) -> BeginAttempt:
    """The retry poller's begin."""
    return BeginAttempt(runner=runner, now=at(seconds), max_attempts=max_attempts, resume_after=RESUME_AFTER)


def fail(
    seconds: float,
    *,
    transient: bool = True,
    retry: RetryPolicy = POLICY,
    code: FailureCode = "CONNECTION_FAILED",
    error: str = REFUSED,
    started: float = 0,
    attempt: int | None = 1,
) -> Fail:
    return Fail(attempt, at(started), SO_FAR, code, error, at(seconds), transient=transient, retry=retry)


def stop_requested(seconds: float) -> RunStopRequested:
    return RunStopRequested(
        event_id=uuid4(),
        aggregate_id=ORIGIN.aggregate_id,
        aggregate_version=1,
        occurred_at=at(seconds),
        actor="ada",
        correlation_id=uuid4(),
        payload=RunStopRequestedPayload(job_id=42, run_id=7),
    )


def given(*steps: Command | RunStopRequested) -> RunState:
    state = RunState(ORIGIN)
    for step in steps:
        state = evolve(state, step) if isinstance(step, RunStopRequested) else apply(state, decide(state, step))
    return state


def only(decision: Decision) -> RunEvent:
    [event] = decision.events
    return event


WAITING = (begin(0), fail(5))  # attempt 1 refused at 5 s; attempt 2 due at 65 s


class TestATransientFailure:
    def test_with_attempts_left_the_attempt_fails_and_the_run_waits_running(self) -> None:
        decision = decide(given(begin(0)), fail(5))

        failed = only(decision)
        assert isinstance(failed, RunAttemptFailed)
        assert (failed.aggregate_version, failed.payload.attempt, failed.payload.code) == (3, 1, "CONNECTION_FAILED")
        assert (failed.payload.error, failed.payload.retry_at) == (REFUSED, at(65))
        state = apply(given(begin(0)), decision)
        assert (state.status, state.failed_attempts, state.retry_at) == (RunStatus.RUNNING, 1, at(65))
        assert state.terminal is None and not must_stop(state, 1)

    def test_when_the_policy_has_no_attempt_left_the_run_fails_saying_how_many_failed(self) -> None:
        state = given(begin(0), fail(5), retry(65), fail(70, started=65, attempt=2), retry(190))

        failed = only(decide(state, fail(195, started=190, attempt=3)))

        assert isinstance(failed, RunFailed)
        assert (failed.payload.code, failed.payload.error) == ("CONNECTION_FAILED", f"{REFUSED} (after 3 attempts)")
        assert failed.payload.started_at == at(190)  # the last attempt's
        assert apply(state, decide(state, fail(195, started=190, attempt=3))).status is RunStatus.FAILED

    def test_without_a_retry_policy_the_run_fails_with_the_words_as_they_are(self) -> None:
        failed = only(decide(given(begin(0)), fail(5, retry=RetryPolicy())))
        assert isinstance(failed, RunFailed) and failed.payload.error == REFUSED

    def test_a_run_that_never_began_an_attempt_is_not_retried(self) -> None:
        assert isinstance(only(decide(given(), fail(0, attempt=None))), RunFailed)

    def test_with_a_stop_already_requested_the_run_ends_stopped_instead_of_waiting(self) -> None:
        stopped = only(decide(given(begin(0), stop_requested(3)), fail(5)))
        assert isinstance(stopped, RunStopped)
        assert (stopped.payload.started_at, stopped.payload.finished_at) == (T0, at(5))


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("BAD_HEADER", "header of '/x.csv' has no columns 'name'"),
        ("FILE_NOT_FOUND", "no file matching '/x.csv'"),
        ("TARGET_MISSING", "the table 'people' was dropped or renamed while the run was loading it"),
        ("AUTH_FAILED", "connect@127.0.0.1:22 refused the stored credential"),
        ("HOST_KEY_MISMATCH", "the host key of 127.0.0.1:22 does not match the pinned key"),
        ("LOAD_FAILED", "the table 'people' refused rows: it has a constraint"),
        ("CONNECTION_FAILED", "cannot connect to connect@a..b:22: 'a..b' is not a valid host name"),
    ],
)
def test_a_failure_that_is_not_transient_ends_the_run_at_once(code: FailureCode, error: str) -> None:
    failed = only(decide(given(begin(0)), fail(5, transient=False, code=code, error=error)))
    assert isinstance(failed, RunFailed)
    assert (failed.payload.code, failed.payload.error) == (code, error)


class TestTheWait:
    @pytest.mark.parametrize("seconds", [30, 65, 4000])
    def test_a_redelivered_request_begins_nothing_before_or_after_its_time(self, seconds: float) -> None:
        state = given(*WAITING)
        assert state.polled
        assert decide(state, begin(seconds, runner="host-b")) == Decision()

    def test_before_its_time_the_poller_begins_nothing(self) -> None:
        assert decide(given(*WAITING), retry(64)) == Decision()

    @pytest.mark.parametrize("seconds", [65, 66, 4000])
    def test_from_its_time_on_the_poller_begins_the_next_attempt(self, seconds: float) -> None:
        started = only(decide(given(*WAITING), retry(seconds, runner="host-b")))
        assert isinstance(started, RunStarted)
        assert (started.payload.attempt, started.payload.runner, started.aggregate_version) == (2, "host-b", 4)
        assert apply(given(*WAITING), decide(given(*WAITING), retry(seconds))).retry_at is None

    @pytest.mark.parametrize("steps", [(), (begin(0),), (begin(0), begin(60))], ids=["queued", "running", "redone"])
    def test_the_poller_never_begins_a_run_its_request_owns(self, steps: tuple[Command, ...]) -> None:
        assert not given(*steps).polled
        assert decide(given(*steps), retry(10_000)) == Decision()

    def test_a_request_never_begins_an_attempt_of_a_run_the_poller_began(self) -> None:
        assert decide(given(*WAITING, retry(65)), begin(70, runner="host-b")) == Decision()

    def test_it_needs_no_sign_of_life_ticks_decide_nothing(self) -> None:
        state = given(*WAITING)
        assert state.heartbeat_at is None
        assert decide(state, Tick(1, at(10))) == Decision()
        assert decide(state, Tick(1, at(10), Snapshot(rows_read=9))) == Decision()

    @pytest.mark.parametrize("silent_s", [600, 601, 86_400])
    def test_a_waiting_run_is_never_reaped_however_long_it_waits(self, silent_s: float) -> None:
        state = given(begin(0), fail(5, retry=RetryPolicy(attempts=2, initial_backoff_s=21_600)))
        assert decide(state, Reap(at(5 + silent_s), TEN_MIN)) == Decision()

    def test_a_stop_during_the_wait_ends_the_run_stopped_at_the_pollers_next_pass(self) -> None:
        state = given(*WAITING, stop_requested(20))
        assert must_stop(state, 1)
        assert decide(state, begin(21)) == Decision()  # a redelivered request leaves it to the poller

        stopped = only(decide(state, retry(21)))  # long before the wait is over

        assert isinstance(stopped, RunStopped)
        assert (stopped.payload.started_at, stopped.payload.finished_at) == (T0, at(21))
        assert apply(state, decide(state, retry(21))).status is RunStatus.STOPPED

    @pytest.mark.parametrize(
        "event",
        [
            events.run_attempt_failed(ORIGIN, 4, 1, at(6), code="CONNECTION_FAILED", error="x", retry_at=at(99)),
            events.run_progressed(ORIGIN, 4, at(6), stage="load", rows_read=1, bytes_done=1, total_bytes=None),
        ],
        ids=["attempt_failed", "progressed"],
    )
    def test_a_waiting_run_has_no_working_attempt_to_fail_or_progress(self, event: RunEvent) -> None:
        with pytest.raises(IllegalTransitionError):
            evolve(given(*WAITING), event)

    def test_an_attempt_fails_as_itself_only(self) -> None:
        other = events.run_attempt_failed(ORIGIN, 3, 2, at(6), code="CONNECTION_FAILED", error="x", retry_at=at(9))
        with pytest.raises(IllegalTransitionError):
            evolve(given(begin(0)), other)


class TestWhenThePollerTakesTheRunUp:
    @pytest.mark.parametrize(
        ("steps", "expected"),
        [
            ((), None),
            ((begin(0),), None),  # its request is not committed: a redelivery redoes it
            (WAITING, at(65)),
            ((*WAITING, retry(65)), at(95)),  # the attempt the poller began, silent for `resume_after`
            ((*WAITING, retry(65), Tick(2, at(80))), at(110)),
            ((*WAITING, retry(65), fail(70, started=65, attempt=2)), at(190)),
            ((*WAITING, retry(65), fail(70, started=65, attempt=2, transient=False)), None),
        ],
        ids=["queued", "request-owned", "waiting", "begun", "beating", "waiting-again", "ended"],
    )
    def test_next_attempt_at(self, steps: tuple[Command, ...], expected: datetime | None) -> None:
        assert next_attempt_at(given(*steps), RESUME_AFTER) == expected

    def test_an_attempt_it_began_that_went_silent_is_resumed_as_one_that_died(self) -> None:
        state = given(*WAITING, retry(65), Tick(2, at(80)))
        assert decide(state, retry(109)) == Decision()  # alive as far as anyone knows

        started = only(decide(state, retry(110, runner="host-b")))

        assert isinstance(started, RunStarted) and started.payload.attempt == 3
        assert apply(state, decide(state, retry(110))).unfinished_attempts == 2  # the died one and attempt 3


@pytest.mark.parametrize(
    ("policy", "waits_s"),
    [
        (RetryPolicy(attempts=5, initial_backoff_s=60, multiplier=2.0), [60, 120, 240, 480]),
        (RetryPolicy(attempts=4, initial_backoff_s=1, multiplier=1.0), [1, 1, 1]),
        (RetryPolicy(attempts=3, initial_backoff_s=10, multiplier=1.5), [10, 15]),
        (RetryPolicy(attempts=10, initial_backoff_s=3600, multiplier=10.0), [3600] + [MAX_WAIT_S] * 8),
    ],
)
def test_the_waits_follow_the_policy_through_every_attempt(policy: RetryPolicy, waits_s: list[float]) -> None:
    """Every attempt fails, each right when it began: the gaps between attempts are the policy's series."""
    state, now, starts = given(begin(0)), 0.0, [0.0]
    while state.terminal is None:
        attempt = state.attempt.number if state.attempt else None
        state = apply(state, decide(state, fail(now, retry=policy, started=now, attempt=attempt)))
        if state.retry_at is not None:
            now = (state.retry_at - T0).total_seconds()
            starts.append(now)
            state = apply(state, decide(state, retry(now)))

    assert [b - a for a, b in itertools.pairwise(starts)] == waits_s
    assert state.attempt is not None and state.attempt.number == policy.attempts
    assert state.failed_attempts == policy.attempts - 1  # the last failure ended the run instead
    assert isinstance(state.terminal, RunFailed)
    assert state.terminal.payload.error == f"{REFUSED} (after {policy.attempts} attempts)"


def test_the_policy_functions() -> None:
    assert [retries_left(POLICY, n) for n in (1, 2, 3)] == [True, True, False]
    assert backoff(RetryPolicy(initial_backoff_s=5, multiplier=1e300), 3) == timedelta(seconds=MAX_WAIT_S)
    assert exhausted("refused", 1) == "refused"  # one attempt only: nothing was retried
    assert exhausted("refused", 2) == "refused (after 2 attempts)"


class TestDiedAndFailedAttemptsAreCountedApart:
    def test_failed_attempts_do_not_count_towards_the_crash_give_up(self) -> None:
        many = RetryPolicy(attempts=10, initial_backoff_s=1, multiplier=1.0)
        steps: list[Command] = []
        for i in range(5):
            start = begin(0, max_attempts=1) if i == 0 else retry(10 * i, max_attempts=1)
            steps += [start, fail(10 * i + 1, retry=many, started=10 * i, attempt=i + 1)]
        state = given(*steps)

        started = only(decide(state, retry(100, max_attempts=1)))

        assert isinstance(started, RunStarted) and started.payload.attempt == 6
        assert (state.failed_attempts, state.unfinished_attempts) == (5, 0)

    def test_died_attempts_do_not_use_up_the_policy(self) -> None:
        # Attempt 1 died with its runner; attempt 2 fails: the policy (3 attempts) has two left.
        state = given(begin(0), begin(60))
        assert (state.unfinished_attempts, state.failed_attempts) == (2, 0)  # the one that died, the running one
        assert isinstance(only(decide(state, fail(65, started=60, attempt=2))), RunAttemptFailed)

    def test_after_max_attempts_died_the_run_is_given_up_whatever_failed_before(self) -> None:
        # 1 failed; then 3 died, each resumed by the poller once silent for `resume_after`
        state = given(begin(0), fail(1), retry(61), retry(91), retry(121))

        decision = decide(state, retry(151, max_attempts=3))

        assert [type(e) for e in decision.events] == [RunStarted, RunFailed]
        given_up = decision.events[1]
        assert isinstance(given_up, RunFailed)
        assert given_up.payload.error == "gave up after 3 attempts: the runner stopped during each of them"
        assert apply(state, decision).attempt == Attempt(5, "host-a", at(151))


def test_progress_is_still_reported_by_the_attempt_after_a_wait() -> None:
    state = given(*WAITING, retry(65))
    assert isinstance(only(decide(state, Tick(2, at(66), Snapshot(rows_read=3)))), RunProgressed)
