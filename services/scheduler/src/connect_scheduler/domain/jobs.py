"""The job aggregate: fold its events into `JobState`, and decide what each job command produces.

A job's stream also holds the `RunRequested` events the scheduler emitted for it, so run ids and
idempotency keys are decided against the same state (and the same optimistic lock) as edits. The job's
`version` counts job events only: it is what clients send back as `expected_version`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from connect_events import (
    ActivateJob,
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
    RunJobNow,
    RunRequested,
    RunRequestedPayload,
    TableSpec,
    UpdateJob,
    run_key,
)
from connect_events.values import storable_problem
from connect_runtime.messages import Causation
from connect_scheduler.domain.envelope import envelope
from connect_scheduler.domain.rejection import Rejected, invalid
from connect_scheduler.domain.validation import text_errors, validate_job


@dataclass(frozen=True)
class JobState:
    """What decisions about one job need to know."""

    job_id: int
    definition: JobDefinition
    version: int = 1
    active: bool = False
    deleted: bool = False
    last_run_id: int = 0
    idempotency_keys: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


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
    raise UnexpectedEventError(f"a job stream cannot hold {type(event).__name__}")


def _run_requested(state: JobState, event: RunRequested) -> JobState:
    keys = dict(state.idempotency_keys)
    if event.payload.idempotency_key is not None:
        keys[event.payload.idempotency_key] = event.payload.run_id
    return replace(state, last_run_id=event.payload.run_id, idempotency_keys=MappingProxyType(keys))


def fold(events: Iterable[Event], state: JobState | None = None) -> JobState | None:
    """`state` after all of `events` (None: the job never existed)."""
    for event in events:
        state = evolve(state, event)
    return state


def decide_create_job(
    job_id: int, cmd: CreateJob, table: TableSpec | None, name_owner: int | None, causation: Causation
) -> list[Event]:
    """A new job `job_id`, activated too when asked; `name_owner` holds the name case-insensitively."""
    definition = cmd.payload.definition
    _require_valid(definition, table, _name_taken(definition.name, name_owner, job_id), _subject(None))
    aggregate = str(job_id)
    events: list[Event] = [
        JobCreated(**envelope(causation, 0, aggregate, 1), payload=JobDefined(job_id=job_id, definition=definition))
    ]
    if cmd.payload.activate:
        events.append(JobActivated(**envelope(causation, 1, aggregate, 2), payload=JobRef(job_id=job_id)))
    return events


def decide_update_job(
    state: JobState | None,
    cmd: UpdateJob,
    table: TableSpec | None,
    name_owner: int | None,
    causation: Causation,
) -> list[Event]:
    """Replace the definition of a job at the version the edit was based on."""
    job = _live(state, cmd.payload.job_id)
    _expect_version(job, cmd.payload.expected_version)
    definition = cmd.payload.definition
    _require_valid(definition, table, _name_taken(definition.name, name_owner, job.job_id), _subject(job.job_id))
    payload = JobDefined(job_id=job.job_id, definition=definition)
    return [JobUpdated(**_next(job, causation), payload=payload)]


def decide_activate_job(
    state: JobState | None, cmd: ActivateJob, table: TableSpec | None, causation: Causation
) -> list[Event]:
    """Activate a job whose definition is valid against its table today; already active: nothing to do."""
    job = _live(state, cmd.payload.job_id)
    _expect_version(job, cmd.payload.expected_version)
    if job.active:
        return []
    _require_valid(job.definition, table, [], _subject(job.job_id))
    return [JobActivated(**_next(job, causation), payload=JobRef(job_id=job.job_id))]


def decide_deactivate_job(state: JobState | None, cmd: DeactivateJob, causation: Causation) -> list[Event]:
    """Deactivate a job; already inactive: nothing to do."""
    job = _live(state, cmd.payload.job_id)
    _expect_version(job, cmd.payload.expected_version)
    if not job.active:
        return []
    return [JobDeactivated(**_next(job, causation), payload=JobRef(job_id=job.job_id))]


def decide_delete_job(state: JobState | None, cmd: DeleteJob, causation: Causation) -> list[Event]:
    """Delete a job by a user's request; its runs and loaded data stay."""
    job = _live(state, cmd.payload.job_id)
    _expect_version(job, cmd.payload.expected_version)
    return [JobDeleted(**_next(job, causation), payload=JobDeletedPayload(job_id=job.job_id, reason="user"))]


def decide_run_job_now(
    state: JobState | None, cmd: RunJobNow, table: TableSpec | None, causation: Causation
) -> list[Event]:
    """Request the next run of an active job, freezing its definition and table for the runner.

    A repeated idempotency key asks for the run it started before, so nothing new happens.
    """
    job = _live(state, cmd.payload.job_id)
    key = cmd.payload.idempotency_key
    if key is not None and (unfit := text_errors("idempotency_key", key, storable_problem)):
        raise invalid(f"the run request for job {job.job_id} has 1 error(s)", unfit)
    if key is not None and key in job.idempotency_keys:
        return []
    if not job.active:
        raise Rejected("invalid_state", f"job {job.job_id} is inactive")
    if table is None:
        raise Rejected("invalid_state", f"table {job.definition.settings.table} of job {job.job_id} does not exist")
    run_id = job.last_run_id + 1
    payload = RunRequestedPayload(
        job_id=job.job_id,
        run_id=run_id,
        trigger="manual",
        idempotency_key=key,
        job_version=job.version,
        definition=job.definition,
        table=table,
    )
    return [RunRequested(**envelope(causation, 0, run_key(job.job_id, run_id), 1), payload=payload)]


def requested_run_id(state: JobState, cmd: RunJobNow) -> int:
    """The run a run-now command stands for, once its events are folded into `state`."""
    key = cmd.payload.idempotency_key
    if key is not None:
        return state.idempotency_keys[key]
    return state.last_run_id


def _live(state: JobState | None, job_id: int) -> JobState:
    if state is None:
        raise Rejected("not_found", f"job {job_id} does not exist")
    if state.deleted:
        raise Rejected("not_found", f"job {job_id} was deleted")
    return state


def _expect_version(job: JobState, expected: int | None) -> None:
    """Optimistic concurrency for edits: a change based on an older version is refused, not merged."""
    if expected is not None and expected != job.version:
        raise Rejected("conflict", f"job {job.job_id} is at version {job.version}, not {expected}")


def name_taken_late(name: str, job_id: int | None = None) -> Rejected:
    """The refusal of a valid definition whose name another job claimed after the name was checked.

    Answers exactly as if the name had been found taken (a create when `job_id` is None, else an update):
    the definition passed every other rule, so the name is its only error.
    """
    errors = [_name_taken_error(name)]
    return invalid(f"{_subject(job_id)} has {len(errors)} error(s)", errors)


def _name_taken(name: str, owner: int | None, job_id: int) -> list[FieldError]:
    if owner is None or owner == job_id:
        return []
    return [_name_taken_error(name)]


def _name_taken_error(name: str) -> FieldError:
    return FieldError(field="name", message=f"a job named {name} already exists")


def _subject(job_id: int | None) -> str:
    """How a rejection names the job: a new one has no id the client knows yet."""
    return "the job" if job_id is None else f"job {job_id}"


def _require_valid(definition: JobDefinition, table: TableSpec | None, extra: list[FieldError], subject: str) -> None:
    errors = validate_job(definition, table) + extra
    if errors:
        raise invalid(f"{subject} has {len(errors)} error(s)", errors)


def _next(job: JobState, causation: Causation) -> dict[str, object]:
    """Envelope of the one job event a command adds."""
    return envelope(causation, 0, str(job.job_id), job.version + 1)
