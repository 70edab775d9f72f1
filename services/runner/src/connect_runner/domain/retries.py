"""The job's retry policy (spec §7.4) as the run's rules apply it: whether a failed attempt is tried again, and
after how long. Only transient failures are retried (the failure says which it is: `RunFailure.transient`);
a data error would fail the same way every time.
"""

from __future__ import annotations

from datetime import timedelta

from connect_events import RetryPolicy

NO_RETRY = RetryPolicy(attempts=1)
MAX_WAIT_S = 6 * 3600
"""The longest wait between two attempts: the longest initial back-off the scheduler accepts."""


def retries_left(policy: RetryPolicy, failed: int) -> bool:
    """Whether another attempt follows `failed` transiently failed ones: `attempts` counts the first."""
    return failed < policy.attempts


def backoff(policy: RetryPolicy, failed: int) -> timedelta:
    """The wait after the `failed`-th failed attempt, `initial_backoff_s * multiplier**(failed-1)`: growing, so
    a server that stays down is not called every minute; capped at `MAX_WAIT_S`, so no multiplier puts the next
    attempt days away (a wait of several hours already means the server was down for most of a day)."""
    try:
        seconds = policy.initial_backoff_s * policy.multiplier ** (failed - 1)
    except OverflowError:  # a multiplier far past the scheduler's bounds
        seconds = MAX_WAIT_S
    return timedelta(seconds=max(0.0, min(float(seconds), MAX_WAIT_S)))


def exhausted(error: str, failed: int) -> str:
    """The run's error once its policy ran out: the last failure's words and how many attempts failed."""
    return f"{error} (after {failed} attempts)" if failed > 1 else error
