"""One run as the runner sees it: `RunState`, built by `evolve` from the run's events, and `decide`, the rules
for what the runner records next. Pure: the clock comes in with each command, and every move is checked
against the contract's one transition table (`connect_events.TRANSITIONS`, via `status_after`).

The runner writes the run's versions 2, 3, … (`run.requested` is 1), across attempts and restarts (ADR 0009).
An ended run stays ended: every command on it decides nothing, and the handler returns the stored event; only
the attempt that ended it may still log what it did after the end (`Log.after_end`: where the file was archived).

A run has attempts, numbered from 1 on `run.started`. An attempt ends in one of three ways: it ends the run
(succeeded, failed, stopped); it *fails* transiently and the job's retry policy wants another one
(`run.attempt_failed` with its `retry_at`; the run stays running and *waits*); or it *dies* with its runner
(killed, cancelled by a rebalance or a drain) and records nothing, so the next `BeginAttempt` finds it. The two
counts are kept apart: `RunState.failed_attempts` is what the policy's `attempts` limits, and the attempts
that died (as a new one begins, all earlier attempts that did not fail: `RunState.unfinished_attempts`) are
what `BeginAttempt.max_attempts` limits. A run thus makes at most `policy.attempts + max_attempts` attempts.
Only the latest attempt speaks for the run: one that a newer attempt superseded (its runner lost the run yet
worked on) decides nothing with its outcome, and `must_stop` tells it to wind down.

Who begins an attempt: the run's request until an attempt of it fails, the retry poller from then on
(`RunState.polled`). The consumer commits the request once the run waits, so no request brings it back; a
request redelivered in between (its runner stopped before committing it) begins nothing. A waiting run needs
no sign of life: no attempt runs, nothing beats, and it is never taken for lost; the poller begins the next
attempt when the wait is over (`next_attempt_at`), or ends the run stopped as soon as a stop is requested.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from connect_events import (
    FailureCode,
    RetryPolicy,
    RunAttemptFailed,
    RunCounts,
    RunEvent,
    RunFailed,
    RunLogged,
    RunProgressed,
    RunStarted,
    RunStatus,
    RunStopped,
    RunStopRequested,
    RunSucceeded,
    status_after,
)
from connect_runner.domain import events
from connect_runner.domain.events import LogEntry, Origin
from connect_runner.domain.retries import NO_RETRY, backoff, exhausted, retries_left

FIRST_VERSION = 2
"""The runner's first event of a run; version 1 is the scheduler's request."""

Terminal = RunSucceeded | RunFailed | RunStopped
TERMINAL_EVENTS = (RunSucceeded, RunFailed, RunStopped)


class RunRuleError(Exception):
    """A command or event the run's rules forbid in its state: a bug in the caller, never a user's doing."""


class IllegalTransitionError(RunRuleError):
    """An event would move the run along a transition the contract's table forbids."""

    def __init__(self, current: RunStatus, event: RunEvent) -> None:
        super().__init__(f"{type(event).__name__} cannot follow status {current} (run {event.aggregate_id})")


class OutOfOrderError(RunRuleError):
    """An event does not carry the run's next version."""

    def __init__(self, expected: int, event: RunEvent) -> None:
        super().__init__(f"{type(event).__name__} has version {event.aggregate_version}, expected {expected}")


@dataclass(frozen=True)
class Attempt:
    """One execution of the run by one runner; `runner` is None for attempts recorded before it was kept."""

    number: int
    runner: str | None
    started_at: datetime


@dataclass(frozen=True)
class StopRequest:
    """Who asked the run to stop, and when."""

    requested_at: datetime
    actor: str


@dataclass(frozen=True)
class Snapshot:
    """An attempt's progress at one moment."""

    stage: str = "transfer"
    rows_read: int = 0
    bytes_done: int = 0
    total_bytes: int | None = None


@dataclass(frozen=True)
class RunState:
    """What the runner knows of a run: a run it holds a request for and has recorded nothing of is queued.

    `failed_attempts` counts the attempts that failed transiently (`run.attempt_failed`); `retry_at` is set
    while the run waits for its next attempt after the latest one failed so (and `heartbeat_at` is None then:
    no attempt runs).
    """

    origin: Origin
    status: RunStatus = RunStatus.QUEUED
    next_version: int = FIRST_VERSION
    attempt: Attempt | None = None  # the latest
    heartbeat_at: datetime | None = None  # the latest attempt's last sign of life; None once the run ended
    stop: StopRequest | None = None
    terminal: Terminal | None = None
    failed_attempts: int = 0
    retry_at: datetime | None = None

    @property
    def unfinished_attempts(self) -> int:
        """Attempts that neither failed nor ended the run: the latest while it runs, and those that died (when
        a new attempt begins, every unfinished one has died: its runner stopped during it)."""
        return (self.attempt.number if self.attempt else 0) - self.failed_attempts

    @property
    def polled(self) -> bool:
        """Whether the retry poller begins the run's attempts, not its request: from its first failed attempt on
        (the request's offset is committed once the run waits, so the request never comes back)."""
        return self.failed_attempts > 0


def evolve(state: RunState, event: RunEvent | RunStopRequested) -> RunState:
    """The state after `event`. A stop request after the end changes nothing; run events must come in
    version order and move the run only as the transition table allows."""
    if isinstance(event, RunStopRequested):
        if state.terminal is not None or state.stop is not None:
            return state
        return replace(state, stop=StopRequest(requested_at=event.occurred_at, actor=event.actor))
    if event.aggregate_version != state.next_version:
        raise OutOfOrderError(state.next_version, event)
    state = replace(state, status=_moved(state, event), next_version=state.next_version + 1)
    if isinstance(event, RunStarted):
        started = event.payload
        attempt = Attempt(number=started.attempt, runner=started.runner, started_at=started.started_at)
        return replace(state, attempt=attempt, heartbeat_at=started.started_at, retry_at=None)
    if isinstance(event, RunAttemptFailed):
        failed = state.failed_attempts + 1
        return replace(state, failed_attempts=failed, retry_at=event.payload.retry_at, heartbeat_at=None)
    if isinstance(event, TERMINAL_EVENTS):
        return replace(state, terminal=event, heartbeat_at=None, retry_at=None)
    return state


def _moved(state: RunState, event: RunEvent) -> RunStatus:
    current = state.status
    if isinstance(event, RunLogged):
        # The execution log belongs to an attempt; it may outlast the run's end (the file is archived after it).
        if state.attempt is None:
            raise IllegalTransitionError(current, event)
        return current
    if isinstance(event, RunProgressed | RunAttemptFailed):
        # Only an attempt that is working reports progress or fails: not before a start, not after the end,
        # not while the run waits for its next attempt; and an attempt fails as itself.
        working = current is RunStatus.RUNNING and state.retry_at is None
        if not working or (isinstance(event, RunAttemptFailed) and not _is_latest(state, event.payload.attempt)):
            raise IllegalTransitionError(current, event)
        return current
    after = status_after(current, event)
    if after is None:
        raise IllegalTransitionError(current, event)
    return after


def _is_latest(state: RunState, attempt: int) -> bool:
    return state.attempt is not None and state.attempt.number == attempt


@dataclass(frozen=True)
class BeginAttempt:
    """A runner takes the run up: its first attempt, a new one after an earlier attempt died (at most
    `max_attempts` may die), or the next one once the wait after a failed attempt is over.

    The run's request begins the attempts until one fails; from then on the retry poller does (`RunState.polled`)
    and sets `resume_after`: it begins the next attempt once `next_attempt_at` has come, not before. Neither
    begins a run the other owns."""

    runner: str
    now: datetime
    max_attempts: int
    resume_after: timedelta | None = None

    @property
    def polled(self) -> bool:
        """Whether the retry poller begins it."""
        return self.resume_after is not None


@dataclass(frozen=True)
class Tick:
    """Attempt `attempt` is alive; `progress` is set when it got further since the last tick."""

    attempt: int
    now: datetime
    progress: Snapshot | None = None


@dataclass(frozen=True)
class Succeed:
    """Attempt `attempt` wrote the load in the final transaction; record its success (the caller checked
    `must_stop`)."""

    attempt: int
    started_at: datetime
    counts: RunCounts
    now: datetime


@dataclass(frozen=True)
class Fail:
    """Attempt `attempt` failed (None: the run fails without one, its request cannot be read); the target was
    not changed. A `transient` failure (the network, a server that is unavailable) is tried again while `retry`
    has attempts left; any other ends the run."""

    attempt: int | None
    started_at: datetime
    counts: RunCounts
    code: FailureCode
    error: str
    now: datetime
    transient: bool = False
    retry: RetryPolicy = NO_RETRY


@dataclass(frozen=True)
class Stop:
    """Attempt `attempt` stopped working because a stop was requested; `counts` are its counters so far."""

    attempt: int
    started_at: datetime
    counts: RunCounts
    now: datetime


@dataclass(frozen=True)
class Log:
    """Attempt `attempt` ended the stages of `entries`: its execution log. Recorded while the attempt is the
    run's latest and, with `after_end`, also once the run has ended (what the attempt did after its end: the
    file is archived only after the final commit)."""

    attempt: int
    now: datetime
    entries: tuple[LogEntry, ...]
    after_end: bool = False


@dataclass(frozen=True)
class Reap:
    """End the run if its latest attempt has given no sign of life for `abandon_after`."""

    now: datetime
    abandon_after: timedelta


Command = BeginAttempt | Tick | Log | Succeed | Fail | Stop | Reap


@dataclass(frozen=True)
class Decision:
    """What to record: events (versioned from the state decided on) and the attempt's heartbeat."""

    events: tuple[RunEvent, ...] = ()
    heartbeat_at: datetime | None = None


NOTHING = Decision()


def decide(state: RunState, command: Command) -> Decision:
    """What the runner records for `command` in `state`; nothing once the run has ended, and nothing for the
    outcome of an attempt a newer one superseded (the newer one owns the run: the old one only winds down).
    An attempt's log may follow the end it recorded itself (`Log.after_end`)."""
    if isinstance(command, Log):
        return _log(state, command)
    if state.terminal is not None:
        return NOTHING
    outcome = command.attempt if isinstance(command, Succeed | Fail | Stop) else None
    if outcome is not None and superseded(state, outcome):
        return NOTHING
    match command:
        case BeginAttempt():
            return _begin(state, command)
        case Tick():
            return _tick(state, command)
        case Succeed():
            return _succeed(state, command)
        case Fail():
            return _fail(state, command)
        case Stop():
            return _stop(state, command)
        case Reap():
            return _reap(state, command)


def apply(state: RunState, decision: Decision) -> RunState:
    """The state once `decision` is recorded: what a ledger stores."""
    for event in decision.events:
        state = evolve(state, event)
    if decision.heartbeat_at is not None and state.terminal is None:
        state = replace(state, heartbeat_at=decision.heartbeat_at)
    return state


def must_stop(state: RunState, attempt: int) -> bool:
    """Whether attempt `attempt` must stop working: a stop was requested, the run ended elsewhere (reaped), or
    a newer attempt began (its runner took the run over while this one still worked, e.g. after a rebalance)."""
    return state.terminal is not None or state.stop is not None or superseded(state, attempt)


def superseded(state: RunState, attempt: int) -> bool:
    """Whether a newer attempt than `attempt` has begun."""
    return state.attempt is not None and state.attempt.number > attempt


def _begin(state: RunState, command: BeginAttempt) -> Decision:
    origin, now = state.origin, command.now
    if command.polled is not state.polled:
        # A request redelivered after its run began waiting, or the poller on a run its request still owns.
        return NOTHING
    if state.stop is not None:
        # Stopped before it started (or before a new attempt, or while waiting for one): it ends at once.
        started_at = state.attempt.started_at if state.attempt else now
        return _emit(state, lambda v: events.run_stopped(origin, v, RunCounts(), started_at, now))
    if command.resume_after is not None:
        due = next_attempt_at(state, command.resume_after)
        if due is None or now < due:
            return NOTHING  # the wait goes on, or the running attempt is alive
    number = (state.attempt.number if state.attempt else 0) + 1

    def started(version: int) -> RunEvent:
        return events.run_started(origin, version, number, command.runner, now)

    died = state.unfinished_attempts  # the attempt beginning now is not one of them yet
    if died < command.max_attempts:
        return _emit(state, started)

    def given_up(version: int) -> RunEvent:
        return events.run_failed(origin, version, RunCounts(), now, now, code="INTERNAL", error=gave_up(died))

    return _emit(state, started, given_up)


def next_attempt_at(state: RunState, resume_after: timedelta) -> datetime | None:
    """When the retry poller takes the run up; None while it is not the poller's (`RunState.polled`) or once
    it ended. While the run waits: when the wait is over. While an attempt the poller began runs: `resume_after`
    after that attempt's last sign of life, for then its runner died (killed, or drained at shutdown) and no
    request will bring the run back; the new attempt counts that one as died."""
    if not state.polled or state.terminal is not None:
        return None
    if state.retry_at is not None:
        return state.retry_at
    return None if state.heartbeat_at is None else state.heartbeat_at + resume_after


def gave_up(died: int) -> str:
    """`died` attempts stopped midway without ending the run; another would most likely do the same (and take
    its partition down with it, e.g. out of memory), so the run fails without being loaded again."""
    return f"gave up after {died} attempts: the runner stopped during each of them"


def _tick(state: RunState, command: Tick) -> Decision:
    if state.attempt is None or state.attempt.number != command.attempt or state.retry_at is not None:
        return NOTHING  # a newer attempt owns the run's progress and heartbeat; a waiting run needs neither
    progress = command.progress
    if progress is None or state.stop is not None:
        return Decision(heartbeat_at=command.now)
    origin = state.origin

    def progressed(version: int) -> RunEvent:
        return events.run_progressed(
            origin,
            version,
            command.now,
            stage=progress.stage,
            rows_read=progress.rows_read,
            bytes_done=progress.bytes_done,
            total_bytes=progress.total_bytes,
        )

    return _emit(state, progressed, heartbeat_at=command.now)


def _log(state: RunState, command: Log) -> Decision:
    if not _is_latest(state, command.attempt) or (state.terminal is not None and not command.after_end):
        return NOTHING
    origin, attempt, now = state.origin, command.attempt, command.now

    def logged(entry: LogEntry) -> Callable[[int], RunEvent]:
        return lambda version: events.run_logged(origin, version, attempt, now, entry)

    return _emit(state, *map(logged, command.entries))


def _succeed(state: RunState, command: Succeed) -> Decision:
    if state.stop is not None:
        raise RunRuleError(f"run {state.origin.aggregate_id} must stop: its load may not commit")
    origin = state.origin
    return _emit(state, lambda v: events.run_succeeded(origin, v, command.counts, command.started_at, command.now))


def _fail(state: RunState, command: Fail) -> Decision:
    """A data error ends the run as it is; a transient failure waits for the next attempt while the policy has
    one left, and ends the run saying how many attempts failed once it has none. A stop already requested
    forbids the next attempt: the run ends stopped, as that attempt would have."""
    origin, attempt, error = state.origin, state.attempt, command.error
    counts, started_at, now = command.counts, command.started_at, command.now
    if command.transient and attempt is not None:
        failed = state.failed_attempts + 1
        if retries_left(command.retry, failed) and state.stop is not None:
            return _emit(state, lambda v: events.run_stopped(origin, v, counts, started_at, now))
        if retries_left(command.retry, failed):
            retry_at = now + backoff(command.retry, failed)

            def attempt_failed(version: int) -> RunEvent:
                return events.run_attempt_failed(
                    origin, version, attempt.number, now, code=command.code, error=error, retry_at=retry_at
                )

            return _emit(state, attempt_failed)
        error = exhausted(error, failed)

    def failed_run(version: int) -> RunEvent:
        return events.run_failed(origin, version, counts, started_at, now, code=command.code, error=error)

    return _emit(state, failed_run)


def _stop(state: RunState, command: Stop) -> Decision:
    if state.stop is None:
        raise RunRuleError(f"run {state.origin.aggregate_id} was not asked to stop")
    origin = state.origin
    return _emit(state, lambda v: events.run_stopped(origin, v, command.counts, command.started_at, command.now))


def _reap(state: RunState, command: Reap) -> Decision:
    """A waiting run is never lost: no attempt runs to give a sign of life, and the poller begins the next."""
    attempt, heartbeat_at = state.attempt, state.heartbeat_at
    if state.retry_at is not None:
        return NOTHING
    if state.status is not RunStatus.RUNNING or attempt is None or heartbeat_at is None:
        return NOTHING
    silence = command.now - heartbeat_at
    if silence < command.abandon_after:
        return NOTHING
    error = lost(attempt, silence)

    def failed(version: int) -> RunEvent:
        return events.run_failed(
            state.origin, version, RunCounts(), attempt.started_at, command.now, code="RUNNER_LOST", error=error
        )

    return _emit(state, failed)


def lost(attempt: Attempt, silence: timedelta) -> str:
    """Why a run was given up as lost: which runner went silent, and for how long. A runner that is alive
    reports every second, so a silence this long means it died (or lost its database) mid-run; without this
    the run would show *Running* for ever."""
    runner = f"runner {attempt.runner}" if attempt.runner else "its runner"
    return f"the run was lost: {runner} gave no sign of life for {_duration(silence)} (attempt {attempt.number})"


def _duration(span: timedelta) -> str:
    minutes, seconds = divmod(int(span.total_seconds()), 60)
    if not minutes:
        return f"{seconds} s"
    return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"


def _emit(state: RunState, *builds: Callable[[int], RunEvent], heartbeat_at: datetime | None = None) -> Decision:
    """Number the events from the state's next version, each checked by `evolve` against the table."""
    built: list[RunEvent] = []
    for build in builds:
        event = build(state.next_version)
        state = evolve(state, event)
        built.append(event)
    return Decision(tuple(built), heartbeat_at)
