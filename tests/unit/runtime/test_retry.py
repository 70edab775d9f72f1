"""The one retry policy, with its waits recorded instead of slept: back-off, cap, attempt limit, stopping."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connect_runtime.retry import INFRASTRUCTURE_ERRORS, RETRY, Backoffs, Retries, RetryPolicy

STEADY = RetryPolicy(initial_s=0.5, max_s=10.0, jitter_s=0.0, max_attempts=3)


def outage() -> Exception:
    return asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")


class Naps:
    """Stands in for sleeping: records each wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class Script:
    """Work that raises the given errors in turn, then succeeds."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)


def _retries(policy: RetryPolicy = STEADY, stopping: asyncio.Event | None = None) -> tuple[Retries, Naps]:
    naps = Naps()
    return Retries(stopping or asyncio.Event(), policy, sleep=naps), naps


async def test_waits_double_from_the_initial_back_off_up_to_the_cap() -> None:
    retries, naps = _retries()
    work = Script(*(outage() for _ in range(7)))

    assert await retries.transient(work, "retrying")

    assert work.calls == 8
    assert naps.waits == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


async def test_jitter_adds_at_most_its_amount_below_the_cap() -> None:
    retries, naps = _retries(RetryPolicy(initial_s=0.5, max_s=10.0, jitter_s=0.5))

    await retries.transient(Script(*(outage() for _ in range(6))), "retrying")

    for wait, steady in zip(naps.waits, [0.5, 1.0, 2.0, 4.0, 8.0, 10.0], strict=True):
        assert steady <= wait <= min(steady + 0.5, 10.0)


policies = st.builds(
    lambda initial, extra, jitter: RetryPolicy(initial_s=initial, max_s=initial + extra, jitter_s=jitter),
    st.floats(0.001, 5.0),
    st.floats(0.0, 60.0),
    st.floats(0.0, 5.0),
)


@given(policy=policies, failures=st.integers(1, 100_000))
def test_a_back_off_is_never_shorter_than_the_first_nor_longer_than_the_cap(policy: RetryPolicy, failures: int) -> None:
    assert policy.initial_s <= policy.backoff_s(failures) <= policy.max_s


@settings(max_examples=50, deadline=None)
@given(policy=policies, outages=st.integers(0, 200))
async def test_a_transient_error_is_never_given_up(policy: RetryPolicy, outages: int) -> None:
    retries, naps = _retries(policy)
    work = Script(*(outage() for _ in range(outages)))

    assert await retries.transient(work, "retrying")

    assert work.calls == outages + 1
    assert len(naps.waits) == outages
    assert all(wait <= policy.max_s for wait in naps.waits)


async def test_an_error_that_is_not_transient_is_raised_at_once() -> None:
    retries, naps = _retries()
    work = Script(ValueError("cannot read this record"))

    with pytest.raises(ValueError, match="cannot read this record"):
        await retries.transient(work, "retrying")

    assert work.calls == 1
    assert naps.waits == []


async def test_infrastructure_errors_cover_whatever_the_broker_or_database_raises() -> None:
    retries, _naps = _retries()
    work = Script(asyncpg.UndefinedTableError("relation outbox does not exist"), KeyError("not infrastructure"))

    with pytest.raises(KeyError):
        await retries.transient(work, "retrying", errors=INFRASTRUCTURE_ERRORS)

    assert work.calls == 2


async def test_the_works_own_failure_is_tried_max_attempts_times_then_raised() -> None:
    retries, naps = _retries()
    work = Script(*(ValueError(f"try {n}") for n in range(1, 10)))

    with pytest.raises(ValueError, match="try 3"):
        await retries.bounded(work, "retrying")

    assert work.calls == STEADY.max_attempts
    assert naps.waits == [0.5, 1.0]


async def test_outages_do_not_use_up_the_attempts_of_the_work() -> None:
    retries, _naps = _retries()
    work = Script(outage(), ValueError("one"), outage(), outage(), outage(), ValueError("two"), outage())

    assert await retries.bounded(work, "retrying")

    assert work.calls == 8


async def test_stopping_during_an_outage_leaves_the_work_undone_without_raising() -> None:
    stopping = asyncio.Event()
    naps = Naps()
    work = Script(*(outage() for _ in range(100)))

    async def stop_on_third_nap(seconds: float) -> None:
        await naps(seconds)
        if len(naps.waits) == 3:
            stopping.set()

    retries = Retries(stopping, STEADY, sleep=stop_on_third_nap)

    assert not await retries.transient(work, "retrying")
    assert work.calls == 3  # no try after the back-off the stop cut short
    assert not await retries.bounded(work, "retrying")  # already stopping: no try at all
    assert work.calls == 3


async def test_a_stop_during_the_back_off_before_the_last_attempt_dead_letters_nothing() -> None:
    stopping = asyncio.Event()
    work = Script(ValueError("one"), ValueError("two"), ValueError("three"))

    async def stop_on_second_nap(seconds: float) -> None:
        if seconds and work.calls == 2:
            stopping.set()

    retries = Retries(stopping, STEADY, sleep=stop_on_second_nap)

    assert not await retries.bounded(work, "retrying")  # left for the next owner, not raised to be dead-lettered
    assert work.calls == 2


async def test_stopping_before_the_attempts_ran_out_does_not_hand_the_failure_back() -> None:
    stopping = asyncio.Event()
    retries, _naps = _retries(stopping=stopping)

    async def failing() -> None:
        stopping.set()
        raise ValueError("handler failed")

    # A record whose handler failed once while its service stops is left for the next owner, not dead-lettered.
    assert not await retries.bounded(failing, "retrying")


async def test_a_stopping_service_does_not_wait_out_the_back_off() -> None:
    stopping = asyncio.Event()
    retries = Retries(stopping, RetryPolicy(initial_s=3600.0, max_s=3600.0))
    work = Script(outage(), outage())
    asyncio.get_running_loop().call_later(0.05, stopping.set)

    assert not await asyncio.wait_for(retries.transient(work, "retrying"), 5.0)


def test_a_policy_needs_positive_waits_and_at_least_one_attempt() -> None:
    for numbers in ({"initial_s": 0.0}, {"initial_s": 2.0, "max_s": 1.0}, {"jitter_s": -1.0}, {"max_attempts": 0}):
        with pytest.raises(ValueError, match="not a retry policy"):
            RetryPolicy(**numbers)  # type: ignore[arg-type]


def test_the_default_policy_is_the_documented_one() -> None:
    assert (RETRY.initial_s, RETRY.max_s, RETRY.jitter_s, RETRY.max_attempts) == (0.5, 10.0, 0.5, 3)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_key_is_held_back_for_a_growing_wait_until_it_passes() -> None:
    clock = Clock()
    backoffs: Backoffs[str] = Backoffs(STEADY, clock)

    assert not backoffs.holding("p0")
    assert [backoffs.failed("p0") for _ in range(3)] == [0.5, 1.0, 2.0]
    assert backoffs.holding("p0") and not backoffs.holding("p1")
    clock.now += 1.9
    assert backoffs.holding("p0")
    clock.now += 0.2
    assert not backoffs.holding("p0")

    backoffs.failed("p0")
    backoffs.passed("p0")
    assert not backoffs.holding("p0")
    assert backoffs.failed("p0") == 0.5


@pytest.mark.parametrize(
    "error",
    [asyncpg.ReadOnlySQLTransactionError, asyncpg.CrashShutdownError, asyncpg.IdleSessionTimeoutError],
    ids=["failover", "crash", "idle-timeout"],
)
async def test_a_database_failover_or_restart_is_never_given_up(error: type[Exception]) -> None:
    retries, _naps = _retries()
    work = Script(*(error("away") for _ in range(10)))

    assert await retries.bounded(work, "retrying")  # ten failures, not three: the record is fine

    assert work.calls == 11
