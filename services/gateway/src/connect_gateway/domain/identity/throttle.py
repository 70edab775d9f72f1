"""Login throttling: failed logins are counted per account and per client address, and lock for a while.

Why both: per account stops guessing one user's password from many addresses; per address stops one client
trying a password against many accounts. The lock grows with every failure past the free ones, so a typo is
free and a guesser gets a few attempts an hour. A success clears the account's count (not the address's: one
known password must not reset the budget for guessing the others).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class ThrottleRule:
    """`free` failures within `window` cost nothing; each further one locks for `base` doubled, up to `longest`."""

    free: int
    window: timedelta = timedelta(minutes=15)
    base: timedelta = timedelta(seconds=2)
    longest: timedelta = timedelta(minutes=15)

    def lock_after(self, failures: int) -> timedelta:
        """How long the subject is locked after its `failures`-th failure in the window."""
        over = failures - self.free
        if over <= 0:
            return timedelta(0)
        lock: timedelta = self.base * 2 ** min(over - 1, 20)
        return min(lock, self.longest)


@dataclass(frozen=True)
class Failures:
    """A subject's count in its current window, and until when it is locked."""

    count: int
    window_started_at: datetime
    locked_until: datetime | None = None


ACCOUNT = ThrottleRule(free=5)
ADDRESS = ThrottleRule(free=20)


def rule_of(subject: str) -> ThrottleRule:
    """The rule for a subject key (`account:<name>` or `address:<ip>`)."""
    return ACCOUNT if subject.startswith("account:") else ADDRESS


def after_failure(subject: str, before: Failures | None, now: datetime) -> Failures:
    """The subject's state after one more failure now."""
    rule = rule_of(subject)
    if before is None or now - before.window_started_at >= rule.window:
        before = Failures(0, now)
    count = before.count + 1
    lock = rule.lock_after(count)
    return Failures(count, before.window_started_at, now + lock if lock else before.locked_until)


def wait_for(failures: Failures | None, now: datetime) -> timedelta:
    """How long the subject must still wait before its next attempt (zero when it may try now)."""
    if failures is None or failures.locked_until is None or failures.locked_until <= now:
        return timedelta(0)
    return failures.locked_until - now


def account_subject(username: str) -> str:
    """The throttle key of an account (the name as typed, lower-cased: unknown names are counted too)."""
    return f"account:{username.lower()}"


def address_subject(address: str) -> str:
    """The throttle key of a client address."""
    return f"address:{address}"
