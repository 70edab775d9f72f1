"""What every `RunLedger` must do: the checks both the in-memory fake and `PgRunLedger` pass.

Each check gets an empty ledger. Changes go through the run's rules (`decide`) as the use cases make them; a
run that waits keeps its request, as `handlers` does in the same transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connect_events import (
    RetryPolicy,
    RunAttemptFailed,
    RunCounts,
    RunRequested,
    RunStatus,
    RunStopped,
    RunSucceeded,
)
from connect_runner.domain.events import LogEntry, Origin
from connect_runner.domain.run import (
    Attempt,
    BeginAttempt,
    Command,
    Decision,
    Fail,
    Log,
    RunState,
    Snapshot,
    StopRequest,
    Succeed,
    Tick,
    decide,
)
from connect_runner.domain.source_files import PendingArchive
from connect_runner.ports import LedgerConflictError, RunLedger
from tests.unit.runner.runner_builders import location, run_request, stop_request

Ledger = RunLedger[Any]
Check = Callable[[Ledger], Awaitable[None]]
T0 = datetime(2025, 3, 14, 10, 0, tzinfo=UTC)
COUNTS = RunCounts(rows_read=3, inserted=2, updated=1, bytes_transferred=99)
STOP_KEPT_WITHIN_S = 10.0
RESUME_AFTER = timedelta(seconds=30)
RETRY = RetryPolicy(attempts=3, initial_backoff_s=60, multiplier=2.0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def request(run_id: int = 1, job_id: int = 42) -> RunRequested:
    return run_request(job_id, run_id, source=location("/x.csv"))


def begin(seconds: float = 0, runner: str = "host-a") -> BeginAttempt:
    return BeginAttempt(runner=runner, now=at(seconds), max_attempts=3)


def retry(seconds: float, runner: str = "host-a") -> BeginAttempt:
    """The retry poller's begin."""
    return BeginAttempt(runner=runner, now=at(seconds), max_attempts=3, resume_after=RESUME_AFTER)


async def run(ledger: Ledger, origin: RunRequested, command: Command) -> tuple[RunState, Decision]:
    """What the use cases do: load under the run's lock, decide, record, in one transaction."""
    async with ledger.transaction() as tx:
        state = await ledger.load(tx, origin)
        decision = decide(state, command)
        return await ledger.record(tx, state, decision), decision


async def read(ledger: Ledger, origin: RunRequested) -> RunState:
    async with ledger.transaction() as tx:
        state: RunState = await ledger.load(tx, origin)
        return state


async def wait(ledger: Ledger, req: RunRequested, failed_s: float = 5, attempt: int = 1) -> RunState:
    """Attempt `attempt` fails transiently at `failed_s` (begun at 0): the run waits 60 s (the first time)
    with its request kept."""
    refused = Fail(attempt, T0, RunCounts(), "CONNECTION_FAILED", "refused", at(failed_s), transient=True, retry=RETRY)
    async with ledger.transaction() as tx:
        state = await ledger.load(tx, req)
        state = await ledger.record(tx, state, decide(state, refused))
        await ledger.keep_request(tx, req)
    assert state.retry_at is not None
    return state


async def claim(ledger: Ledger, seconds: float, limit: int = 10) -> list[RunRequested]:
    """Claim in a transaction of its own, and let it end."""
    async with ledger.transaction() as tx:
        claimed: list[RunRequested] = await ledger.claim_retries(tx, at(seconds), RESUME_AFTER, limit)
        return claimed


async def check_an_unknown_run_is_queued(ledger: Ledger) -> None:
    req = request()
    assert await read(ledger, req) == RunState(Origin.of(req))


async def check_recorded_states_are_read_back(ledger: Ledger) -> None:
    req = request()
    started, _ = await run(ledger, req, begin(runner="host-a"))
    assert started.attempt == Attempt(1, "host-a", T0)
    assert await read(ledger, req) == started

    progressed, decision = await run(ledger, req, Tick(1, at(1), Snapshot(stage="load", rows_read=10)))
    assert len(decision.events) == 1
    assert (progressed.next_version, progressed.heartbeat_at) == (4, at(1))
    assert await read(ledger, req) == progressed

    again, _ = await run(ledger, req, begin(60, runner="host-b"))
    assert (again.attempt, again.next_version, again.heartbeat_at) == (Attempt(2, "host-b", at(60)), 5, at(60))
    assert await read(ledger, req) == again


async def check_an_ended_run_keeps_its_terminal_event(ledger: Ledger) -> None:
    req = request()
    await run(ledger, req, begin())
    ended, decision = await run(ledger, req, Succeed(1, T0, COUNTS, at(5)))
    [succeeded] = decision.events
    assert isinstance(succeeded, RunSucceeded)

    stored = await read(ledger, req)
    assert stored == ended
    assert (stored.status, stored.terminal, stored.heartbeat_at) == (RunStatus.SUCCEEDED, succeeded, None)
    later, decision = await run(ledger, req, begin(10))
    assert decision == Decision() and later == stored


async def check_an_attempts_log_after_the_end_continues_the_versions(ledger: Ledger) -> None:
    req = request()
    await run(ledger, req, begin())
    ended, _ = await run(ledger, req, Succeed(1, T0, COUNTS, at(5)))
    archived = LogEntry("archived", "moved to 'archive/42.1_x.csv'", details={"path": "archive/42.1_x.csv"})

    logged, decision = await run(ledger, req, Log(1, at(6), (archived,), after_end=True))

    assert [e.aggregate_version for e in decision.events] == [ended.next_version]
    stored = await read(ledger, req)
    assert stored == logged and (stored.terminal, stored.next_version) == (ended.terminal, ended.next_version + 1)


async def check_a_run_can_end_without_an_attempt(ledger: Ledger) -> None:
    req = request()
    ended, decision = await run(ledger, req, Fail(None, T0, RunCounts(), "INTERNAL", "unreadable", T0))
    assert await read(ledger, req) == ended
    assert (ended.status, ended.attempt, ended.next_version) == (RunStatus.FAILED, None, 3)
    assert ended.terminal == decision.events[0]


async def check_a_transaction_that_fails_stores_nothing(ledger: Ledger) -> None:
    req = request()
    with pytest.raises(RuntimeError):
        async with ledger.transaction() as tx:
            state = await ledger.load(tx, req)
            await ledger.record(tx, state, decide(state, begin()))
            await ledger.record_stop(tx, stop_request(42, 1))
            raise RuntimeError("after recording")
    assert await read(ledger, req) == RunState(Origin.of(req))


async def check_a_decision_on_a_stale_state_is_refused(ledger: Ledger) -> None:
    req = request()
    stale, _ = await run(ledger, req, begin())
    current, _ = await run(ledger, req, begin(60))
    with pytest.raises(LedgerConflictError):
        async with ledger.transaction() as tx:
            await ledger.load(tx, req)
            await ledger.record(tx, stale, decide(stale, Tick(1, at(61), Snapshot(rows_read=1))))
    assert await read(ledger, req) == current


async def check_transactions_on_one_run_take_turns(ledger: Ledger) -> None:
    req = request()
    results = await asyncio.gather(*(run(ledger, req, begin(i)) for i in range(3)))
    assert sorted(state.attempt.number for state, _ in results if state.attempt) == [1, 2, 3]
    assert (await read(ledger, req)).next_version == 5


async def check_try_load_gives_way_while_the_run_is_locked(ledger: Ledger) -> None:
    req, other = request(1), request(2)
    async with ledger.transaction() as holder:
        await ledger.load(holder, req)
        async with ledger.transaction() as tx:
            assert await ledger.try_load(tx, req) is None
            assert await ledger.try_load(tx, other) == RunState(Origin.of(other))
    async with ledger.transaction() as tx:
        assert await ledger.try_load(tx, req) == RunState(Origin.of(req))


async def check_stop_requests_are_kept_until_the_run_ends(ledger: Ledger) -> None:
    req = request()
    async with ledger.transaction() as tx:
        assert await ledger.record_stop(tx, stop_request(42, 1, at=at(1), actor="ada")) is None
    async with ledger.transaction() as tx:
        assert await ledger.record_stop(tx, stop_request(42, 1, at=at(2), actor="bob")) is None
    assert (await read(ledger, req)).stop == StopRequest(at(1), "ada")

    stopped, decision = await run(ledger, req, begin(3))
    [event] = decision.events
    assert isinstance(event, RunStopped) and stopped.status is RunStatus.STOPPED
    assert await read(ledger, req) == stopped
    async with ledger.transaction() as tx:
        assert await ledger.record_stop(tx, stop_request(42, 1, at=at(4))) == event


async def check_stops_are_kept_while_a_run_is_locked(ledger: Ledger) -> None:
    busy, other = request(1), request(2)
    await run(ledger, busy, begin())
    async with ledger.transaction() as final_commit:
        state = await ledger.load(final_commit, busy)  # holds the busy run's lock, as a long final commit does
        # Bounded, so a ledger that waits for the lock fails here instead of hanging the suite.
        async with asyncio.timeout(STOP_KEPT_WITHIN_S), ledger.transaction() as tx:
            assert await ledger.record_stop(tx, stop_request(42, 1, at=at(1), actor="ada")) is None
            assert await ledger.record_stop(tx, stop_request(42, 2, at=at(1), actor="bob")) is None
        ended = await ledger.record(final_commit, state, decide(state, Succeed(1, T0, COUNTS, at(2))))
    # The commit read the run before the stop came: the stop changes nothing; the other run's stop is kept.
    assert (await read(ledger, busy)).terminal == ended.terminal and ended.status is RunStatus.SUCCEEDED
    assert (await read(ledger, other)).stop == StopRequest(at(1), "bob")


async def check_a_stop_after_the_end_changes_nothing(ledger: Ledger) -> None:
    req = request()
    await run(ledger, req, begin())
    ended, decision = await run(ledger, req, Succeed(1, T0, COUNTS, at(5)))
    async with ledger.transaction() as tx:
        assert await ledger.record_stop(tx, stop_request(42, 1, at=at(6))) == decision.events[0]
    assert await read(ledger, req) == ended
    assert ended.stop is None


async def check_silent_runs_are_those_whose_heartbeat_is_old(ledger: Ledger) -> None:
    beating, quiet, ended, queued = request(1), request(2), request(3), request(4)
    await run(ledger, beating, begin(0))
    await run(ledger, quiet, begin(10))
    await run(ledger, ended, begin(0))
    await run(ledger, ended, Fail(1, T0, RunCounts(), "LOAD_FAILED", "refused", at(1)))
    await run(ledger, queued, Fail(None, T0, RunCounts(), "INTERNAL", "unreadable", T0))
    await run(ledger, beating, Tick(1, at(100)))

    assert await ledger.silent(at(50), 10) == [Origin.of(quiet)]
    assert await ledger.silent(at(200), 10) == [Origin.of(quiet), Origin.of(beating)]
    assert await ledger.silent(at(200), 1) == [Origin.of(quiet)]
    assert await ledger.silent(at(5), 10) == []


async def check_failed_attempts_and_the_wait_are_read_back(ledger: Ledger) -> None:
    req = request()
    await run(ledger, req, begin())
    refused = Fail(1, T0, RunCounts(), "CONNECTION_FAILED", "refused", at(5), transient=True, retry=RETRY)

    waiting, decision = await run(ledger, req, refused)
    [failed] = decision.events
    assert isinstance(failed, RunAttemptFailed) and failed.aggregate_version == 3
    assert (waiting.status, waiting.failed_attempts, waiting.retry_at) == (RunStatus.RUNNING, 1, at(65))
    assert waiting.heartbeat_at is None
    assert await read(ledger, req) == waiting
    assert await ledger.silent(at(100_000), 10) == []  # a waiting run is never silent

    again, _ = await run(ledger, req, retry(65, runner="host-b"))
    assert (again.attempt, again.failed_attempts, again.retry_at) == (Attempt(2, "host-b", at(65)), 1, None)
    assert await read(ledger, req) == again


async def check_a_due_retry_is_claimed_once_with_its_request(ledger: Ledger) -> None:
    req, other = request(1), request(2)
    await run(ledger, req, begin())
    await run(ledger, other, begin())  # running, its request not kept: never the poller's
    await wait(ledger, req)
    assert await claim(ledger, 64) == []

    async with ledger.transaction() as tx:
        assert await ledger.claim_retries(tx, at(65), RESUME_AFTER, 10) == [req]
        # Another runner polling meanwhile passes over it, without waiting.
        async with asyncio.timeout(STOP_KEPT_WITHIN_S):
            assert await claim(ledger, 65) == []
        state = await ledger.load(tx, req)  # the claim holds the run's lock: this does not wait
        await ledger.record(tx, state, decide(state, retry(65)))
    assert await claim(ledger, 66) == []  # begun: no longer due
    assert (await read(ledger, req)).attempt == Attempt(2, "host-a", at(65))


async def check_a_claim_passes_over_a_run_whose_lock_is_held(ledger: Ledger) -> None:
    req = request()
    await run(ledger, req, begin())
    await wait(ledger, req)
    async with ledger.transaction() as holder:
        await ledger.load(holder, req)
        async with asyncio.timeout(STOP_KEPT_WITHIN_S):
            assert await claim(ledger, 100) == []
    assert await claim(ledger, 100) == [req]


async def check_claims_keep_to_their_limit_the_longest_due_first(ledger: Ledger) -> None:
    first, second, third = request(1), request(2), request(3)
    for seconds, req in [(3, second), (1, first), (9, third)]:
        await run(ledger, req, begin())
        await wait(ledger, req, failed_s=seconds)  # due at 60 s after
    assert await claim(ledger, 100, limit=2) == [first, second]
    assert await claim(ledger, 100, limit=0) == []
    assert await claim(ledger, 65) == [first, second]


async def check_an_attempt_the_poller_began_is_claimed_again_once_silent(ledger: Ledger) -> None:
    req = request()
    await run(ledger, req, begin())
    await wait(ledger, req)
    await run(ledger, req, retry(65))
    await run(ledger, req, Tick(2, at(80)))
    assert await claim(ledger, 109) == []
    assert await claim(ledger, 110) == [req]  # its runner died; nothing else would redo it

    await run(ledger, req, Succeed(2, at(65), COUNTS, at(200)))
    assert await claim(ledger, 10_000) == []  # ended: the kept request is gone


async def check_stopped_waits_are_the_waiting_runs_asked_to_stop(ledger: Ledger) -> None:
    waiting, stopped, running, later = request(1), request(2), request(3), request(4)
    for req in (waiting, stopped, running, later):
        await run(ledger, req, begin())
    for req in (waiting, stopped, later):
        await wait(ledger, req)
    async with ledger.transaction() as tx:
        await ledger.record_stop(tx, stop_request(42, 4, at=at(7)))
        await ledger.record_stop(tx, stop_request(42, 2, at=at(6)))
        await ledger.record_stop(tx, stop_request(42, 3, at=at(6)))
    assert await ledger.stopped_waits(10) == [stopped, later]
    assert await ledger.stopped_waits(1) == [stopped]

    await run(ledger, stopped, retry(8))
    assert (await read(ledger, stopped)).status is RunStatus.STOPPED
    assert await ledger.stopped_waits(10) == [later]


async def check_an_archive_step_is_kept_until_dropped(ledger: Ledger) -> None:
    req, other = request(), request(run_id=2)
    pending = PendingArchive("in/a.csv", ("in/a.csv.cnt",), (7, 120, 3), "archive/x", "42.1_", True)
    with pytest.raises(RuntimeError):
        async with ledger.transaction() as tx:
            await ledger.keep_archive(tx, req, pending, at(1))
            raise RuntimeError("the run's end did not commit")
    async with ledger.transaction() as tx:
        assert await ledger.pending_archive(tx, req) is None
        await ledger.keep_archive(tx, req, pending, at(1))
        assert await ledger.pending_archive(tx, req) == pending
    async with ledger.transaction() as tx:  # a run ends once: a step kept again changes nothing
        await ledger.keep_archive(tx, req, PendingArchive("in/b.csv", (), (), "elsewhere", "42.1_", False), at(2))
    async with ledger.transaction() as tx:
        assert (await ledger.pending_archive(tx, req), await ledger.pending_archive(tx, other)) == (pending, None)
        await ledger.drop_archive(tx, req)
    async with ledger.transaction() as tx:
        assert await ledger.pending_archive(tx, req) is None


async def check_left_archive_steps_are_those_kept_before_a_time_the_oldest_first(ledger: Ledger) -> None:
    first, second, third = request(1), request(2), request(3)
    for seconds, req in [(5, second), (1, first), (9, third)]:
        pending = PendingArchive("in/a.csv", (), (1, 2, 3), "archive", f"42.{req.payload.run_id}_", True)
        async with ledger.transaction() as tx:
            await ledger.keep_archive(tx, req, pending, at(seconds))
    assert await ledger.left_archives(at(9), 10) == [first, second]
    assert await ledger.left_archives(at(9), 1) == [first]
    async with ledger.transaction() as tx:
        await ledger.drop_archive(tx, first)
    assert await ledger.left_archives(at(100), 10) == [second, third]


CHECKS: list[Check] = [
    check_an_unknown_run_is_queued,
    check_recorded_states_are_read_back,
    check_an_ended_run_keeps_its_terminal_event,
    check_an_attempts_log_after_the_end_continues_the_versions,
    check_a_run_can_end_without_an_attempt,
    check_a_transaction_that_fails_stores_nothing,
    check_a_decision_on_a_stale_state_is_refused,
    check_transactions_on_one_run_take_turns,
    check_try_load_gives_way_while_the_run_is_locked,
    check_stop_requests_are_kept_until_the_run_ends,
    check_stops_are_kept_while_a_run_is_locked,
    check_a_stop_after_the_end_changes_nothing,
    check_silent_runs_are_those_whose_heartbeat_is_old,
    check_failed_attempts_and_the_wait_are_read_back,
    check_a_due_retry_is_claimed_once_with_its_request,
    check_a_claim_passes_over_a_run_whose_lock_is_held,
    check_claims_keep_to_their_limit_the_longest_due_first,
    check_an_attempt_the_poller_began_is_claimed_again_once_silent,
    check_stopped_waits_are_the_waiting_runs_asked_to_stop,
    check_an_archive_step_is_kept_until_dropped,
    check_left_archive_steps_are_those_kept_before_a_time_the_oldest_first,
]


def check_id(check: Check) -> str:
    """The test id of a check: its name without the prefix."""
    return check.__name__.removeprefix("check_")
