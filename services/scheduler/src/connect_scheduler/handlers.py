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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connect_events import (
    ActivateJob,
    Command,
    CommandAccepted,
    CommandAcceptedPayload,
    CommandRejected,
    CommandRejectedPayload,
    CreateJob,
    DeactivateJob,
    DefineTable,
    DeleteJob,
    Event,
    FieldError,
    RejectionCode,
    ReplyEvent,
    RunJobNow,
    TableSpec,
    UpdateJob,
)
from connect_runtime import outbox
from connect_runtime.db import Conn
from connect_runtime.messages import Causation
from connect_runtime.retry import TRANSIENT_ERRORS
from connect_scheduler.adapters import event_store, handled_commands, job_names
from connect_scheduler.adapters.event_store import ConcurrencyError, job_stream, table_stream
from connect_scheduler.adapters.job_names import NameTakenError
from connect_scheduler.domain.envelope import occurred_at
from connect_scheduler.domain.jobs import (
    JobState,
    decide_activate_job,
    decide_create_job,
    decide_deactivate_job,
    decide_delete_job,
    decide_run_job_now,
    decide_update_job,
    fold,
    name_taken_late,
    requested_run_id,
)
from connect_scheduler.domain.malformed import MalformedCommand
from connect_scheduler.domain.rejection import Rejected
from connect_scheduler.domain.tables import decide_define_table, fold_table
from connect_scheduler.domain.validation import envelope_errors

log = logging.getLogger(__name__)

# Domain events use indices 0, 1, ...; the reply's id is fixed per command and distinct from all of them,
# so a re-handled command's reply de-duplicates downstream.
REPLY_INDEX = -1
# A reply's size stays far below Kafka's 1 MiB record limit, whatever the command held.
MAX_REPLY_ERRORS = 100
MAX_REPLY_TEXT = 500
# In our own words: the exception's text may carry a database message or a value of the command.
INTERNAL_MESSAGE = "the scheduler could not handle this command; nothing was stored (the failure is logged)"


@dataclass(frozen=True)
class Outcome:
    """What an accepted command produced, for its events and its `CommandAccepted` reply."""

    events: Sequence[Event]
    target_type: str
    target_id: str
    target_version: int
    run_id: int | None = None


async def handle_command(conn: Conn, command: Command, now: datetime | None = None) -> ReplyEvent | None:
    """Decide `command`, store its events and queue them with the reply; None if it was handled before.

    A command is decided once: a redelivery, or a duplicate handled at the same time by an instance that
    lost its partition while stalled, writes nothing (its reply would repeat the first one's event id).
    """
    causation = causation_of(command, now)
    async with conn.transaction():
        if not await _claim(conn, causation):
            log.info("command already handled", extra=_log_fields(command))
            return None
        events, reply = await _decide(conn, command, causation)
        await outbox.append(conn, [*events, reply])
    _log_reply(command, reply)
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


async def _decide(conn: Conn, command: Command, causation: Causation) -> tuple[Sequence[Event], ReplyEvent]:
    if errors := envelope_errors(command):
        return [], rejected(command, causation, "validation", f"the command has {len(errors)} error(s)", errors)
    try:
        async with conn.transaction():
            outcome = await COMMAND_HANDLERS[type(command)](conn, command, causation)
    except Rejected as rejection:
        return [], rejected(command, causation, rejection.code, rejection.message, rejection.errors)
    except ConcurrencyError as exc:
        # Decided on state another writer changed meanwhile: refuse rather than overwrite (invariant 4).
        log.info("concurrent change", extra={**_log_fields(command), "error": str(exc)})
        return [], rejected(command, causation, "conflict", "changed concurrently by another command; try again")
    except Exception as exc:
        # The savepoint has rolled back whatever the handler wrote. A failure of the infrastructure says
        # nothing about the command: the consumer retries it. Any other would fail on every retry, and
        # then the record would be dead-lettered with nobody told: refuse it instead (invariant 7).
        if is_infrastructure_failure(exc) or conn.is_closed():
            raise
        log.exception("command handling failed", extra=_log_fields(command))
        return [], rejected(command, causation, "internal", INTERNAL_MESSAGE)
    return outcome.events, accepted(command, causation, outcome)


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
    )
    return CommandAccepted(**_reply_envelope(causation), payload=payload)


def rejected(
    command: Command,
    causation: Causation,
    code: RejectionCode,
    message: str,
    errors: Sequence[FieldError] = (),
) -> CommandRejected:
    """The reply to a refused command."""
    return _rejected(_command_type(command), causation, code, message, errors)


def _rejected(
    command_type: str,
    causation: Causation,
    code: RejectionCode,
    message: str,
    errors: Sequence[FieldError] = (),
) -> CommandRejected:
    payload = CommandRejectedPayload(
        command_id=causation.causation_id,
        command_type=command_type,
        code=code,
        message=_bounded(message),
        errors=_bounded_errors(errors),
    )
    return CommandRejected(**_reply_envelope(causation), payload=payload)


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_REPLY_TEXT else text[: MAX_REPLY_TEXT - 1] + "…"


def _bounded_errors(errors: Sequence[FieldError]) -> tuple[FieldError, ...]:
    """At most `MAX_REPLY_ERRORS` errors of bounded length, the last saying how many more there were.

    A command the bus took must get a reply the bus takes too: a rejection listing (and quoting) each of a
    thousand long mapping targets could outgrow Kafka's record limit, and the relay would retry it forever,
    holding up every reply behind it.
    """
    kept = [FieldError(field=_bounded(e.field), message=_bounded(e.message)) for e in errors[:MAX_REPLY_ERRORS]]
    if len(errors) > MAX_REPLY_ERRORS:
        more = len(errors) - MAX_REPLY_ERRORS + 1
        kept[-1] = FieldError(field=kept[-1].field, message=f"… and {more} more errors")
    return tuple(kept)


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


async def define_table(conn: Conn, cmd: DefineTable, causation: Causation) -> Outcome:
    """Define a custom table."""
    spec = cmd.payload.table
    history, version = await event_store.load(conn, table_stream(spec.name))
    events = decide_define_table(fold_table(history), cmd, causation)
    await event_store.append(conn, table_stream(spec.name), version, events)
    return Outcome(events, "table", spec.name, 1)


async def create_job(conn: Conn, cmd: CreateJob, causation: Causation) -> Outcome:
    """Create a job under the next job id (given back by the savepoint if the job is refused)."""
    definition = cmd.payload.definition
    owner = await job_names.name_owner(conn, definition.name)
    table = await load_table(conn, definition.settings.table)
    job_id = await job_names.next_job_id(conn)
    events = decide_create_job(job_id, cmd, table, owner, causation)
    after = await _append_job(conn, job_id, 0, None, events)
    await _claim_name(conn, job_id, definition.name, new=True)
    return _job_outcome(after, events)


async def update_job(conn: Conn, cmd: UpdateJob, causation: Causation) -> Outcome:
    """Replace a job's definition (and its name, if renamed)."""
    job_id, definition = cmd.payload.job_id, cmd.payload.definition
    state, version = await load_job(conn, job_id)
    owner = await job_names.name_owner(conn, definition.name)
    table = await load_table(conn, definition.settings.table)
    events = decide_update_job(state, cmd, table, owner, causation)
    after = await _append_job(conn, job_id, version, state, events)
    await _claim_name(conn, job_id, definition.name, new=False)
    return _job_outcome(after, events)


async def activate_job(conn: Conn, cmd: ActivateJob, causation: Causation) -> Outcome:
    """Activate a job, validating it against its table as it is now."""
    state, version = await load_job(conn, cmd.payload.job_id)
    table = await _job_table(conn, state)
    events = decide_activate_job(state, cmd, table, causation)
    return _job_outcome(await _append_job(conn, cmd.payload.job_id, version, state, events), events)


async def deactivate_job(conn: Conn, cmd: DeactivateJob, causation: Causation) -> Outcome:
    """Deactivate a job."""
    state, version = await load_job(conn, cmd.payload.job_id)
    events = decide_deactivate_job(state, cmd, causation)
    return _job_outcome(await _append_job(conn, cmd.payload.job_id, version, state, events), events)


async def delete_job(conn: Conn, cmd: DeleteJob, causation: Causation) -> Outcome:
    """Delete a job and free its name for reuse."""
    state, version = await load_job(conn, cmd.payload.job_id)
    events = decide_delete_job(state, cmd, causation)
    after = await _append_job(conn, cmd.payload.job_id, version, state, events)
    await job_names.release_name(conn, cmd.payload.job_id)
    return _job_outcome(after, events)


async def run_job_now(conn: Conn, cmd: RunJobNow, causation: Causation) -> Outcome:
    """Request a run with the job's definition and its table's current spec; reply with the run id."""
    state, version = await load_job(conn, cmd.payload.job_id)
    table = await _job_table(conn, state)
    events = decide_run_job_now(state, cmd, table, causation)
    after = await _append_job(conn, cmd.payload.job_id, version, state, events)
    return Outcome(events, "job", str(after.job_id), after.version, run_id=requested_run_id(after, cmd))


async def load_job(conn: Conn, job_id: int) -> tuple[JobState | None, int]:
    """The job's state and its stream version."""
    history, version = await event_store.load(conn, job_stream(job_id))
    return fold(history), version


async def load_table(conn: Conn, name: str) -> TableSpec | None:
    """The current spec of table `name` (any case), if defined."""
    history, _ = await event_store.load(conn, table_stream(name))
    state = fold_table(history)
    return state.spec if state else None


async def _job_table(conn: Conn, state: JobState | None) -> TableSpec | None:
    if state is None:
        return None
    return await load_table(conn, state.definition.settings.table)


async def _claim_name(conn: Conn, job_id: int, name: str, *, new: bool) -> None:
    """Claim the name checked free before deciding; if another job took it since, refuse as if it was seen."""
    try:
        await job_names.claim_name(conn, job_id, name)
    except NameTakenError as exc:
        raise name_taken_late(name, None if new else job_id) from exc


async def _append_job(
    conn: Conn, job_id: int, version: int, state: JobState | None, events: Sequence[Event]
) -> JobState:
    await event_store.append(conn, job_stream(job_id), version, events)
    after = fold(events, state)
    assert after is not None, "an accepted job command leaves a job"
    return after


def _job_outcome(job: JobState, events: Sequence[Event]) -> Outcome:
    return Outcome(events, "job", str(job.job_id), job.version)


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
        fields.update(code=reply.payload.code, reason=reply.payload.message, errors=len(reply.payload.errors))
        log.info("command rejected", extra=fields)
    elif isinstance(reply, CommandAccepted):
        p = reply.payload
        fields.update(target=f"{p.target_type}:{p.target_id}", version=p.target_version, run_id=p.run_id)
        log.info("command accepted", extra=fields)


CommandHandler = Callable[[Conn, Any, Causation], Awaitable[Outcome]]

COMMAND_HANDLERS: dict[type[Command], CommandHandler] = {
    DefineTable: define_table,
    CreateJob: create_job,
    UpdateJob: update_job,
    ActivateJob: activate_job,
    DeactivateJob: deactivate_job,
    DeleteJob: delete_job,
    RunJobNow: run_job_now,
}
