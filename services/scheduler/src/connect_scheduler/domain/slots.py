"""The due row of every live job and group (spec §7.1 expiration, §7.2 schedules, §7.3 groups): when it next
wakes the scheduler, and what a claimed row holds at a given instant.

Jobs (`domain/fires.py`) and groups (`domain/group_fires.py`) follow one rule, each through its `Timing`; what
they record when a row comes due is their own. A row holds the next fire, the instant it starts (the start
window's minute added, chosen from the fire's key, so the same in every instance), the expiry, and the last
fire recorded, so that no later change can bring a recorded fire back. What the scheduler records for a fire
or an expiry takes its ids from the job or group and the instant alone, so two instances can never record one
twice: the second append would repeat the first one's event id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from uuid import UUID, uuid5

from connect_events import Event, Schedule
from connect_runtime.messages import Causation
from connect_scheduler.domain.schedules import missed_fires, next_fire, start_delay

SCHEDULER_ACTOR = "scheduler"
Kind = Literal["job", "group"]
# Namespaces of the deterministic ids of fires and expirations (uuid5 of the job or group and the instant).
FIRES: dict[Kind, UUID] = {
    "job": UUID("6f1f6c52-34a8-4b83-9d0e-2f1b7c3a9e51"),
    "group": UUID("3d0b8a6e-9c41-4f7a-b2d5-6e8f1a3c5b72"),
}
EXPIRATIONS: dict[Kind, UUID] = {
    "job": UUID("0c7e2d9a-8b5f-4e61-a3c4-5d2e8f1b6a70"),
    "group": UUID("a4e2c9d1-7b36-4a58-8f0e-1c9d3b5a7e64"),
}
FIRE_KEY_PREFIXES: dict[Kind, str] = {"job": "", "group": "group:"}  # group 7 draws other start minutes than job 7
# After downtime, counting the missed fires of a per-minute cron stops here (the count then reads "at least").
MISSED_FIRES_LIMIT = 1000
_JUST_BEFORE = timedelta(microseconds=1)

Outcome = Literal["expired", "requested", "skipped", "table_missing", "rescheduled", "gone"]


@dataclass(frozen=True)
class Slot:
    """A due row: the next fire, when that fire starts (the start window's minute added), the expiry, and the
    last fire recorded."""

    fire_at: datetime | None
    due_at: datetime | None
    expires_at: datetime | None
    last_fire_at: datetime | None = None

    @property
    def wake_at(self) -> datetime | None:
        """When the scheduler must look at the row: its fire starts or it expires, whichever comes first."""
        return min((t for t in (self.due_at, self.expires_at) if t is not None), default=None)


@dataclass(frozen=True)
class Due:
    """A due row as a ticker claimed it: the id of its job or group, and what it holds."""

    id: int
    slot: Slot


@dataclass(frozen=True)
class Decision:
    """What a due row leads to: events for the streams, and the row after them (None: no row)."""

    outcome: Outcome
    events: tuple[Event, ...] = ()
    slot: Slot | None = None
    missed_fires: int = 0


@dataclass(frozen=True)
class Timing:
    """What the due row of job or group `id` follows: its schedule (None: it never fires, as an inactive job)
    and its expiry (UTC; None: never)."""

    kind: Kind
    id: int
    schedule: Schedule | None
    expires_at: datetime | None

    def fire_key(self, fire_at: datetime) -> str:
        """Names one fire, the same in every scheduler instance."""
        return f"{FIRE_KEY_PREFIXES[self.kind]}{self.id}@{fire_at.astimezone(UTC).isoformat()}"

    def fire_causation(self, fire_at: datetime, now: datetime) -> Causation:
        """The envelope source of a fire's events: a fire starts its own correlation."""
        return _causation(FIRES[self.kind], self.fire_key(fire_at), now)

    def expiry_causation(self, now: datetime) -> Causation:
        """The envelope source of the expiration: it starts its own correlation."""
        assert self.expires_at is not None, "only what expires has an expiration"
        return _causation(EXPIRATIONS[self.kind], f"{self.id}@{self.expires_at.isoformat()}", now)


@dataclass(frozen=True)
class Fire:
    """A fire that starts now: its time, the row once it is recorded, how many later fires it stands for (after
    downtime), and the envelope source of its events."""

    at: datetime
    after: Slot
    missed: int
    causation: Causation

    @property
    def next_run_at(self) -> datetime | None:
        """The fire after this one."""
        return self.after.fire_at


def slot(timing: Timing, now: datetime, previous: Slot | None = None) -> Slot:
    """The row after a change at `now`; `previous` is the row as it was.

    Its fire, if it has come but is not recorded yet (a ticker running late, a start window still open), is
    kept while the schedule still has it, so an edit or a run-now never swallows it. Otherwise the next fire is
    the first after `now` and after the last fire recorded: a change whose time lags behind the ticker's cannot
    bring a recorded fire back.
    """
    last = previous.last_fire_at if previous else None
    if previous is not None and _still_pending(timing, previous, now):
        fire = previous.fire_at
    else:
        fire = _next_fire(timing, now if last is None else max(now, last))
    due_at = None
    if fire is not None and timing.schedule is not None:
        due_at = fire + start_delay(timing.schedule, timing.fire_key(fire))
    return Slot(fire_at=fire, due_at=due_at, expires_at=timing.expires_at, last_fire_at=last)


def expiry(expires_at: datetime | None) -> datetime | None:
    """The instant of an expiration (UTC); None for never, and for a draft's expiration without an offset."""
    if expires_at is None or expires_at.tzinfo is None:
        return None
    try:
        return expires_at.astimezone(UTC)
    except OverflowError:  # an offset pushing year 1 or 9999 out of range: a draft's error, never an instant
        return None


def expired(timing: Timing, now: datetime) -> bool:
    """Whether the expiry has come."""
    return timing.expires_at is not None and timing.expires_at <= now


def fire_starts(timing: Timing, row: Slot, now: datetime) -> bool:
    """Whether the row's fire starts at `now` (and does not meet the expiry first)."""
    if timing.schedule is None or expired(timing, now):
        return False
    return row.fire_at is not None and row.due_at is not None and row.due_at <= now


def due_now(timing: Timing, row: Slot, now: datetime, expire: Callable[[Causation], Event]) -> Decision | Fire:
    """What a claimed row leads to at `now`: the expiration (its event built by `expire`), which wins over a
    fire due at the same time (spec §7.1); the row rescheduled when no fire starts; or the fire that starts,
    for the caller to record.

    After downtime a recurring schedule fires once, for its first missed fire, and the next fire is the first
    after `now`.
    """
    if expired(timing, now):
        return Decision("expired", (expire(timing.expiry_causation(now)),))
    if timing.schedule is None or row.fire_at is None or not fire_starts(timing, row, now):
        return Decision("rescheduled", slot=slot(timing, now, row))
    after = slot(timing, now, Slot(None, None, None, last_fire_at=row.fire_at))
    missed = missed_fires(timing.schedule, row.fire_at, now, MISSED_FIRES_LIMIT)
    return Fire(row.fire_at, after, missed, timing.fire_causation(row.fire_at, now))


def _causation(namespace: UUID, name: str, now: datetime) -> Causation:
    key = uuid5(namespace, name)
    return Causation(actor=SCHEDULER_ACTOR, correlation_id=key, causation_id=key, occurred_at=now)


def _still_pending(timing: Timing, previous: Slot, now: datetime) -> bool:
    pending, last = previous.fire_at, previous.last_fire_at
    if timing.schedule is None or pending is None or pending > now or (last is not None and pending <= last):
        return False
    return next_fire(timing.schedule, pending - _JUST_BEFORE) == pending


def _next_fire(timing: Timing, after: datetime) -> datetime | None:
    return None if timing.schedule is None else next_fire(timing.schedule, after)
