"""Use cases of SSH keys: register, list and unregister; your own keys, or anyone's as an admin."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from connect_events import FieldError, Role
from connect_gateway.domain.errors import Refusal, invalid
from connect_gateway.files.keys import MAX_KEYS_PER_USER, KeyRefusedError, read_public_key
from connect_gateway.files.ports import (
    SshKeyLimitError,
    SshKeyOwnerError,
    SshKeyRecord,
    SshKeyStore,
    SshKeyTakenError,
)
from connect_gateway.ports import Principal


async def register_key(
    keys: SshKeyStore, owner: str, label: str, text: str, actor: Principal, key_id: UUID, now: datetime
) -> SshKeyRecord:
    """Register the public key `text` under `label` for `owner` (yourself, or anyone as an admin)."""
    if owner != actor.username and actor.role is not Role.ADMIN:
        raise Refusal("forbidden", "only an admin may register keys for another user")
    try:
        key = read_public_key(text)
    except KeyRefusedError as exc:
        raise invalid("public_key", str(exc)) from None
    record = SshKeyRecord(
        key_id=key_id,
        username=owner,
        label=label,
        algorithm=key.algorithm,
        bits=key.bits,
        fingerprint=key.fingerprint,
        public_key=key.openssh,
        created_at=now,
        created_by=actor.username,
    )
    try:
        await keys.add(record, MAX_KEYS_PER_USER)
    except SshKeyOwnerError:
        raise Refusal("invalid_state", f"user {owner} does not exist or is disabled") from None
    except SshKeyLimitError:
        raise Refusal("conflict", f"user {owner} already has {MAX_KEYS_PER_USER} keys; remove one first") from None
    except SshKeyTakenError:
        taken = FieldError(field="public_key", message=f"the key {key.fingerprint} is already registered")
        raise Refusal("conflict", f"public_key: {taken.message}", [taken]) from None
    return record


async def list_keys(keys: SshKeyStore, actor: Principal, username: str | None, all_users: bool) -> list[SshKeyRecord]:
    """Your keys, another user's or everyone's (admins only), newest first."""
    if (all_users or (username and username != actor.username)) and actor.role is not Role.ADMIN:
        raise Refusal("forbidden", "only an admin may list another user's keys")
    return await keys.list_keys(None if all_users else (username or actor.username))


async def delete_key(keys: SshKeyStore, key_id: UUID, actor: Principal, now: datetime) -> SshKeyRecord:
    """Unregister a key of yours (or anyone's as an admin): the next login with it is refused."""
    record = await keys.get(key_id)
    # Someone else's key is "not found" to a non-admin: its existence is not theirs to learn.
    if record is None or (record.username != actor.username and actor.role is not Role.ADMIN):
        raise Refusal("not_found", f"key {key_id} not found")
    if not await keys.delete(key_id, actor.username, now):
        raise Refusal("not_found", f"key {key_id} not found")
    return record
