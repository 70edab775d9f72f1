"""Registered SSH public keys in the identity database, as `SshKeyStore`.

Keys reference the users they belong to (users are never deleted). An unregistered key keeps its row with who
removed it and when, so every change records who made it; only live keys count, log in or block a new
registration of the same key. Registration takes the identity change lock (`identity_sql.CHANGE_LOCK_ID`), so
the owner's state and key count cannot move between the checks and the insert.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from connect_events import Role
from connect_gateway.adapters import identity_sql
from connect_gateway.files.ports import SshKeyLimitError, SshKeyOwnerError, SshKeyRecord, SshKeyTakenError
from connect_gateway.ports import IdentityUnavailableError
from connect_runtime.retry import TRANSIENT_ERRORS

SSH_KEYS_DDL = """
CREATE TABLE IF NOT EXISTS ssh_keys (
    key_id       uuid        PRIMARY KEY,
    username     text        NOT NULL REFERENCES users (username),
    label        text        NOT NULL,
    algorithm    text        NOT NULL,
    bits         integer     NOT NULL,
    fingerprint  text        NOT NULL,
    public_key   text        NOT NULL,
    created_at   timestamptz NOT NULL,
    created_by   text        NOT NULL,
    last_used_at timestamptz,
    deleted_at   timestamptz,
    deleted_by   text
);
CREATE UNIQUE INDEX IF NOT EXISTS ssh_keys_live_fingerprint ON ssh_keys (fingerprint) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS ssh_keys_by_user ON ssh_keys (username, created_at DESC) WHERE deleted_at IS NULL;
"""

_COLUMNS = "key_id, username, label, algorithm, bits, fingerprint, public_key, created_at, created_by, last_used_at"
OWNER = "SELECT enabled FROM users WHERE username = $1"
COUNT_LIVE = "SELECT count(*) FROM ssh_keys WHERE username = $1 AND deleted_at IS NULL"
INSERT = f"""
INSERT INTO ssh_keys ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
"""
LIST = f"""
SELECT {_COLUMNS} FROM ssh_keys WHERE deleted_at IS NULL AND ($1::text IS NULL OR username = $1)
ORDER BY created_at DESC, key_id
"""
GET = f"SELECT {_COLUMNS} FROM ssh_keys WHERE key_id = $1 AND deleted_at IS NULL"
DELETE = "UPDATE ssh_keys SET deleted_at = $3, deleted_by = $2 WHERE key_id = $1 AND deleted_at IS NULL"
LOGIN = """
SELECT u.role FROM ssh_keys k JOIN users u ON u.username = k.username
WHERE k.username = $1 AND k.fingerprint = $2 AND k.deleted_at IS NULL AND u.enabled
"""
RECORD_USE = "UPDATE ssh_keys SET last_used_at = $3 WHERE username = $1 AND fingerprint = $2 AND deleted_at IS NULL"
_UNAVAILABLE: tuple[type[Exception], ...] = (*TRANSIENT_ERRORS, asyncpg.InterfaceError)


class PgSshKeyStore:
    """`SshKeyStore` over the identity database (schema: `SSH_KEYS_DDL`, after `IDENTITY_DDL`)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add(self, key: SshKeyRecord, limit: int) -> None:
        """Register `key` for its enabled user holding fewer than `limit` keys."""
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(identity_sql.LOCK_CHANGES, identity_sql.CHANGE_LOCK_ID)
                if not await conn.fetchval(OWNER, key.username):
                    raise SshKeyOwnerError(key.username)
                if await conn.fetchval(COUNT_LIVE, key.username) >= limit:
                    raise SshKeyLimitError(key.username)
                await conn.execute(INSERT, *_values(key))
        except asyncpg.UniqueViolationError as exc:
            raise SshKeyTakenError(key.fingerprint) from exc
        except _UNAVAILABLE as exc:
            raise IdentityUnavailableError(f"{type(exc).__name__}: {exc}") from exc

    async def list_keys(self, username: str | None) -> list[SshKeyRecord]:
        """A user's live keys (every user's when None), newest first."""
        return [_record(row) for row in await self._fetch(LIST, username)]

    async def get(self, key_id: UUID) -> SshKeyRecord | None:
        """One live key."""
        rows = await self._fetch(GET, key_id)
        return _record(rows[0]) if rows else None

    async def delete(self, key_id: UUID, actor: str, now: datetime) -> bool:
        """Unregister a key, recording who did; False when it was not live."""
        try:
            status = await self._pool.execute(DELETE, key_id, actor, now)
        except _UNAVAILABLE as exc:
            raise IdentityUnavailableError(f"{type(exc).__name__}: {exc}") from exc
        return bool(status == "UPDATE 1")

    async def login(self, username: str, fingerprint: str) -> Role | None:
        """The role of an enabled user holding this live key; None otherwise."""
        rows = await self._fetch(LOGIN, username, fingerprint)
        return Role(rows[0]["role"]) if rows else None

    async def record_use(self, username: str, fingerprint: str, now: datetime) -> None:
        """Set the key's `last_used_at`."""
        await self._fetch(RECORD_USE, username, fingerprint, now)

    async def _fetch(self, query: str, *args: object) -> list[asyncpg.Record]:
        try:
            rows: list[asyncpg.Record] = await self._pool.fetch(query, *args)
        except _UNAVAILABLE as exc:
            raise IdentityUnavailableError(f"{type(exc).__name__}: {exc}") from exc
        return rows


def _values(key: SshKeyRecord) -> tuple[object, ...]:
    return tuple(getattr(key, name) for name in SshKeyRecord.__dataclass_fields__)


def _record(row: asyncpg.Record) -> SshKeyRecord:
    return SshKeyRecord(**{name: row[name] for name in SshKeyRecord.__dataclass_fields__})
