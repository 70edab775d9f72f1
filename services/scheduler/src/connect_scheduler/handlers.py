"""Use cases: one command in; its events, and exactly one reply, out through the outbox.

`handle_command` runs inside the transaction that also stores the consumed offset, so events, reply and
offset commit together. Each decision runs in a savepoint: a refusal rolls back anything the handler
wrote (an allocated job id, a claimed name) and leaves only the `CommandRejected` reply.

Every command gets exactly one reply, also when it cannot be handled (invariant 7): a decision that fails
for a reason of its own (not the infrastructure's, which the consumer retries) is refused as `internal`,
and a record that names a command but does not decode as one is refused as `malformed`
(`reject_malformed`). Either way the caller waiting for that command id gets an answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from connect_events import (
    ActivateJob,
    AddListColumn,
    AddPetColumn,
    AudienceDefined,
    AudienceDeleted,
    AudienceSpec,
    AudienceUpdated,
    Command,
    CommandAccepted,
    CommandAcceptedPayload,
    CommandRejected,
    CommandRejectedPayload,
    CopyJob,
    CreateGroup,
    CreateJob,
    DeactivateJob,
    DefineAudience,
    DefineList,
    DefinePet,
    DefineTable,
    DeleteAudience,
    DeleteGroup,
    DeleteJob,
    Event,
    FieldError,
    ListColumnAdded,
    ListSpec,
    PetColumnAdded,
    PetSpec,
    RefusalReason,
    RejectionCode,
    ReplyEvent,
    RunGroupNow,
    RunJobNow,
    StopGroupRun,
    StopRun,
    UpdateAudience,
    UpdateGroup,
    UpdateJob,
)
from connect_runtime import outbox
from connect_runtime.db import Conn
from connect_runtime.messages import Causation
from connect_runtime.retry import TRANSIENT_ERRORS
from connect_scheduler import group_handlers
from connect_scheduler.adapters import due, event_store, group_members, handled_commands, job_names
from connect_scheduler.adapters.event_store import (
    ConcurrencyError,
    audience_stream,
    list_stream,
    pet_stream,
    table_stream,
)
from connect_scheduler.adapters.job_names import NameTakenError
from connect_scheduler.adapters.job_store import append_job, load_job
from connect_scheduler.adapters.run_view import run_in_progress
from connect_scheduler.adapters.targets import Targets
from connect_scheduler.domain.audiences import (
    AudienceState,
    decide_define_audience,
    decide_delete_audience,
    decide_update_audience,
    fold_audience,
)
from connect_scheduler.domain.envelope import occurred_at
from connect_scheduler.domain.jobs import (
    JobState,
    decide_activate_job,
    decide_copy_job,
    decide_create_job,
    decide_deactivate_job,
    decide_delete_job,
    decide_update_job,
    fold,
    name_taken_late,
    saved_errors,
)
from connect_scheduler.domain.lists import (
    decide_add_list_column,
    decide_add_pet_column,
    decide_define_list,
    decide_define_pet,
    fold_list,
    fold_pet,
)
from connect_scheduler.domain.malformed import MalformedCommand
from connect_scheduler.domain.rejection import Rejected, bounded_errors, bounded_text
from connect_scheduler.domain.run_control import decide_run_job_now, decide_stop_run, requested_run_id
from connect_scheduler.domain.tables import decide_define_table, fold_table
from connect_scheduler.domain.targets import Target
from connect_scheduler.domain.validation import envelope_errors
from connect_scheduler.metrics import observe_command
from connect_scheduler.outcome import Outcome
from connect_scheduler.policy import STRICT, Policy

log = logging.getLogger(__name__)

# Domain events use indices 0, 1, ...; the reply's id is fixed per command and distinct from all of them,
# so a re-handled command's reply de-duplicates downstream.
REPLY_INDEX = -1
# In our own words: the exception's text may carry a database message or a value of the command.
INTERNAL_MESSAGE = "the scheduler could not handle this command; nothing was stored (the failure is logged)"


async def handle_command(
    conn: Conn, command: Command, now: datetime | None = None, policy: Policy = STRICT
) -> ReplyEvent | None:
    """Decide `command` under the operator's `policy`, store its events and queue them with the reply; None if
    it was handled before.

    A command is decided once: a redelivery, or a duplicate handled at the same time by an instance that
    lost its partition while stalled, writes nothing (its reply would repeat the first one's event id).
    """
    causation = causation_of(command, now)
    async with conn.transaction():
        if not await _claim(conn, causation):
            log.info("command already handled", extra=_log_fields(command))
            return None
        events, reply = await _decide(conn, command, causation, policy)
        await outbox.append(conn, [*events, reply])
    _log_reply(command, reply)
    observe_command(command, reply, datetime.now(UTC))
    return reply


async def reject_malformed(conn: Conn, malformed: MalformedCommand) -> CommandRejected | None:
    """Refuse a record that names a command but is not one; None if that command id was answered before.

    Claimed like a command, so a redelivered or re-sent record (or a valid command with the same id) is
    answered once; the reply joins the outbox in the consumer's transaction, with the record's offset.
    """
    causation = Causation(
        actor=malformed.actor,
        correlation_id=malformed.correlation_id,
        causation_id=malformed.command_id,
        occurred_at=malformed.issued_at,
    )
    fields = {"command_id": str(malformed.command_id), "command_type": malformed.command_type}
    async with conn.transaction():
        if not await _claim(conn, causation):
            log.info("malformed command already answered", extra=fields)
            return None
        reply = _rejected(malformed.command_type, causation, "malformed", malformed.message, malformed.errors)
        await outbox.append(conn, [reply])
    log.warning("malformed command rejected", extra={**fields, "errors": len(malformed.errors)})
    return reply


async def _claim(conn: Conn, causation: Causation) -> bool:
    """Claim the command for this transaction; False when it was handled before.

    The claim waits for a concurrent handler of the same command; the event check also recognises
    commands handled before claims were recorded.
    """
    claimed = await handled_commands.claim(conn, causation.causation_id)
    return claimed and not await event_store.contains_event(conn, causation.event_id(0))


def causation_of(command: Command, now: datetime | None = None) -> Causation:
    """Envelope metadata for everything `command` causes; `now` defaults to when it was issued."""
    return Causation(
        actor=command.actor,
        correlation_id=command.correlation_id,
        causation_id=command.command_id,
        occurred_at=now or occurred_at(command.issued_at, fallback=datetime.now(UTC)),
    )


async def _decide(
    conn: Conn, command: Command, causation: Causation, policy: Policy
) -> tuple[Sequence[Event], ReplyEvent]:
    if errors := envelope_errors(command):
        message = f"the command has {len(errors)} error(s)"
        return [], rejected(command, causation, "validation", message, errors, "INVALID_VALUE")
    try:
        async with conn.transaction():
            outcome = await COMMAND_HANDLERS[type(command)](conn, command, causation, policy)
    except Rejected as rejection:
        return [], rejected(command, causation, rejection.code, rejection.message, rejection.errors, rejection.reason)
    except ConcurrencyError as exc:
        # Decided on state another writer changed meanwhile: refuse rather than overwrite (invariant 4).
        log.info("concurrent change", extra={**_log_fields(command), "error": str(exc)})
        return [], _concurrent_change(command, causation)
    except Exception as exc:
        # The savepoint has rolled back whatever the handler wrote. A failure of the infrastructure says
        # nothing about the command: the consumer retries it. Any other would fail on every retry, and
        # then the record would be dead-lettered with nobody told: refuse it instead (invariant 7).
        if is_infrastructure_failure(exc) or conn.is_closed():
            raise
        log.exception("command handling failed", extra=_log_fields(command))
        return [], rejected(command, causation, "internal", INTERNAL_MESSAGE)
    return outcome.events, accepted(command, causation, outcome)


def _concurrent_change(command: Command, causation: Causation) -> CommandRejected:
    """The refusal of a command whose aggregate another command changed while it was decided: its version is
    stale only when it named one (an edit); a command that named none (a run-now, a stop, a copy) may simply be
    sent again."""
    payload: object = getattr(command, "payload")  # noqa: B009 - every concrete command has one
    if getattr(payload, "expected_version", None) is not None:
        message = "changed by another command since the version this one was based on; reload it and try again"
        return rejected(command, causation, "conflict", message, reason="STALE_VERSION")
    message = "changed concurrently by another command; try again"
    return rejected(command, causation, "conflict", message, reason="CONCURRENT_CHANGE")


def is_infrastructure_failure(exc: BaseException) -> bool:
    """Whether `exc` is a failure the consumer retries until it passes (the database or network away).

    Exactly the consumer's list, no wider: a failure raised from here that the consumer gives up after a
    few tries would be dead-lettered, and its command would never be answered.
    """
    return isinstance(exc, TRANSIENT_ERRORS)


def accepted(command: Command, causation: Causation, outcome: Outcome) -> CommandAccepted:
    """The reply to an accepted command."""
    payload = CommandAcceptedPayload(
        command_id=command.command_id,
        command_type=_command_type(command),
        target_type=outcome.target_type,
        target_id=outcome.target_id,
        target_version=outcome.target_version,
        run_id=outcome.run_id,
        errors=bounded_errors(outcome.errors),
        state=outcome.state,
    )
    return CommandAccepted(**_reply_envelope(causation), payload=payload)


def rejected(
    command: Command,
    causation: Causation,
    code: RejectionCode,
    message: str,
    errors: Sequence[FieldError] = (),
    reason: RefusalReason | None = None,
) -> CommandRejected:
    """The reply to a refused command."""
    return _rejected(_command_type(command), causation, code, message, errors, reason)


def _rejected(
    command_type: str,
    causation: Causation,
    code: RejectionCode,
    message: str,
    errors: Sequence[FieldError] = (),
    reason: RefusalReason | None = None,
) -> CommandRejected:
    payload = CommandRejectedPayload(
        command_id=causation.causation_id,
        command_type=command_type,
        code=code,
        message=bounded_text(message),
        errors=bounded_errors(errors),
        reason=reason,
    )
    return CommandRejected(**_reply_envelope(causation), payload=payload)


def _reply_envelope(causation: Causation) -> dict[str, Any]:
    """A reply's envelope: the command is its aggregate, and its id fixes the reply's id."""
    return {
        "event_id": causation.event_id(REPLY_INDEX),
        "aggregate_id": str(causation.causation_id),
        "aggregate_version": 1,
        "occurred_at": causation.occurred_at,
        "actor": causation.actor,
        "correlation_id": causation.correlation_id,
        "causation_id": causation.causation_id,
    }


async def define_table(conn: Conn, cmd: DefineTable, causation: Causation, policy: Policy) -> Outcome:
    """Define a custom table."""
    spec = cmd.payload.table
    history, version = await event_store.load(conn, table_stream(spec.name))
    events = decide_define_table(fold_table(history), cmd, causation)
    await event_store.append(conn, table_stream(spec.name), version, events)
    return Outcome(events, "table", spec.name, 1)


async def define_list(conn: Conn, cmd: DefineList, causation: Causation, policy: Policy) -> Outcome:
    """Define a profile list."""
    spec = cmd.payload.list
    history, version = await event_store.load(conn, list_stream(spec.name))
    events = decide_define_list(fold_list(history), cmd, causation)
    await event_store.append(conn, list_stream(spec.name), version, events)
    return Outcome(events, "list", spec.name, 1)


async def add_list_column(conn: Conn, cmd: AddListColumn, causation: Causation, policy: Policy) -> Outcome:
    """Add a custom column to a profile list."""
    stream = list_stream(cmd.payload.name)
    history, version = await event_store.load(conn, stream)
    events = decide_add_list_column(fold_list(history), cmd, causation)
    return await _column_added(conn, stream, version, events, "list")


async def _audience_scope(conn: Conn, spec: AudienceSpec) -> tuple[ListSpec | None, dict[str, PetSpec]]:
    """The list and the PETs an audience names, as defined now (PETs not defined are left out)."""
    targets = Targets(conn)
    pets = {name.lower(): pet for name in spec.pets if (pet := await targets.pet_spec(name)) is not None}
    return await targets.list_spec(spec.list_name), pets


async def define_audience(conn: Conn, cmd: DefineAudience, causation: Causation, policy: Policy) -> Outcome:
    """Define an audience over a list and its PETs."""
    return await _audience_defined(conn, cmd, causation, decide_define_audience)


async def update_audience(conn: Conn, cmd: UpdateAudience, causation: Causation, policy: Policy) -> Outcome:
    """Replace an audience's PETs, filter and columns."""
    return await _audience_defined(conn, cmd, causation, decide_update_audience)


# A definition's decision: the audience so far, its list and PETs as defined now, the command (define or update).
DecideAudience = Callable[[AudienceState | None, ListSpec | None, dict[str, PetSpec], Any, Causation], list[Event]]


async def _audience_defined(
    conn: Conn, cmd: DefineAudience | UpdateAudience, causation: Causation, decide: DecideAudience
) -> Outcome:
    """A definition checked against the list and PETs it names (as defined now), appended to its stream."""
    spec = cmd.payload.audience
    stream = audience_stream(spec.name)
    history, version = await event_store.load(conn, stream)
    events = decide(fold_audience(history), *await _audience_scope(conn, spec), cmd, causation)
    return await _audience_changed(conn, stream, version, events)


async def delete_audience(conn: Conn, cmd: DeleteAudience, causation: Causation, policy: Policy) -> Outcome:
    """Delete an audience."""
    stream = audience_stream(cmd.payload.name)
    history, version = await event_store.load(conn, stream)
    events = decide_delete_audience(fold_audience(history), cmd, causation)
    return await _audience_changed(conn, stream, version, events)


async def _audience_changed(conn: Conn, stream: str, version: int, events: Sequence[Event]) -> Outcome:
    await event_store.append(conn, stream, version, events)
    [changed] = events
    assert isinstance(changed, AudienceDefined | AudienceUpdated | AudienceDeleted), "one audience event"
    name = changed.payload.name if isinstance(changed, AudienceDeleted) else changed.payload.audience.name
    return Outcome(events, "audience", name, changed.aggregate_version)


async def define_pet(conn: Conn, cmd: DefinePet, causation: Causation, policy: Policy) -> Outcome:
    """Define a PET of an existing list (lists are never removed, so the list read here stays)."""
    spec = cmd.payload.pet
    history, version = await event_store.load(conn, pet_stream(spec.name))
    parent, _ = await event_store.load(conn, list_stream(spec.list_name))
    events = decide_define_pet(fold_pet(history), fold_list(parent), cmd, causation)
    await event_store.append(conn, pet_stream(spec.name), version, events)
    return Outcome(events, "pet", spec.name, 1)


async def add_pet_column(conn: Conn, cmd: AddPetColumn, causation: Causation, policy: Policy) -> Outcome:
    """Add a column to a PET."""
    stream = pet_stream(cmd.payload.name)
    history, version = await event_store.load(conn, stream)
    events = decide_add_pet_column(fold_pet(history), cmd, causation)
    return await _column_added(conn, stream, version, events, "pet")


async def _column_added(conn: Conn, stream: str, version: int, events: Sequence[Event], kind: str) -> Outcome:
    """Append a column's addition; the outcome names the list or PET as defined, at its new version."""
    await event_store.append(conn, stream, version, events)
    [added] = events
    assert isinstance(added, ListColumnAdded | PetColumnAdded), "a column's addition is one event"
    return Outcome(events, kind, added.payload.name, added.aggregate_version)


async def create_job(conn: Conn, cmd: CreateJob, causation: Causation, policy: Policy) -> Outcome:
    """Create a job under the next job id (given back by the savepoint if the job is refused)."""
    definition = cmd.payload.definition
    owner = await job_names.name_owner(conn, definition.name)
    target = await Targets(conn).of(definition.settings)
    job_id = await job_names.next_job_id(conn)
    private = policy.allow_private_webhooks
    events = decide_create_job(
        job_id, cmd, target, owner, causation.occurred_at, causation, allow_private_webhooks=private
    )
    return await _store_definition(conn, job_id, 0, None, events, new=True)


async def update_job(conn: Conn, cmd: UpdateJob, causation: Causation, policy: Policy) -> Outcome:
    """Replace a job's definition (and its name, if renamed)."""
    job_id, definition = cmd.payload.job_id, cmd.payload.definition
    state, version = await load_job(conn, job_id)
    owner = await job_names.name_owner(conn, definition.name)
    target = await Targets(conn).of(definition.settings)
    group_id = await group_members.group_of(conn, job_id)
    private = policy.allow_private_webhooks
    events = decide_update_job(
        state, cmd, target, owner, causation.occurred_at, causation, group_id, allow_private_webhooks=private
    )
    return await _store_definition(conn, job_id, version, state, events, new=False)


async def copy_job(conn: Conn, cmd: CopyJob, causation: Causation, policy: Policy) -> Outcome:
    """Copy a job under the next job id and the given name."""
    state, _ = await load_job(conn, cmd.payload.job_id)
    owner = await job_names.name_owner(conn, cmd.payload.name)
    target = await _job_target(conn, state)
    job_id = await job_names.next_job_id(conn)
    private = policy.allow_private_webhooks
    events = decide_copy_job(
        state, cmd, job_id, target, owner, causation.occurred_at, causation, allow_private_webhooks=private
    )
    return await _store_definition(conn, job_id, 0, None, events, new=True)


async def activate_job(conn: Conn, cmd: ActivateJob, causation: Causation, policy: Policy) -> Outcome:
    """Activate a job, validating it against its target and the clock as they are now."""
    state, version = await load_job(conn, cmd.payload.job_id)
    target = await _job_target(conn, state)
    private = policy.allow_private_webhooks
    events = decide_activate_job(state, cmd, target, causation.occurred_at, causation, allow_private_webhooks=private)
    return _job_outcome(await _append_job(conn, cmd.payload.job_id, version, state, events), events)


async def deactivate_job(conn: Conn, cmd: DeactivateJob, causation: Causation, policy: Policy) -> Outcome:
    """Deactivate a job."""
    state, version = await load_job(conn, cmd.payload.job_id)
    events = decide_deactivate_job(state, cmd, causation, await group_members.group_of(conn, cmd.payload.job_id))
    return _job_outcome(await _append_job(conn, cmd.payload.job_id, version, state, events), events)


async def delete_job(conn: Conn, cmd: DeleteJob, causation: Causation, policy: Policy) -> Outcome:
    """Delete a job and free its name for reuse (its id never is)."""
    state, version = await load_job(conn, cmd.payload.job_id)
    events = decide_delete_job(state, cmd, causation, await group_members.group_of(conn, cmd.payload.job_id))
    after = await _append_job(conn, cmd.payload.job_id, version, state, events)
    await job_names.release_name(conn, cmd.payload.job_id)
    return _job_outcome(after, events)


async def run_job_now(conn: Conn, cmd: RunJobNow, causation: Causation, policy: Policy) -> Outcome:
    """Request a run with the job's definition and its target's current specs; reply with the run id."""
    state, version = await load_job(conn, cmd.payload.job_id, idempotency_key=cmd.payload.idempotency_key)
    target = await _job_target(conn, state)
    running = await _running(conn, state)
    private = policy.allow_private_webhooks
    events = decide_run_job_now(
        state, cmd, target, running, causation.occurred_at, causation, allow_private_webhooks=private
    )
    after = await _append_job(conn, cmd.payload.job_id, version, state, events)
    return Outcome(events, "job", str(after.job_id), after.version, run_id=requested_run_id(after, cmd))


async def stop_run(conn: Conn, cmd: StopRun, causation: Causation, policy: Policy) -> Outcome:
    """Ask a run in progress to stop; the runner ends it *Stopped* (or says it had already committed)."""
    state, version = await load_job(conn, cmd.payload.job_id, run_id=cmd.payload.run_id)
    events = decide_stop_run(state, cmd, await _running(conn, state), causation)
    after = await _append_job(conn, cmd.payload.job_id, version, state, events)
    return Outcome(events, "job", str(after.job_id), after.version, run_id=cmd.payload.run_id)


async def _job_target(conn: Conn, state: JobState | None) -> Target:
    if state is None:
        return None
    return await Targets(conn).of(state.definition.settings)


async def _running(conn: Conn, state: JobState | None) -> int | None:
    return None if state is None else await run_in_progress(conn, state)


async def _store_definition(
    conn: Conn, job_id: int, version: int, state: JobState | None, events: Sequence[Event], *, new: bool
) -> Outcome:
    """Append a saved definition's events and claim its name; if another job took the name since it was
    checked, refuse as if it had been seen taken."""
    after = await _append_job(conn, job_id, version, state, events)
    try:
        await job_names.claim_name(conn, job_id, after.definition.name)
    except NameTakenError as exc:
        raise name_taken_late(after.definition.name, saved_errors(events), None if new else job_id) from exc
    return _job_outcome(after, events)


async def _append_job(
    conn: Conn, job_id: int, version: int, state: JobState | None, events: Sequence[Event]
) -> JobState:
    await append_job(conn, job_id, version, events)
    after = fold(events, state)
    assert after is not None, "an accepted job command leaves a job"
    if events:
        # The due row follows the job in the same transaction, so no ticker fires on a stale schedule.
        await due.reschedule(conn, after, events[-1].occurred_at)
    return after


def _job_outcome(job: JobState, events: Sequence[Event]) -> Outcome:
    state: Literal["active", "inactive"] = "active" if job.active else "inactive"
    return Outcome(events, "job", str(job.job_id), job.version, errors=saved_errors(events), state=state)


def _command_type(command: Command) -> str:
    wire: str = getattr(command, "type")  # noqa: B009 - every concrete command pins `type` with a Literal
    return wire


def _log_fields(command: Command) -> dict[str, object]:
    return {
        "command_id": str(command.command_id),
        "command_type": _command_type(command),
        "correlation_id": str(command.correlation_id),
    }


def _log_reply(command: Command, reply: ReplyEvent) -> None:
    fields = _log_fields(command)
    if isinstance(reply, CommandRejected):
        refused = reply.payload
        fields.update(code=refused.code, refusal=refused.reason, reason=refused.message, errors=len(refused.errors))
        log.info("command rejected", extra=fields)
    elif isinstance(reply, CommandAccepted):
        p = reply.payload
        fields.update(target=f"{p.target_type}:{p.target_id}", version=p.target_version, run_id=p.run_id)
        fields.update(errors=len(p.errors))
        log.info("command accepted", extra=fields)


CommandHandler = Callable[[Conn, Any, Causation, Policy], Awaitable[Outcome]]

COMMAND_HANDLERS: dict[type[Command], CommandHandler] = {
    DefineTable: define_table,
    DefineList: define_list,
    AddListColumn: add_list_column,
    DefinePet: define_pet,
    AddPetColumn: add_pet_column,
    DefineAudience: define_audience,
    UpdateAudience: update_audience,
    DeleteAudience: delete_audience,
    CreateJob: create_job,
    UpdateJob: update_job,
    ActivateJob: activate_job,
    DeactivateJob: deactivate_job,
    DeleteJob: delete_job,
    RunJobNow: run_job_now,
    CopyJob: copy_job,
    StopRun: stop_run,
    CreateGroup: group_handlers.create_group,
    UpdateGroup: group_handlers.update_group,
    DeleteGroup: group_handlers.delete_group,
    RunGroupNow: group_handlers.run_group_now,
    StopGroupRun: group_handlers.stop_group_run,
}
