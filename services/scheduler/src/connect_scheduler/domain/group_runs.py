"""Group runs (spec §7.3): run a group now, stop a group run, and sequence its members.

Members run one at a time, in order, each as an ordinary run of its job (`run.requested` with
`trigger="group"`, naming the group run). Run-now starts the first member in the same decision; when the runs
consumer sees a member's run end, `decide_after_member` starts the next one only after a success and no stop:
otherwise the group run ends, and the rest never start. A member that cannot start when its turn comes
(deleted, inactive, running already, its table, list or a PET missing) ends the group run *failed* with words
naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from connect_events import (
    Event,
    FieldError,
    GroupRunEnded,
    GroupRunEndedPayload,
    GroupRunMemberRequested,
    GroupRunMemberRequestedPayload,
    GroupRunRequested,
    GroupRunRequestedPayload,
    GroupRunStopRequested,
    GroupRunStopRequestedPayload,
    RunGroupNow,
    RunStatus,
    StopGroupRun,
    Trigger,
    group_run_key,
    run_key,
)
from connect_events.values import storable_problem
from connect_runtime.messages import Causation
from connect_scheduler.domain.envelope import envelope
from connect_scheduler.domain.fields import text_errors
from connect_scheduler.domain.groups import GroupRunState, GroupState, evolve, existing_group, live_group
from connect_scheduler.domain.jobs import JobState, live_job
from connect_scheduler.domain.rejection import Rejected, invalid
from connect_scheduler.domain.run_control import request_run, request_stop, require_runnable
from connect_scheduler.domain.slots import SCHEDULER_ACTOR
from connect_scheduler.domain.targets import Target
from connect_scheduler.domain.validation import expiration_errors


@dataclass(frozen=True)
class MemberFacts:
    """What starting (or stopping) member job `job_id` needs: its state (None: it never existed), its target
    (`domain/targets.py`) and its run in progress, as the scheduler's view of runs says."""

    job_id: int
    job: JobState | None
    target: Target = None
    running: int | None = None


@dataclass(frozen=True)
class MemberEnd:
    """A member run reached a terminal status on `connect.runs`; `error` is its failure in words, when known."""

    job_id: int
    run_id: int
    status: RunStatus
    error: str | None = None


def first_member(state: GroupState | None) -> int | None:
    """The job a run of the group would start first; None when the group cannot run (then nothing is loaded)."""
    if state is None or state.deleted:
        return None
    return state.definition.members[0]


def decide_run_group_now(
    state: GroupState | None, cmd: RunGroupNow, first: MemberFacts | None, now: datetime, causation: Causation
) -> list[Event]:
    """Request the group's next run and start its first member (`first`, from `first_member`) at once.

    Refused for a deleted, expired or running group. A repeated idempotency key asks for the group run it
    started before, so nothing new happens.
    """
    group = live_group(state, cmd.payload.group_id)
    key = cmd.payload.idempotency_key
    if key is not None and (unfit := text_errors("idempotency_key", key, storable_problem)):
        raise invalid(f"the run request for group {group.group_id} has 1 error(s)", unfit)
    if key is not None and key in group.idempotency_keys:
        return []
    if expiration_errors(group.definition.expires_at, now):
        raise Rejected("invalid_state", f"group {group.group_id} has expired", reason="EXPIRED")
    if group.run is not None and group.run.in_progress:
        message = f"group {group.group_id} is running (group run {group_run_key(group.group_id, group.run.run_id)})"
        raise Rejected("invalid_state", message, reason="GROUP_RUNNING")
    requested = request_group_run(group, causation, idempotency_key=key)
    return [requested, *start_next(evolve(group, requested), first, causation, 1, now)]


def requested_group_run_id(state: GroupState, cmd: RunGroupNow) -> int:
    """The group run a run-now command stands for, once its events are folded into `state`."""
    key = cmd.payload.idempotency_key
    return state.idempotency_keys[key] if key is not None else state.last_run_id


def member_to_start(state: GroupState | None, end: MemberEnd) -> int | None:
    """The job whose run follows `end` in its group run; None when none does (the group run ends, or `end` is
    not the run of its member in progress)."""
    run = _member_run(state, end)
    if run is None or not _goes_on(run, end):
        return None
    return run.members[run.position + 1]


def decide_after_member(
    state: GroupState | None, end: MemberEnd, following: MemberFacts | None, cause: UUID, now: datetime
) -> list[Event]:
    """What a member run's end (event `cause`) leads to: the next member started (`following`, from
    `member_to_start`), or the group run ended.

    Only a success with no stop asked for goes on; after the last member the group run has succeeded. A failed
    or skipped member fails the group run, a stopped one stops it. An end that is not the run of a member in
    progress (a duplicate, a run the group run no longer waits for) leads to nothing. The scheduler acts
    within the group run's correlation, with ids derived from `cause`: the same end always leads to the same
    events.
    """
    run = _member_run(state, end)
    if state is None or run is None:
        return []
    causation = Causation(actor=SCHEDULER_ACTOR, correlation_id=run.correlation_id, causation_id=cause, occurred_at=now)
    if _goes_on(run, end):
        return start_next(state, following, causation, 0, now)
    if end.status is RunStatus.SUCCEEDED:
        status = RunStatus.STOPPED if run.stop_requested else RunStatus.SUCCEEDED
        return [_ended(state, run, causation, 0, now, status)]
    failed = (end.job_id, end.run_id)
    if end.status is RunStatus.STOPPED:
        return [_ended(state, run, causation, 0, now, RunStatus.STOPPED, failed)]
    error = end.error if end.status is RunStatus.FAILED else f"run {run_key(*failed)} was skipped"
    return [_ended(state, run, causation, 0, now, RunStatus.FAILED, failed, error)]


def current_member(state: GroupState | None, run_id: int) -> int | None:
    """The job of group run `run_id`'s member in progress, if that group run is in progress."""
    run = None if state is None else state.run
    if run is None or run.run_id != run_id or not run.in_progress or run.position < 0:
        return None
    return run.members[run.position]


def decide_stop_group_run(
    state: GroupState | None, cmd: StopGroupRun, member: MemberFacts | None, causation: Causation
) -> list[Event]:
    """Ask group run `GroupID.RunID` to stop, and its member in progress (`member`, from `current_member`) with
    it; asked before: nothing new. The rest of its members never start.

    The group may have been deleted since: a group run it started goes on, so it can still be stopped.
    """
    group = existing_group(state, cmd.payload.group_id)
    run_id = cmd.payload.run_id
    display = group_run_key(group.group_id, run_id)
    if not 1 <= run_id <= group.last_run_id:
        raise Rejected("not_found", f"group run {display} does not exist", reason="RUN_NOT_FOUND")
    if run_id in group.stops_requested:
        return []
    run = group.run
    if run is None or run.run_id != run_id or not run.in_progress:
        raise Rejected("invalid_state", f"group run {display} already ended", reason="RUN_NOT_RUNNING")
    payload = GroupRunStopRequestedPayload(group_id=group.group_id, run_id=run_id)
    stop = GroupRunStopRequested(**_run_envelope(group, run, causation, 0), payload=payload)
    return [stop, *_stop_member(run, member, causation)]


def _stop_member(run: GroupRunState, member: MemberFacts | None, causation: Causation) -> list[Event]:
    """The member's run is asked to stop unless it was already (a user stopped it) or it has just ended (its
    end, still on its way, then ends the group run)."""
    run_id = run.member_run_id
    if member is None or member.job is None or run_id is None or member.running != run_id:
        return []
    if run_id in member.job.stops_requested:
        return []
    return [request_stop(member.job_id, run_id, causation, 1)]


def request_group_run(
    group: GroupState,
    causation: Causation,
    *,
    trigger: Trigger = "manual",
    idempotency_key: str | None = None,
    fire: tuple[datetime, int, datetime | None] | None = None,
) -> GroupRunRequested:
    """The group's next run with its members frozen, the first event of `causation`; a scheduled one gives its
    `fire`: the fire time it stands for, how many fires were missed before it, and the group's next fire."""
    run_id = group.last_run_id + 1
    scheduled_for, missed_fires, next_run_at = fire or (None, 0, None)
    payload = GroupRunRequestedPayload(
        group_id=group.group_id,
        run_id=run_id,
        trigger=trigger,
        group_name=group.definition.name,
        members=group.definition.members,
        idempotency_key=idempotency_key,
        scheduled_for=scheduled_for,
        missed_fires=missed_fires,
        next_run_at=next_run_at,
    )
    return GroupRunRequested(**envelope(causation, 0, group_run_key(group.group_id, run_id), 1), payload=payload)


def _member_run(state: GroupState | None, end: MemberEnd) -> GroupRunState | None:
    """The group run in progress whose member in progress `end` is the run of."""
    run = None if state is None else state.run
    if run is None or not run.in_progress or run.position < 0:
        return None
    if (run.members[run.position], run.member_run_id) != (end.job_id, end.run_id):
        return None
    return run


def _goes_on(run: GroupRunState, end: MemberEnd) -> bool:
    """Whether another member starts after `end`: it succeeded, no stop was asked for and it was not the last."""
    return end.status is RunStatus.SUCCEEDED and not run.stop_requested and run.position + 1 < len(run.members)


def start_next(
    group: GroupState, facts: MemberFacts | None, causation: Causation, index: int, now: datetime
) -> list[Event]:
    """Start the group run's next member (its facts `facts`), from the `index`-th event of `causation` on: its
    run requested and the group run saying so; or, when it cannot start now, the group run ended failed."""
    run = group.run
    assert run is not None, "a member starts within a group run"
    position = run.position + 1
    job_id = run.members[position]
    if facts is None or facts.job_id != job_id:
        raise ValueError(f"starting member {position + 1} needs the facts of job {job_id}")
    try:
        job = live_job(facts.job, job_id)
        frozen = require_runnable(job, facts.target, facts.running, now)
    except Rejected as refusal:
        error = f"member {position + 1} could not start: {refusal.message}"
        errors = (FieldError(field=f"members[{position}]", message=refusal.message),)
        return [_ended(group, run, causation, index, now, RunStatus.FAILED, (job_id, None), error, errors)]
    request = request_run(job, frozen, causation, index, trigger="group", group_run=(group.group_id, run.run_id))
    payload = GroupRunMemberRequestedPayload(
        group_id=group.group_id,
        run_id=run.run_id,
        position=position,
        job_id=job_id,
        member_run_id=request.payload.run_id,
    )
    return [request, GroupRunMemberRequested(**_run_envelope(group, run, causation, index + 1), payload=payload)]


def _ended(
    group: GroupState,
    run: GroupRunState,
    causation: Causation,
    index: int,
    now: datetime,
    status: RunStatus,
    failed: tuple[int, int | None] | None = None,
    error: str | None = None,
    errors: tuple[FieldError, ...] = (),
) -> GroupRunEnded:
    """The group run's end; `failed` names the member that did not succeed and its run, if it started."""
    failed_job_id, failed_run_id = failed or (None, None)
    payload = GroupRunEndedPayload(
        group_id=group.group_id,
        run_id=run.run_id,
        status=status,
        started_at=run.started_at,
        finished_at=now,
        failed_job_id=failed_job_id,
        failed_run_id=failed_run_id,
        error=error,
        errors=errors,
    )
    return GroupRunEnded(**_run_envelope(group, run, causation, index), payload=payload)


def _run_envelope(group: GroupState, run: GroupRunState, causation: Causation, index: int) -> dict[str, object]:
    """Envelope of the group run's next event, the `index`-th of `causation`."""
    return envelope(causation, index, group_run_key(group.group_id, run.run_id), run.version + 1)
