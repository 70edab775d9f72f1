"""The job aggregate: fold its events into `JobState`, and decide what each job command produces.

A job's stream also holds the run events the scheduler emitted for it (`RunRequested`, `RunSkipped`,
`RunStopRequested`), so run ids, idempotency keys and stops are decided against the same state (and the same
optimistic lock) as edits (run-now and stop: `domain/run_control.py`). The job's `version` counts job events
only: it is what clients send back as `expected_version`. Decisions that depend on time take `now`, the
scheduler's clock for the command.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType

from connect_events import (
    ActivateJob,
    CopyJob,
    CreateJob,
    DeactivateJob,
    DeleteJob,
    Event,
    FieldError,
    JobActivated,
    JobCreated,
    JobDeactivated,
    JobDefined,
    JobDefinition,
    JobDeleted,
    JobDeletedPayload,
    JobRef,
    JobUpdated,
    OnDemand,
    RefusalReason,
    RunRequested,
    RunSkipped,
    RunStopRequested,
    UpdateJob,
)
from connect_runtime.messages import Causation
from connect_scheduler.domain.envelope import envelope
from connect_scheduler.domain.rejection import Rejected, bounded_errors, invalid
from connect_scheduler.domain.schedules import next_fire
from connect_scheduler.domain.targets import Target
from connect_scheduler.domain.validation import job_errors, unstorable_errors

# Settings kinds of partner jobs (jobs a partner set up, spec §3): they run on their schedule only; they can be
# neither run by hand nor copied, nor put in a group.
PARTNER_KINDS: frozenset[str] = frozenset({"import_analytics_feed"})


@dataclass(frozen=True)
class JobState:
    """What decisions about one job need to know.

    `last_run_id` is the last run id handed out (requested or skipped); `last_requested_run_id` the last run
    that was requested, the only one that can be in progress (a skipped run never executes). Folded from a
    whole stream, it holds every idempotency key (key → run id) and stop; loaded by `adapters/job_store.py`,
    only those the decision asked about.
    """

    job_id: int
    definition: JobDefinition
    version: int = 1
    active: bool = False
    deleted: bool = False
    last_run_id: int = 0
    last_requested_run_id: int = 0
    idempotency_keys: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    stops_requested: frozenset[int] = frozenset()


class UnexpectedEventError(ValueError):
    """An event that cannot follow the job's history (a corrupt or foreign stream)."""


def evolve(state: JobState | None, event: Event) -> JobState:
    """The job after `event`."""
    if isinstance(event, JobCreated):
        return JobState(job_id=event.payload.job_id, definition=event.payload.definition)
    if state is None:
        raise UnexpectedEventError(f"{type(event).__name__} before job.created")
    match event:
        case JobUpdated():
            return replace(state, version=state.version + 1, definition=event.payload.definition)
        case JobActivated():
            return replace(state, version=state.version + 1, active=True)
        case JobDeactivated():
            return replace(state, version=state.version + 1, active=False)
        case JobDeleted():
            return replace(state, version=state.version + 1, active=False, deleted=True)
        case RunRequested():
            return _run_requested(state, event)
        case RunSkipped():
            return replace(state, last_run_id=event.payload.run_id)
        case RunStopRequested():
            return replace(state, stops_requested=state.stops_requested | {event.payload.run_id})
    raise UnexpectedEventError(f"a job stream cannot hold {type(event).__name__}")


def _run_requested(state: JobState, event: RunRequested) -> JobState:
    keys = dict(state.idempotency_keys)
    run_id = event.payload.run_id
    if event.payload.idempotency_key is not None:
        keys[event.payload.idempotency_key] = run_id
    return replace(state, last_run_id=run_id, last_requested_run_id=run_id, idempotency_keys=MappingProxyType(keys))


def fold(events: Iterable[Event], state: JobState | None = None) -> JobState | None:
    """`state` after all of `events` (None: the job never existed)."""
    for event in events:
        state = evolve(state, event)
    return state


def is_partner(definition: JobDefinition) -> bool:
    """Whether a partner set the job up (spec §7.1: such jobs are neither run by hand nor copied)."""
    return definition.settings.kind in PARTNER_KINDS


def decide_create_job(
    job_id: int,
    cmd: CreateJob,
    target: Target,
    name_owner: int | None,
    now: datetime,
    causation: Causation,
    *,
    allow_private_webhooks: bool = False,
) -> list[Event]:
    """A new job `job_id`, a draft when its definition has errors; activated too when asked and it has none.

    `name_owner` holds the name case-insensitively; `allow_private_webhooks`: the operator lets webhooks reach
    private addresses (so do the other decisions that validate a definition).
    """
    definition = cmd.payload.definition
    errors = _draft_errors(definition, target, name_owner, job_id, now, _subject(None), allow_private_webhooks)
    aggregate = str(job_id)
    payload = JobDefined(job_id=job_id, definition=definition, errors=errors)
    events: list[Event] = [JobCreated(**envelope(causation, 0, aggregate, 1), payload=payload)]
    if cmd.payload.activate and not errors:
        ref = JobRef(job_id=job_id, next_run_at=next_fire(definition.schedule, now))
        events.append(JobActivated(**envelope(causation, 1, aggregate, 2), payload=ref))
    return events


def decide_update_job(
    state: JobState | None,
    cmd: UpdateJob,
    target: Target,
    name_owner: int | None,
    now: datetime,
    causation: Causation,
    group_id: int | None = None,
    *,
    allow_private_webhooks: bool = False,
) -> list[Event]:
    """Replace the definition of a job at the version the edit was based on.

    An inactive job may become a draft; an active one only takes a definition without errors, since it keeps
    firing (deactivate it first to keep a draft). A member of group `group_id` stays on demand.
    """
    job = live_job(state, cmd.payload.job_id)
    _expect_version(job, cmd.payload.expected_version)
    definition = cmd.payload.definition
    if not isinstance(definition.schedule, OnDemand):
        _not_in_group(job, group_id, "give it a schedule")
    errors = _draft_errors(
        definition, target, name_owner, job.job_id, now, _subject(job.job_id), allow_private_webhooks
    )
    if errors and job.active:
        message = f"job {job.job_id} is active and the new definition has {len(errors)} error(s); deactivate it first"
        raise invalid(message, errors, "JOB_HAS_ERRORS")
    next_run_at = next_fire(definition.schedule, now) if job.active else None
    payload = JobDefined(job_id=job.job_id, definition=definition, errors=errors, next_run_at=next_run_at)
    return [JobUpdated(**_next(job, causation), payload=payload)]


def decide_copy_job(
    state: JobState | None,
    cmd: CopyJob,
    job_id: int,
    target: Target,
    name_owner: int | None,
    now: datetime,
    causation: Causation,
    *,
    allow_private_webhooks: bool = False,
) -> list[Event]:
    """A new inactive job `job_id` with an inactive, non-partner job's definition under the given name.

    Its errors are found afresh: its target or the clock may have changed since the original was saved.
    """
    source = live_job(state, cmd.payload.job_id)
    if is_partner(source.definition):
        message = f"job {source.job_id} is a partner job and cannot be copied"
        raise Rejected("invalid_state", message, reason="PARTNER_JOB_NOT_COPYABLE")
    if source.active:
        message = f"job {source.job_id} is active; only an inactive job can be copied"
        raise Rejected("invalid_state", message, reason="COPY_REQUIRES_INACTIVE")
    definition = source.definition.model_copy(update={"name": cmd.payload.name})
    errors = _draft_errors(definition, target, name_owner, job_id, now, _subject(None), allow_private_webhooks)
    payload = JobDefined(job_id=job_id, definition=definition, errors=errors, copied_from=source.job_id)
    return [JobCreated(**envelope(causation, 0, str(job_id), 1), payload=payload)]


def decide_activate_job(
    state: JobState | None,
    cmd: ActivateJob,
    target: Target,
    now: datetime,
    causation: Causation,
    *,
    allow_private_webhooks: bool = False,
) -> list[Event]:
    """Activate a job without errors against its target and the clock today; already active: nothing to do."""
    job = live_job(state, cmd.payload.job_id)
    _expect_version(job, cmd.payload.expected_version)
    if job.active:
        return []
    if errors := job_errors(job.definition, target, now, allow_private_webhooks=allow_private_webhooks):
        raise invalid(f"job {job.job_id} has {len(errors)} error(s); fix them to activate it", errors, "JOB_HAS_ERRORS")
    ref = JobRef(job_id=job.job_id, next_run_at=next_fire(job.definition.schedule, now))
    return [JobActivated(**_next(job, causation), payload=ref)]


def decide_deactivate_job(
    state: JobState | None, cmd: DeactivateJob, causation: Causation, group_id: int | None = None
) -> list[Event]:
    """Deactivate a job that is in no group (`group_id`); already inactive: nothing to do."""
    job = live_job(state, cmd.payload.job_id)
    _expect_version(job, cmd.payload.expected_version)
    if not job.active:
        return []
    _not_in_group(job, group_id, "deactivate it")
    return [JobDeactivated(**_next(job, causation), payload=JobRef(job_id=job.job_id))]


def decide_delete_job(
    state: JobState | None, cmd: DeleteJob, causation: Causation, group_id: int | None = None
) -> list[Event]:
    """Delete a job in no group (`group_id`) by a user's request; a run in progress finishes, its runs and
    loaded data stay."""
    job = live_job(state, cmd.payload.job_id)
    _expect_version(job, cmd.payload.expected_version)
    _not_in_group(job, group_id, "delete it")
    return [JobDeleted(**_next(job, causation), payload=JobDeletedPayload(job_id=job.job_id, reason="user"))]


def saved_errors(events: Sequence[Event]) -> tuple[FieldError, ...]:
    """The validation errors a definition among `events` was saved with (none: no definition saved)."""
    return next((e.payload.errors for e in events if isinstance(e, JobCreated | JobUpdated)), ())


def existing_job(state: JobState | None, job_id: int) -> JobState:
    """The job, deleted or not; refused when it never existed."""
    if state is None:
        raise Rejected("not_found", f"job {job_id} does not exist", reason="JOB_NOT_FOUND")
    return state


def live_job(state: JobState | None, job_id: int) -> JobState:
    """The job; refused when it never existed or was deleted."""
    job = existing_job(state, job_id)
    if job.deleted:
        raise Rejected("not_found", f"job {job_id} was deleted", reason="JOB_DELETED")
    return job


def _expect_version(job: JobState, expected: int | None) -> None:
    """Optimistic concurrency for edits: a change based on an older version is refused, not merged."""
    if expected is not None and expected != job.version:
        message = f"job {job.job_id} is at version {job.version}, not {expected}"
        raise Rejected("conflict", message, reason="STALE_VERSION")


def _not_in_group(job: JobState, group_id: int | None, change: str) -> None:
    """A group's members stay active, on demand and defined (spec §7.3): a change that breaks its group waits
    until the job has left it, so a group never fails for a member changed under it."""
    if group_id is not None:
        message = f"job {job.job_id} is a member of group {group_id}; remove it from the group to {change}"
        raise Rejected("invalid_state", message, reason="JOB_IN_GROUP")


def _draft_errors(
    definition: JobDefinition,
    target: Target,
    name_owner: int | None,
    job_id: int,
    now: datetime,
    subject: str,
    allow_private_webhooks: bool,
) -> tuple[FieldError, ...]:
    """The errors `definition` is saved with; refused with every error when it cannot be saved at all.

    A name is what users find a job by, so a job without a valid, unique one is not kept; nor is a text
    PostgreSQL cannot hold.
    """
    taken = _name_taken(definition.name, name_owner, job_id)
    errors = job_errors(definition, target, now, allow_private_webhooks=allow_private_webhooks) + taken
    named = {e.field for e in errors}
    unstorable = unstorable_errors(definition)
    if "name" in named or unstorable:
        all_errors = errors + [e for e in unstorable if e.field not in named]
        reason: RefusalReason = "NAME_TAKEN" if taken else "JOB_HAS_ERRORS"
        raise invalid(f"{subject} has {len(all_errors)} error(s)", all_errors, reason)
    return bounded_errors(errors)


def name_taken_late(name: str, errors: Sequence[FieldError], job_id: int | None = None) -> Rejected:
    """The refusal of a definition whose name another job claimed after the name was checked.

    Answers exactly as if the name had been found taken (a create or copy when `job_id` is None, else an
    update): `errors`, the ones it was about to be saved with, and the taken name.
    """
    all_errors = [*errors, _name_taken_error(name)]
    return invalid(f"{_subject(job_id)} has {len(all_errors)} error(s)", all_errors, "NAME_TAKEN")


def _name_taken(name: str, owner: int | None, job_id: int) -> list[FieldError]:
    if owner is None or owner == job_id:
        return []
    return [_name_taken_error(name)]


def _name_taken_error(name: str) -> FieldError:
    return FieldError(field="name", message=f"a job named {name} already exists")


def _subject(job_id: int | None) -> str:
    """How a rejection names the job: a new one has no id the client knows yet."""
    return "the job" if job_id is None else f"job {job_id}"


def _next(job: JobState, causation: Causation) -> dict[str, object]:
    """Envelope of the one job event a command adds."""
    return envelope(causation, 0, str(job.job_id), job.version + 1)
