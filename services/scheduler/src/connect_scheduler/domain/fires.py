"""What a job's due row holds and what the job records when it comes due (spec §7.1 expiration, §7.2 schedules).

Every live job has a due row (`domain/slots.py`); an inactive job's never fires but keeps its expiration. When
the row comes due, `decide_due` says what to record: the job deleted as expired; or, for a fire, a run
requested, or skipped when the job's previous run is still in progress.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from connect_events import JobDeleted, JobDeletedPayload, RunSkipped, RunSkippedPayload, run_key
from connect_runtime.messages import Causation
from connect_scheduler.domain import slots
from connect_scheduler.domain.envelope import envelope
from connect_scheduler.domain.jobs import JobState
from connect_scheduler.domain.rejection import Rejected
from connect_scheduler.domain.run_control import request_run
from connect_scheduler.domain.slots import Decision, Due, Fire, Slot, Timing, due_now, fire_starts
from connect_scheduler.domain.targets import Target, freeze


def timing(job: JobState) -> Timing:
    """What the job's row follows: an inactive job never fires (spec §7.1), but it expires."""
    definition = job.definition
    schedule = definition.schedule if job.active else None
    return Timing("job", job.job_id, schedule, slots.expiry(definition.expires_at))


def slot(job: JobState, now: datetime, previous: Slot | None = None) -> Slot | None:
    """The job's due row after a change at `now` (`slots.slot`); None for a deleted job, which has none."""
    return None if job.deleted else slots.slot(timing(job), now, previous)


def fire_is_due(job: JobState | None, due: Due, now: datetime) -> bool:
    """Whether the row's fire starts now for a live job that does not expire first (then its run state counts)."""
    return job is not None and not job.deleted and fire_starts(timing(job), due.slot, now)


def decide_due(job: JobState | None, due: Due, target: Target, running_run_id: int | None, now: datetime) -> Decision:
    """What to record for a claimed due row at `now` (`slots.due_now`).

    The job is deleted at its expiration. A fire that meets the previous run still in progress is recorded
    skipped, not queued (spec §7.2); after downtime one run stands for the missed fires. `running_run_id` is
    the job's run in progress, if any; a fire whose `target` (`domain/targets.py`) is missing requests nothing.
    """
    if job is None or job.deleted:
        return Decision("gone")
    fire = due_now(timing(job), due.slot, now, partial(_expired, job))
    if isinstance(fire, Decision):
        return fire
    if running_run_id is not None:
        return Decision("skipped", (_skipped(job, fire, running_run_id),), fire.after)
    try:
        frozen = freeze(job.job_id, job.definition, target)
    except Rejected:
        return Decision("table_missing", slot=fire.after)
    facts = (fire.at, fire.missed, fire.next_run_at)
    requested = request_run(job, frozen, fire.causation, 0, trigger="schedule", fire=facts)
    return Decision("requested", (requested,), fire.after, fire.missed)


def _expired(job: JobState, causation: Causation) -> JobDeleted:
    payload = JobDeletedPayload(job_id=job.job_id, reason="expired")
    return JobDeleted(**envelope(causation, 0, str(job.job_id), job.version + 1), payload=payload)


def _skipped(job: JobState, fire: Fire, running_run_id: int) -> RunSkipped:
    run_id = job.last_run_id + 1
    payload = RunSkippedPayload(
        job_id=job.job_id,
        run_id=run_id,
        job_name=job.definition.name,
        scheduled_for=fire.at,
        running_run_id=running_run_id,
        next_run_at=fire.next_run_at,
    )
    return RunSkipped(**envelope(fire.causation, 0, run_key(job.job_id, run_id), 1), payload=payload)
