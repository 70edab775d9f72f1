"""When a job next wakes the scheduler, and what it records then (spec §7.1 expiration, §7.2 schedules).

Every live job has a due row: `slot` says what it holds after any change to the job, and it wakes the scheduler
when the job has something ahead (a fire of an active job, an expiration). When the row comes due, `decide_due`
says what to record: the job deleted as expired; or, for a fire, a run requested, or skipped when the job's
previous run is still in progress. Events of a fire take their ids from the job and the fire time alone, so two
scheduler instances can never record one fire twice: the second append would repeat the first one's event id.
The row also remembers the last fire recorded, so no later change can bring back a fire already recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from uuid import UUID, uuid5

from connect_events import (
    Event,
    JobDeleted,
    JobDeletedPayload,
    RunSkipped,
    RunSkippedPayload,
    TableSpec,
    run_key,
)
from connect_runtime.messages import Causation
from connect_scheduler.domain.envelope import envelope
from connect_scheduler.domain.jobs import JobState
from connect_scheduler.domain.run_control import request_run
from connect_scheduler.domain.schedules import missed_fires, next_fire, start_delay

SCHEDULER_ACTOR = "scheduler"
# Namespaces of the deterministic ids of fires and expirations (uuid5 of the job and the instant).
FIRES = UUID("6f1f6c52-34a8-4b83-9d0e-2f1b7c3a9e51")
EXPIRATIONS = UUID("0c7e2d9a-8b5f-4e61-a3c4-5d2e8f1b6a70")
# After downtime, counting the missed fires of a per-minute cron stops here (the count then reads "at least").
MISSED_FIRES_LIMIT = 1000
_JUST_BEFORE = timedelta(microseconds=1)

Outcome = Literal["expired", "requested", "skipped", "table_missing", "rescheduled", "gone"]


@dataclass(frozen=True)
class Slot:
    """A job's due row: its next fire, when that fire starts (the start window's minute added), its expiry, and
    the last fire recorded."""

    fire_at: datetime | None
    due_at: datetime | None
    expires_at: datetime | None
    last_fire_at: datetime | None = None

    @property
    def wake_at(self) -> datetime | None:
        """When the scheduler must look at the job: its fire starts or it expires, whichever comes first."""
        return min((t for t in (self.due_at, self.expires_at) if t is not None), default=None)


@dataclass(frozen=True)
class Due:
    """A due row as a ticker claimed it."""

    job_id: int
    slot: Slot


@dataclass(frozen=True)
class Decision:
    """What a due row leads to: events for the job's stream, and the row after them (None: no row)."""

    outcome: Outcome
    events: tuple[Event, ...] = ()
    slot: Slot | None = None
    missed_fires: int = 0


def slot(job: JobState, now: datetime, previous: Slot | None = None) -> Slot | None:
    """The job's due row after a change at `now`; None for a deleted job, which has none.

    `previous` is the row as it was. Its fire, if it has come but is not recorded yet (a ticker running late, a
    start window still open), is kept while the job is active and its schedule still has that fire, so an
    edit or a run-now never swallows it. Otherwise the next fire is the first after `now` and after the last
    fire recorded: a command whose time lags behind the ticker's cannot bring a recorded fire back.
    """
    if job.deleted:
        return None
    last = previous.last_fire_at if previous else None
    if previous is not None and _still_pending(job, previous, now):
        fire = previous.fire_at
    else:
        fire = _next_fire(job, now if last is None else max(now, last))
    due_at = None if fire is None else fire + start_delay(job.definition.schedule, fire_key(job.job_id, fire))
    return Slot(fire_at=fire, due_at=due_at, expires_at=expiry(job), last_fire_at=last)


def expiry(job: JobState) -> datetime | None:
    """The instant the job expires (UTC); None for never, and for a draft's expiration without an offset."""
    expires_at = job.definition.expires_at
    if expires_at is None or expires_at.tzinfo is None:
        return None
    try:
        return expires_at.astimezone(UTC)
    except OverflowError:  # an offset pushing year 1 or 9999 out of range: a draft's error, never an instant
        return None


def fire_is_due(job: JobState | None, due: Due, now: datetime) -> bool:
    """Whether the row's fire starts now for a live job that does not expire first (then its run state counts)."""
    if job is None or job.deleted or _expired(job, now):
        return False
    return job.active and due.slot.fire_at is not None and due.slot.due_at is not None and due.slot.due_at <= now


def decide_due(
    job: JobState | None, due: Due, table: TableSpec | None, running_run_id: int | None, now: datetime
) -> Decision:
    """What to record for a claimed due row at `now`.

    Expiration wins over a fire due at the same time: the job is deleted at that instant (spec §7.1). A fire
    that meets the previous run still in progress is recorded skipped, not queued (spec §7.2). After
    downtime a recurring job runs once, for its first missed fire, saying how many later ones it stands for;
    its next fire is the first after `now`. `running_run_id` is the job's run in progress, if any.
    """
    if job is None or job.deleted:
        return Decision("gone")
    if _expired(job, now):
        return Decision("expired", (_expired_event(job, now),))
    fire_at = due.slot.fire_at
    if not fire_is_due(job, due, now) or fire_at is None:
        return Decision("rescheduled", slot=slot(job, now, due.slot))
    after = slot(job, now, Slot(None, None, None, last_fire_at=fire_at))
    next_run_at = after.fire_at if after else None
    if running_run_id is not None:
        return Decision("skipped", (_skipped(job, fire_at, running_run_id, next_run_at, now),), after)
    if table is None:
        return Decision("table_missing", slot=after)
    missed = missed_fires(job.definition.schedule, fire_at, now, MISSED_FIRES_LIMIT)
    causation = fire_causation(job.job_id, fire_at, now)
    requested = request_run(job, table, causation, 0, trigger="schedule", fire=(fire_at, missed, next_run_at))
    return Decision("requested", (requested,), after, missed)


def fire_key(job_id: int, fire_at: datetime) -> str:
    """Names one fire of one job, the same in every scheduler instance."""
    return f"{job_id}@{fire_at.astimezone(UTC).isoformat()}"


def fire_causation(job_id: int, fire_at: datetime, now: datetime) -> Causation:
    """The envelope source of a fire's events: a fire starts its own correlation."""
    fire = uuid5(FIRES, fire_key(job_id, fire_at))
    return Causation(actor=SCHEDULER_ACTOR, correlation_id=fire, causation_id=fire, occurred_at=now)


def _still_pending(job: JobState, previous: Slot, now: datetime) -> bool:
    pending, last = previous.fire_at, previous.last_fire_at
    if pending is None or pending > now or not job.active or (last is not None and pending <= last):
        return False
    return next_fire(job.definition.schedule, pending - _JUST_BEFORE) == pending


def _next_fire(job: JobState, after: datetime) -> datetime | None:
    """An inactive job never fires (spec §7.1)."""
    return next_fire(job.definition.schedule, after) if job.active else None


def _expired(job: JobState, now: datetime) -> bool:
    expires_at = expiry(job)
    return expires_at is not None and expires_at <= now


def _expired_event(job: JobState, now: datetime) -> JobDeleted:
    expires_at = expiry(job)
    assert expires_at is not None
    key = uuid5(EXPIRATIONS, f"{job.job_id}@{expires_at.isoformat()}")
    causation = Causation(actor=SCHEDULER_ACTOR, correlation_id=key, causation_id=key, occurred_at=now)
    payload = JobDeletedPayload(job_id=job.job_id, reason="expired")
    return JobDeleted(**envelope(causation, 0, str(job.job_id), job.version + 1), payload=payload)


def _skipped(
    job: JobState, fire_at: datetime, running_run_id: int, next_run_at: datetime | None, now: datetime
) -> RunSkipped:
    run_id = job.last_run_id + 1
    payload = RunSkippedPayload(
        job_id=job.job_id,
        run_id=run_id,
        job_name=job.definition.name,
        scheduled_for=fire_at,
        running_run_id=running_run_id,
        next_run_at=next_run_at,
    )
    causation = fire_causation(job.job_id, fire_at, now)
    return RunSkipped(**envelope(causation, 0, run_key(job.job_id, run_id), 1), payload=payload)
