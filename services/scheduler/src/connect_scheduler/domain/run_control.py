"""Run control on the job aggregate: run-now and stop, decided against the job's state and its run in progress.

`running` is the job's run in progress as the scheduler's view of runs says (`adapters/run_view.py`): its last
requested run until `connect.runs` reports that run's end.
"""

from __future__ import annotations

from datetime import datetime

from connect_events import (
    Event,
    RunJobNow,
    RunRequested,
    RunRequestedPayload,
    RunStopRequested,
    RunStopRequestedPayload,
    StopRun,
    Trigger,
    run_key,
)
from connect_events.values import storable_problem
from connect_runtime.messages import Causation
from connect_scheduler.domain.envelope import envelope
from connect_scheduler.domain.fields import text_errors
from connect_scheduler.domain.jobs import JobState, existing_job, is_partner, live_job
from connect_scheduler.domain.rejection import Rejected, invalid
from connect_scheduler.domain.targets import Frozen, Target, freeze
from connect_scheduler.domain.validation import expiration_errors, job_errors


def decide_run_job_now(
    state: JobState | None,
    cmd: RunJobNow,
    target: Target,
    running: int | None,
    now: datetime,
    causation: Causation,
    *,
    allow_private_webhooks: bool = False,
) -> list[Event]:
    """Request the next run of an active job, freezing its definition and target (`domain/targets.py`) for the
    runner.

    `running` is the job's run in progress, if any. A repeated idempotency key asks for the run it started
    before, so nothing new happens. The schedule's next fire is left as it is (spec §7.1).

    A dry run (`dry_run`) writes nothing, so it may also test an inactive job before it is activated, once the
    job has none of the errors activation would list against its table and the clock today
    (`allow_private_webhooks` as for activation). Otherwise it follows run-now's rules: one run in progress
    per job (a dry run counts), the idempotency key, the expiration, the target.
    """
    job = live_job(state, cmd.payload.job_id)
    key = cmd.payload.idempotency_key
    if key is not None and (unfit := text_errors("idempotency_key", key, storable_problem)):
        raise invalid(f"the run request for job {job.job_id} has 1 error(s)", unfit)
    if key is not None and key in job.idempotency_keys:
        return []
    dry_run = cmd.payload.dry_run
    frozen = require_runnable(job, target, running, now, may_be_inactive=dry_run)
    if not job.active and (
        errors := job_errors(job.definition, target, now, allow_private_webhooks=allow_private_webhooks)
    ):
        message = f"job {job.job_id} has {len(errors)} error(s); fix them to dry-run it"
        raise invalid(message, errors, "JOB_HAS_ERRORS")
    return [request_run(job, frozen, causation, 0, trigger="manual", idempotency_key=key, dry_run=dry_run)]


def request_run(
    job: JobState,
    target: Frozen,
    causation: Causation,
    index: int,
    *,
    trigger: Trigger,
    idempotency_key: str | None = None,
    group_run: tuple[int, int] | None = None,
    fire: tuple[datetime, int, datetime | None] | None = None,
    dry_run: bool = False,
) -> RunRequested:
    """The job's next run, the `index`-th event of `causation`, with its definition and `target` frozen for the
    runner; a member run names its group run, `(group_id, group_run_id)`; a scheduled run the fire it stands
    for, `(scheduled_for, missed_fires, next_run_at)`; a dry run writes nothing."""
    run_id = job.last_run_id + 1
    group_id, group_run_id = group_run or (None, None)
    scheduled_for, missed_fires, next_run_at = fire or (None, 0, None)
    payload = RunRequestedPayload(
        job_id=job.job_id,
        run_id=run_id,
        trigger=trigger,
        idempotency_key=idempotency_key,
        job_version=job.version,
        definition=job.definition,
        table=target.table,
        list=target.list,
        pets=target.pets,
        audience=target.audience,
        group_id=group_id,
        group_run_id=group_run_id,
        scheduled_for=scheduled_for,
        missed_fires=missed_fires,
        next_run_at=next_run_at,
        dry_run=dry_run,
    )
    return RunRequested(**envelope(causation, index, run_key(job.job_id, run_id), 1), payload=payload)


def require_runnable(
    job: JobState, target: Target, running: int | None, now: datetime, *, may_be_inactive: bool = False
) -> Frozen:
    """What a run of `job` loads (`targets.freeze`); refused when the job may not run now (`may_be_inactive`: nor
    because the job is inactive)."""
    if is_partner(job.definition):
        raise Rejected("invalid_state", f"job {job.job_id} is a partner job", reason="PARTNER_JOB_NOT_RUNNABLE")
    if not job.active and not may_be_inactive:
        raise Rejected("invalid_state", f"job {job.job_id} is inactive", reason="JOB_INACTIVE")
    if expiration_errors(job.definition.expires_at, now):
        raise Rejected("invalid_state", f"job {job.job_id} has expired", reason="EXPIRED")
    if running is not None:
        message = f"job {job.job_id} is running (run {run_key(job.job_id, running)})"
        raise Rejected("invalid_state", message, reason="JOB_RUNNING")
    return freeze(job.job_id, job.definition, target)


def requested_run_id(state: JobState, cmd: RunJobNow) -> int:
    """The run a run-now command stands for, once its events are folded into `state`."""
    key = cmd.payload.idempotency_key
    if key is not None:
        return state.idempotency_keys[key]
    return state.last_run_id


def decide_stop_run(state: JobState | None, cmd: StopRun, running: int | None, causation: Causation) -> list[Event]:
    """Ask run `JobID.RunID` to stop while it is in progress (`running`); asked before: nothing new.

    The job may have been deleted since: a run it started still finishes, so it can still be stopped.
    """
    job = existing_job(state, cmd.payload.job_id)
    run_id = cmd.payload.run_id
    run = run_key(job.job_id, run_id)
    if not 1 <= run_id <= job.last_run_id:
        raise Rejected("not_found", f"run {run} does not exist", reason="RUN_NOT_FOUND")
    if run_id in job.stops_requested:
        return []
    if running != run_id:
        raise Rejected("invalid_state", f"run {run} already ended", reason="RUN_NOT_RUNNING")
    return [request_stop(job.job_id, run_id, causation, 0)]


def request_stop(job_id: int, run_id: int, causation: Causation, index: int) -> RunStopRequested:
    """The request that run `JobID.RunID` stop, the `index`-th event of `causation`."""
    payload = RunStopRequestedPayload(job_id=job_id, run_id=run_id)
    return RunStopRequested(**envelope(causation, index, run_key(job_id, run_id), 1), payload=payload)
