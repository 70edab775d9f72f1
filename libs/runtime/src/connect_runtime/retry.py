"""The one retry policy of Connect's plumbing: what is transient, how long to wait, when to give up.

A failure of the infrastructure (a lost connection, a deadlock, a broker that is away) says nothing about the
work, so that work is retried until it passes, however long the outage; a failure of the work itself (a
handler that raises) is retried up to `max_attempts` times and then handed back, to be dead-lettered. The
wait between tries grows exponentially from `initial_s` with up to `jitter_s` added at random, so that the
consumers that lost the same database do not all come back at the same instant, and never exceeds `max_s`, so
that a recovery is noticed within seconds. A service that is stopping does not wait out a back-off: it gives
up, and the work left undone is redone by whoever runs next (nothing was acknowledged).

The numbers are the constants below; a component may be handed another `RetryPolicy` (tests use fast ones).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Generic, TypeVar

import asyncpg
from aiokafka.errors import KafkaError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.retry import retry_base
from tenacity.stop import stop_base
from tenacity.wait import wait_base, wait_exponential_jitter

log = logging.getLogger(__name__)

BACKOFF_INITIAL_S = 0.5  # the wait after a first failure
BACKOFF_MAX_S = 10.0  # no wait is longer: a recovery is noticed within this long
BACKOFF_JITTER_S = 0.5  # up to this much, at random, is added to each wait below the cap
MAX_ATTEMPTS = 3  # tries of work that fails on its own (not the infrastructure's fault) before it is handed back

# Failures of the infrastructure, not of the work: retried without limit. For work that runs a handler,
# whose own errors (a bug, a record it cannot read) must not be retried forever.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.IdleSessionTimeoutError,
    # A primary that became a standby during a failover refuses writes until the client reaches the new one.
    asyncpg.ReadOnlySQLTransactionError,
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
)
# Anything the database or the broker raises: for work made of plumbing only (relaying committed outbox rows,
# sending a dead letter), where no failure can be the work's own and there is nothing to give up to.
INFRASTRUCTURE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    KafkaError,
)

Work = Callable[[], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]
NO_CONTEXT: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True)
class RetryPolicy:
    """The numbers of the policy: exponential back-off with jitter and a cap, and the attempt limit."""

    initial_s: float = BACKOFF_INITIAL_S
    max_s: float = BACKOFF_MAX_S
    jitter_s: float = BACKOFF_JITTER_S
    max_attempts: int = MAX_ATTEMPTS

    def __post_init__(self) -> None:
        if not (0 < self.initial_s <= self.max_s and self.jitter_s >= 0 and self.max_attempts >= 1):
            raise ValueError(f"not a retry policy: {self}")

    def wait(self) -> wait_base:
        """`initial_s * 2**(n-1)` plus up to `jitter_s` after the n-th failure in a row, at most `max_s`."""
        return wait_exponential_jitter(multiplier=self.initial_s, max=self.max_s, jitter=self.jitter_s)

    def backoff_s(self, failures: int) -> float:
        """The wait after `failures` failures in a row, for loops that must keep going instead of sleeping."""
        state = RetryCallState(AsyncRetrying(), fn=None, args=(), kwargs={})
        state.attempt_number = failures
        return self.wait()(state)


RETRY = RetryPolicy()


class _Stopped(Exception):
    """The service began stopping during a back-off: the next try does not happen."""


class _WhenStopping(stop_base):
    """Give up once the service is stopping: the work left undone is redone by whoever runs next."""

    def __init__(self, stopping: asyncio.Event) -> None:
        self._stopping = stopping

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._stopping.is_set()


class Retries:
    """The policy applied to one component's work; `stopping` is set when the component is asked to stop."""

    def __init__(self, stopping: asyncio.Event, policy: RetryPolicy = RETRY, sleep: Sleep | None = None) -> None:
        """`sleep` replaces the wait between tries (tests record it instead of waiting)."""
        self._stopping = stopping
        self._policy = policy
        self._wait = sleep or self._unless_stopping

    async def transient(
        self,
        work: Work,
        message: str,
        context: Mapping[str, object] = NO_CONTEXT,
        *,
        errors: tuple[type[Exception], ...] = TRANSIENT_ERRORS,
    ) -> bool:
        """Run `work` until it no longer fails with one of `errors`; False if the service began stopping first.

        An outage says nothing about the work, so there is no attempt limit: giving up would drop or
        dead-letter work that is fine. Any other error is raised at once, for the caller's own policy.
        """
        stop = _WhenStopping(self._stopping)
        retrying = self._retrying(retry_if_exception_type(errors), stop, _left_undone, message, context)
        return await self._unless_stopped(retrying(_completed, work))

    async def bounded(self, work: Work, message: str, context: Mapping[str, object] = NO_CONTEXT) -> bool:
        """Run `work`, retrying transient errors as `transient` does and any other failure up to `max_attempts`
        tries in all, then raise that failure; False if the service began stopping first.

        Such a failure is the work's own (a handler that cannot deal with a record): another try covers a race
        with a concurrent writer, but more would most likely fail again while the work behind it waits.
        """
        stop = stop_after_attempt(self._policy.max_attempts) | _WhenStopping(self._stopping)
        retrying = self._retrying(retry_if_exception_type(Exception), stop, self._out_of_attempts, message, context)
        return await self._unless_stopped(retrying(self.transient, work, message, context))

    async def _unless_stopped(self, attempts: Coroutine[Any, Any, object]) -> bool:
        """Run `attempts` unless the service is stopping: no first try then, and no further try once a stop
        has cut a back-off short (`_sleep` raises `_Stopped`), so a stopping service neither dead-letters
        work that might still pass nor waits on a connection that is away."""
        if self._stopping.is_set():
            attempts.close()  # never awaited
            return False
        try:
            return bool(await attempts)
        except _Stopped:
            return False

    async def _sleep(self, seconds: float) -> None:
        """The back-off between two tries; ends the retrying when the service began stopping meanwhile."""
        await self._wait(seconds)
        if self._stopping.is_set():
            raise _Stopped

    def _retrying(
        self,
        retry: retry_base,
        stop: stop_base,
        gave_up: Callable[[RetryCallState], bool],
        message: str,
        context: Mapping[str, object],
    ) -> AsyncRetrying:
        """Tenacity, with this policy's back-off, sleep and log line; `gave_up` says what stopping returns."""
        return AsyncRetrying(
            retry=retry,
            stop=stop,
            wait=self._policy.wait(),
            sleep=self._sleep,
            before_sleep=_logger(message, context),
            retry_error_callback=gave_up,
        )

    def _out_of_attempts(self, state: RetryCallState) -> bool:
        """Out of attempts: raise the last failure. Stopped before that: leave the work undone (False)."""
        error = state.outcome.exception() if state.outcome is not None else None
        if error is None or state.attempt_number < self._policy.max_attempts:
            return False
        raise error

    async def _unless_stopping(self, seconds: float) -> None:
        """Wait `seconds`, or less when the service begins stopping: it must not wait out a back-off."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()


async def _completed(work: Work) -> bool:
    await work()
    return True


def _left_undone(state: RetryCallState) -> bool:
    """Stopped during an outage: the work is left undone, for whoever runs next."""
    return False


def _logger(message: str, context: Mapping[str, object]) -> Callable[[RetryCallState], None]:
    def log_retry(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        extra = {**context, "attempt": state.attempt_number, "error": str(error), "wait_s": state.upcoming_sleep}
        log.warning(message, extra=extra)

    return log_retry


K = TypeVar("K", bound=Hashable)


class Backoffs(Generic[K]):
    """Failures in a row per key (a partition), and until when each key is held back.

    For a loop that must keep going while one key waits (a Kafka consumer has to keep polling to stay in its
    group), instead of sleeping: the loop skips a key while `holding(key)`. Nothing gives up here.
    """

    def __init__(self, policy: RetryPolicy = RETRY, clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        self._failures: dict[K, int] = {}
        self._until: dict[K, float] = {}

    def failed(self, key: K) -> float:
        """Count a failure of `key` and hold it back; returns for how many seconds."""
        self._failures[key] = self._failures.get(key, 0) + 1
        wait_s = self._policy.backoff_s(self._failures[key])
        self._until[key] = self._clock() + wait_s
        return wait_s

    def passed(self, key: K) -> None:
        """`key` moved on: its next failure waits the shortest back-off again."""
        self._failures.pop(key, None)
        self._until.pop(key, None)

    def holding(self, key: K) -> bool:
        """Whether `key` is still being held back."""
        return self._until.get(key, 0.0) > self._clock()
