"""Use cases behind the write endpoints: build a command, send it, and say what came of it.

The request schema has already refused values the API documents as invalid (`connect_events.values`); here the
secret and the host key are checked. Every rule that needs state (unique names, existing tables and
columns) is the scheduler's, which answers each command with one reply.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID, uuid4

from connect_events import (
    ActivateJob,
    AddColumnPayload,
    AddListColumn,
    AddPetColumn,
    AudienceNamePayload,
    AudiencePayload,
    AudienceSpec,
    ColumnSpec,
    Command,
    CommandRejected,
    CopyJob,
    CopyJobPayload,
    CreateGroup,
    CreateGroupPayload,
    CreateJob,
    CreateJobPayload,
    DeactivateJob,
    DefineAudience,
    DefineList,
    DefineListPayload,
    DefinePet,
    DefinePetPayload,
    DefineTable,
    DefineTablePayload,
    DeleteAudience,
    DeleteGroup,
    DeleteJob,
    ExportApi,
    FieldError,
    GroupCommandPayload,
    GroupDefinition,
    JobCommandPayload,
    ListSpec,
    PetSpec,
    RefusalReason,
    RejectionCode,
    RunGroupNow,
    RunGroupNowPayload,
    RunJobNow,
    RunJobNowPayload,
    SftpLocation,
    StopGroupRun,
    StopGroupRunPayload,
    StopRun,
    StopRunPayload,
    TableSpec,
    UpdateAudience,
    UpdateGroup,
    UpdateGroupPayload,
    UpdateJob,
    UpdateJobPayload,
    encode,
    file_location,
)
from connect_gateway.domain.edits import check_based_on, check_same_login, external, secret_after_api
from connect_gateway.domain.errors import Refusal, invalid
from connect_gateway.domain.host_keys import PinnedKey, pin
from connect_gateway.domain.jobs import ApiDraft, HostedSourceDraft, JobDraft, SourceDraft
from connect_gateway.domain.limits import MAX_COMMAND_BYTES
from connect_gateway.domain.secrets import Secret, choose_secret
from connect_gateway.ports import CommandNotSentError, CommandSendTimeoutError, Deps, HostUnreachableError
from connect_runtime.logs import log_context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Accepted:
    """The scheduler stored the command's events; `errors` are those a definition was saved with (a draft), and
    `state` a job's state after a job command."""

    command_id: UUID
    target_id: str
    target_version: int
    run_id: int | None = None
    errors: tuple[FieldError, ...] = ()
    state: Literal["active", "inactive"] | None = None


@dataclass(frozen=True)
class Rejected:
    """The scheduler refused the command; nothing was stored."""

    command_id: UUID
    code: RejectionCode
    message: str
    errors: tuple[FieldError, ...] = ()
    reason: RefusalReason | None = None


@dataclass(frozen=True)
class Pending:
    """No reply in time; the command is on the log and will still be decided."""

    command_id: UUID


Outcome = Accepted | Rejected | Pending


def envelope(actor: str) -> dict[str, Any]:
    """Fresh envelope fields of a command issued now by `actor`."""
    return {"command_id": uuid4(), "correlation_id": uuid4(), "issued_at": datetime.now(UTC), "actor": actor}


async def send(deps: Deps, command: Command) -> Outcome:
    """Send `command` and wait for its reply, up to the configured timeout."""
    check_size(command)
    with log_context(correlation_id=str(command.correlation_id)):
        return await _send(deps, command)


async def _send(deps: Deps, command: Command) -> Outcome:
    ids = {"command_id": str(command.command_id)}
    try:
        reply = await deps.commands.submit(command, deps.reply_timeout_s)
    except CommandNotSentError as exc:
        log.error("command not sent", extra={**ids, "error": str(exc)})
        raise Refusal("unavailable", "the command could not be sent; nothing was stored, retry later") from exc
    except CommandSendTimeoutError as exc:
        log.warning("command send not confirmed", extra=ids)
        raise Refusal(
            "timeout",
            f"the message bus did not confirm the command within {deps.reply_timeout_s:g} s; "
            "it may still be applied, so check before retrying",
        ) from exc
    if reply is None:
        log.info("no reply in time", extra=ids)
        return Pending(command.command_id)
    if isinstance(reply, CommandRejected):
        rejected = reply.payload
        log.info("command rejected", extra={**ids, "code": rejected.code, "reason": rejected.reason})
        return Rejected(command.command_id, rejected.code, rejected.message, rejected.errors, rejected.reason)
    a = reply.payload
    log.info("command accepted", extra={**ids, "target_id": a.target_id})
    return Accepted(command.command_id, a.target_id, a.target_version, a.run_id, a.errors, a.state)


def check_size(command: Command) -> None:
    """Refuse a command the message bus would refuse (413 beats a misleading 503 after the fact)."""
    size = len(encode(command))
    if size > MAX_COMMAND_BYTES:
        raise Refusal(
            "payload_too_large",
            f"the request makes a command of {size} bytes, more than the {MAX_COMMAND_BYTES} the message bus "
            "takes; shorten the mapping or the descriptions",
        )


async def define_table(deps: Deps, spec: TableSpec, actor: str) -> Outcome:
    """Define a custom table."""
    return await send(deps, DefineTable(**envelope(actor), payload=DefineTablePayload(table=spec)))


async def define_list(deps: Deps, spec: ListSpec, actor: str) -> Outcome:
    """Define a profile list."""
    return await send(deps, DefineList(**envelope(actor), payload=DefineListPayload(list=spec)))


async def define_audience(deps: Deps, spec: AudienceSpec, actor: str) -> Outcome:
    """Define an audience."""
    return await send(deps, DefineAudience(**envelope(actor), payload=AudiencePayload(audience=spec)))


async def update_audience(deps: Deps, spec: AudienceSpec, actor: str) -> Outcome:
    """Replace an audience's PETs, filter and columns."""
    return await send(deps, UpdateAudience(**envelope(actor), payload=AudiencePayload(audience=spec)))


async def delete_audience(deps: Deps, name: str, actor: str) -> Outcome:
    """Delete an audience."""
    return await send(deps, DeleteAudience(**envelope(actor), payload=AudienceNamePayload(name=name)))


async def define_pet(deps: Deps, spec: PetSpec, actor: str) -> Outcome:
    """Define a PET of an existing list."""
    return await send(deps, DefinePet(**envelope(actor), payload=DefinePetPayload(pet=spec)))


async def add_list_column(deps: Deps, name: str, column: ColumnSpec, actor: str) -> Outcome:
    """Add a custom column to the list `name`."""
    return await send(deps, AddListColumn(**envelope(actor), payload=AddColumnPayload(name=name, column=column)))


async def add_pet_column(deps: Deps, name: str, column: ColumnSpec, actor: str) -> Outcome:
    """Add a column to the PET `name`."""
    return await send(deps, AddPetColumn(**envelope(actor), payload=AddColumnPayload(name=name, column=column)))


async def create_job(deps: Deps, draft: JobDraft, activate: bool, actor: str) -> Outcome:
    """Create a job: for an external source pin the host key and vault the secret (a marketing API's password
    too); send `CreateJob`."""
    source = draft.source
    if isinstance(source, ApiDraft):
        secret = _api_password(source.password, required=True)
        ref = uuid4()
        payload = CreateJobPayload(definition=draft.definition(source.location(ref)), activate=activate)
        return await _send_with_secret(deps, CreateJob(**envelope(actor), payload=payload), ref, secret)
    if isinstance(source, HostedSourceDraft):
        payload = CreateJobPayload(definition=draft.definition(source.location()), activate=activate)
        return await send(deps, CreateJob(**envelope(actor), payload=payload))
    secret = choose_secret(source.private_key, source.password, required=True)
    pinned = await _pin(deps, source, current=None)
    ref = uuid4()
    payload = CreateJobPayload(definition=draft.definition(source.location(pinned, ref)), activate=activate)
    return await _send_with_secret(deps, CreateJob(**envelope(actor), payload=payload), ref, secret)


async def update_job(deps: Deps, job_id: int, expected_version: int, draft: JobDraft, actor: str) -> Outcome:
    """Replace a job's definition; for an external source without a new secret (or host key) the current one is
    kept. A hosted source keeps nothing: a job moved to it no longer refers to its credential. A marketing API's
    stored password is kept for the same URL and user."""
    source = draft.source
    if isinstance(source, ApiDraft):
        return await _update_api_job(deps, job_id, expected_version, draft, source, actor)
    if isinstance(source, HostedSourceDraft):
        definition = draft.definition(source.location())
        hosted = UpdateJobPayload(job_id=job_id, expected_version=expected_version, definition=definition)
        return await send(deps, UpdateJob(**envelope(actor), payload=hosted))
    secret = choose_secret(source.private_key, source.password, required=False)
    current = await _reusable_source(deps, job_id, expected_version, source, secret)
    if secret is not None:
        ref = uuid4()
    elif current is not None:
        check_same_login(source, current)
        ref = current.credential_ref
    else:
        raise Refusal("not_found", f"job {job_id} not found")
    pinned = await _pin(deps, source, current)
    definition = draft.definition(source.location(pinned, ref))
    payload = UpdateJobPayload(job_id=job_id, expected_version=expected_version, definition=definition)
    return await _send_with_secret(deps, UpdateJob(**envelope(actor), payload=payload), ref, secret)


async def _update_api_job(
    deps: Deps, job_id: int, expected_version: int, draft: JobDraft, source: ApiDraft, actor: str
) -> Outcome:
    secret = _api_password(source.password, required=False)
    ref = uuid4()
    if secret is None:
        record = await deps.reads.get_job(job_id)
        if record is None:
            raise Refusal("not_found", f"job {job_id} not found")
        current = record.definition.settings
        check_based_on(job_id, record.version, expected_version)
        if not isinstance(current, ExportApi) or not source.same_login(current.endpoint):
            message = "give the password again when the URL or user changes"
            raise Refusal("validation_failed", message, [FieldError(field="endpoint.password", message=message)])
        ref = current.endpoint.credential_ref
    definition = draft.definition(source.location(ref))
    payload = UpdateJobPayload(job_id=job_id, expected_version=expected_version, definition=definition)
    return await _send_with_secret(deps, UpdateJob(**envelope(actor), payload=payload), ref, secret)


def _api_password(password: str | None, *, required: bool) -> Secret | None:
    if password is None:
        if required:
            raise invalid("endpoint.password", "give the API user's password")
        return None
    if not password:
        raise invalid("endpoint.password", "must not be empty")
    return Secret("password", password)


async def activate_job(deps: Deps, job_id: int, expected_version: int | None, actor: str) -> Outcome:
    """Activate a job."""
    payload = JobCommandPayload(job_id=job_id, expected_version=expected_version)
    return await send(deps, ActivateJob(**envelope(actor), payload=payload))


async def deactivate_job(deps: Deps, job_id: int, expected_version: int | None, actor: str) -> Outcome:
    """Deactivate a job."""
    payload = JobCommandPayload(job_id=job_id, expected_version=expected_version)
    return await send(deps, DeactivateJob(**envelope(actor), payload=payload))


async def delete_job(deps: Deps, job_id: int, expected_version: int | None, actor: str) -> Outcome:
    """Delete a job (its credential stays: runs already requested may still need it)."""
    payload = JobCommandPayload(job_id=job_id, expected_version=expected_version)
    return await send(deps, DeleteJob(**envelope(actor), payload=payload))


async def delete_jobs(deps: Deps, job_ids: Sequence[int], actor: str) -> list[Outcome | Refusal]:
    """Delete several jobs, each by its own command, all sent at once; one job's refusal stops no other."""

    async def one(job_id: int) -> Outcome | Refusal:
        try:
            return await delete_job(deps, job_id, None, actor)
        except Refusal as refusal:  # not sent, not confirmed: this job's answer, not the request's
            return refusal

    return list(await asyncio.gather(*(one(job_id) for job_id in job_ids)))


async def copy_job(deps: Deps, job_id: int, name: str, actor: str) -> Outcome:
    """Copy an inactive job under a new Job ID and `name`; the copy is inactive."""
    return await send(deps, CopyJob(**envelope(actor), payload=CopyJobPayload(job_id=job_id, name=name)))


async def run_job_now(
    deps: Deps, job_id: int, idempotency_key: str | None, actor: str, *, dry_run: bool = False
) -> Outcome:
    """Start a run now (a dry run writes nothing); a repeated idempotency key answers with the first run."""
    payload = RunJobNowPayload(job_id=job_id, idempotency_key=idempotency_key, dry_run=dry_run)
    return await send(deps, RunJobNow(**envelope(actor), payload=payload))


async def stop_run(deps: Deps, job_id: int, run_id: int, actor: str) -> Outcome:
    """Ask a queued or running run to stop; the run itself ends *Stopped* (or says the stop came too late)."""
    return await send(deps, StopRun(**envelope(actor), payload=StopRunPayload(job_id=job_id, run_id=run_id)))


async def create_group(deps: Deps, definition: GroupDefinition, actor: str) -> Outcome:
    """Create a group (it gets the next Group ID)."""
    return await send(deps, CreateGroup(**envelope(actor), payload=CreateGroupPayload(definition=definition)))


async def update_group(
    deps: Deps, group_id: int, expected_version: int, definition: GroupDefinition, actor: str
) -> Outcome:
    """Replace a group's definition at the version the edit was based on."""
    payload = UpdateGroupPayload(group_id=group_id, expected_version=expected_version, definition=definition)
    return await send(deps, UpdateGroup(**envelope(actor), payload=payload))


async def delete_group(deps: Deps, group_id: int, expected_version: int | None, actor: str) -> Outcome:
    """Delete a group; its jobs stay."""
    payload = GroupCommandPayload(group_id=group_id, expected_version=expected_version)
    return await send(deps, DeleteGroup(**envelope(actor), payload=payload))


async def run_group_now(deps: Deps, group_id: int, idempotency_key: str | None, actor: str) -> Outcome:
    """Start a group run now; a repeated idempotency key answers with the first group run."""
    payload = RunGroupNowPayload(group_id=group_id, idempotency_key=idempotency_key)
    return await send(deps, RunGroupNow(**envelope(actor), payload=payload))


async def stop_group_run(deps: Deps, group_id: int, run_id: int, actor: str) -> Outcome:
    """Ask a group run in progress to stop: its running member is stopped, the rest never start."""
    payload = StopGroupRunPayload(group_id=group_id, run_id=run_id)
    return await send(deps, StopGroupRun(**envelope(actor), payload=payload))


async def _pin(deps: Deps, source: SourceDraft, current: SftpLocation | None) -> PinnedKey:
    """The host key to pin: the one given, the one already pinned for this server, or the server's own."""
    if source.host_key is not None:
        return pin(source.host_key)
    if current is not None and source.same_server(current):
        # Re-reading the key here would silently accept a changed server key: keep the pinned one.
        return PinnedKey(current.host_key, current.host_key_fingerprint)
    try:
        line = await deps.host_keys.fetch(source.host, source.port)
    except HostUnreachableError as exc:
        raise invalid("source.host", f"cannot reach {source.host}:{source.port}: {exc}") from exc
    return pin(line, field="source.host")


async def _reusable_source(
    deps: Deps, job_id: int, expected_version: int, source: SourceDraft, secret: Secret | None
) -> SftpLocation | None:
    """The catalog's source of the job when the edit keeps its secret or host key, checked to be current (a hosted
    one has neither to keep)."""
    if secret is not None and source.host_key is not None:
        return None  # nothing is kept, so a lagging catalog does not matter
    record = await deps.reads.get_job(job_id)
    if record is None:
        return None
    settings = record.definition.settings
    if isinstance(settings, ExportApi):  # moving from a marketing API to a file: no secret or key to keep
        if secret is None:
            raise secret_after_api()
        return None
    current = file_location(settings)
    keeps_key = source.host_key is None and isinstance(current, SftpLocation) and source.same_server(current)
    if secret is None or keeps_key:
        check_based_on(job_id, record.version, expected_version)
        return external(current)
    return None


async def _send_with_secret(deps: Deps, command: Command, ref: UUID, secret: Secret | None) -> Outcome:
    """Vault `secret` (when new) under `ref`, send, and remove it again if the command surely had no effect."""
    if secret is None:
        return await send(deps, command)
    check_size(command)  # before the secret is stored, so a refusal leaves nothing behind
    await deps.credentials.store(ref, secret)
    try:
        outcome = await send(deps, command)
    except Refusal as refusal:
        if refusal.code == "unavailable":
            await _forget(deps, ref)
        raise
    if isinstance(outcome, Rejected):
        await _forget(deps, ref)
    return outcome


async def _forget(deps: Deps, ref: UUID) -> None:
    try:
        await deps.credentials.delete(ref)
    except Exception:
        # An orphaned ciphertext is harmless (nothing references it); the refusal still reaches the client.
        log.exception("could not delete an unused credential", extra={"credential_ref": str(ref)})
