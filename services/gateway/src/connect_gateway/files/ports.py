"""What the hosted file server needs from the outside world: the store of registered SSH keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol
from uuid import UUID

from connect_events import Role


@dataclass(frozen=True)
class SshKeyRecord:
    """A registered public key as the API shows it (public material only)."""

    key_id: UUID
    username: str
    label: str
    algorithm: str
    bits: int
    fingerprint: str
    public_key: str
    created_at: datetime
    created_by: str
    last_used_at: datetime | None = None


class SshKeyTakenError(Exception):
    """The key is already registered (to this user or another); nothing was stored."""


class SshKeyLimitError(Exception):
    """The user already has the most keys allowed; nothing was stored."""


class SshKeyOwnerError(Exception):
    """The user does not exist or is disabled; nothing was stored."""


class SshKeyStore(Protocol):
    """Registered SSH public keys (in the identity database, beside the users they belong to)."""

    async def add(self, key: SshKeyRecord, limit: int) -> None:
        """Register `key` for its enabled user holding fewer than `limit` keys.

        Raises `SshKeyOwnerError`, `SshKeyLimitError` or `SshKeyTakenError`.
        """
        ...

    async def list_keys(self, username: str | None) -> list[SshKeyRecord]:
        """A user's keys (every user's when None), newest first."""
        ...

    async def get(self, key_id: UUID) -> SshKeyRecord | None:
        """One registered key."""
        ...

    async def delete(self, key_id: UUID, actor: str, now: datetime) -> bool:
        """Unregister a key (its next login is refused); False when there was none."""
        ...

    async def login(self, username: str, fingerprint: str) -> Role | None:
        """The role of an enabled `username` holding the live key `fingerprint`; else None."""
        ...

    async def record_use(self, username: str, fingerprint: str, now: datetime) -> None:
        """Note that the key just logged its user in (`last_used_at`)."""
        ...


@dataclass(frozen=True)
class HostedDeps:
    """What the file and key routes use: the key store, the account's root and the upload limit."""

    keys: SshKeyStore
    root: Path
    max_upload_bytes: int
