"""The gateway's identity database as its `IdentityStore`: users, API tokens, sessions and login failures.

A change is one transaction on one connection: the user's row is locked while the rules decide, the events'
effects are written with a compare-and-set on the user's version, and the events go into the outbox in the
same transaction, so the table state and `connect.identity` never disagree. A lost database surfaces as
`IdentityUnavailableError` (503 to a client, the database's own text only in the log).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime

import asyncpg

from connect_events import (
    Role,
    TokenIssued,
    TokenRevoked,
    UserCreated,
    UserDisabled,
    UserEnabled,
    UserEvent,
    UserPasswordChanged,
    UserRoleChanged,
)
from connect_gateway.adapters import identity_sql as sql
from connect_gateway.domain.identity import throttle
from connect_gateway.domain.identity.sessions import SessionPolicy
from connect_gateway.domain.identity.throttle import Failures
from connect_gateway.domain.identity.users import UserState
from connect_gateway.ports import (
    IdentityChange,
    IdentityConflictError,
    IdentitySecrets,
    IdentityUnavailableError,
    Principal,
    TokenRecord,
    UserRecord,
)
from connect_runtime import outbox
from connect_runtime.db import Conn
from connect_runtime.retry import TRANSIENT_ERRORS

# A token's `last_used_at` is "when, to the minute": written at most this often, so reads stay reads.
TOKEN_TOUCH_EVERY_S = 60.0
# These events end all of the user's sessions: the sessions were granted under what the event changed.
ENDS_SESSIONS = (UserRoleChanged, UserDisabled, UserPasswordChanged)
# Two transactions that each wait for the other: one of them is cancelled, which means "retry", not "down".
_RACES = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
_UNAVAILABLE: tuple[type[Exception], ...] = (*TRANSIENT_ERRORS, asyncpg.InterfaceError)


class PgIdentityStore:
    """`IdentityStore` over the identity database (schema: `IDENTITY_DDL`)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def change(self) -> AsyncIterator[IdentityChange]:
        """One transaction for one identity change, after every other change (the advisory lock)."""
        with _database_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(sql.LOCK_CHANGES, sql.CHANGE_LOCK_ID)
                yield PgIdentityChange(conn)

    async def ping(self) -> None:
        """Raise when the identity database cannot answer."""
        with _database_errors():
            await self._pool.fetchval(sql.PING)

    async def get_user(self, username: str) -> UserRecord | None:
        """One user."""
        with _database_errors():
            row = await self._pool.fetchrow(sql.GET_USER, username)
        return None if row is None else _user(row)

    async def list_users(self) -> list[UserRecord]:
        """All users, by name."""
        with _database_errors():
            rows = await self._pool.fetch(sql.LIST_USERS)
        return [_user(row) for row in rows]

    async def password_hash(self, username: str) -> tuple[UserRecord, str] | None:
        """The user and its password hash, for login only."""
        with _database_errors():
            row = await self._pool.fetchrow(sql.GET_PASSWORD_HASH, username)
        return None if row is None else (_user(row), row["password_hash"])

    async def set_password_hash(self, username: str, old_hash: str, new_hash: str) -> None:
        """Replace `old_hash` by a stronger hash of the same password; no-op when the password changed meanwhile."""
        with _database_errors():
            await self._pool.execute(sql.SET_PASSWORD_HASH, username, old_hash, new_hash)

    async def list_tokens(self, username: str | None) -> list[TokenRecord]:
        """A user's tokens (every user's when None), newest first."""
        with _database_errors():
            rows = await self._pool.fetch(sql.LIST_TOKENS, username)
        return [_token(row) for row in rows]

    async def get_token(self, token_id: str) -> TokenRecord | None:
        """One token."""
        with _database_errors():
            row = await self._pool.fetchrow(sql.GET_TOKEN, token_id)
        return None if row is None else _token(row)

    async def token_principal(self, token_digest: str, now: datetime) -> Principal | None:
        """The principal of a valid token (not revoked, not expired, user enabled); records its use."""
        with _database_errors():
            row = await self._pool.fetchrow(sql.TOKEN_PRINCIPAL, token_digest, now, TOKEN_TOUCH_EVERY_S)
        return None if row is None else Principal(row["username"], Role(row["role"]), "token", row["token_id"])

    async def start_session(self, username: str, session_digest: str, csrf_digest: str, now: datetime) -> None:
        """Record a new session and the user's login time."""
        with _database_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(sql.INSERT_SESSION, session_digest, username, csrf_digest, now)
                await conn.execute(sql.RECORD_LOGIN, username, now)

    async def session_principal(self, session_digest: str, now: datetime, policy: SessionPolicy) -> Principal | None:
        """The principal of a live session of an enabled user; an expired one is deleted, activity recorded."""
        with _database_errors():
            row = await self._pool.fetchrow(sql.FIND_SESSION, session_digest)
            if row is None:
                return None
            if not policy.alive(row["created_at"], row["last_seen_at"], now):
                await self._pool.execute(sql.END_SESSION, session_digest)
                return None
            if policy.needs_touch(row["last_seen_at"], now):
                await self._pool.execute(sql.TOUCH_SESSION, session_digest, now)
        role = Role(row["role"])
        return Principal(row["username"], role, "session", session_digest, csrf_digest=row["csrf_digest"])

    async def end_session(self, session_digest: str) -> None:
        """Forget a session (logout); no error when it is already gone."""
        with _database_errors():
            await self._pool.execute(sql.END_SESSION, session_digest)

    async def failures(self, subjects: Sequence[str]) -> dict[str, Failures]:
        """The failed-login state of each subject that has one."""
        with _database_errors():
            rows = await self._pool.fetch(sql.GET_FAILURES, list(subjects))
        return {row["subject"]: _failures(row) for row in rows}

    async def record_failure(self, subjects: Sequence[str], now: datetime) -> dict[str, Failures]:
        """Count one more failed login for each subject, in one transaction; the states after it."""
        with _database_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                # Sorted: two logins failing at once lock the same rows in the same order (no deadlock).
                return {subject: await _count_failure(conn, subject, now) for subject in sorted(set(subjects))}

    async def login_succeeded(self, account: str, address: str) -> None:
        """Forget the account's failures; take this attempt back from the address's count."""
        with _database_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(sql.CLEAR_FAILURES, account)
                await conn.execute(sql.TAKE_BACK_ATTEMPT, address)


class PgIdentityChange:
    """The `IdentityChange` of one transaction."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def load(self, username: str) -> UserState:
        """The user's state (no other change can run until this one ends); version 0 when there is no such user."""
        row = await self._conn.fetchrow(sql.LOAD_USER, username)
        if row is None:
            return UserState(username)
        tokens = await self._conn.fetch(sql.LOAD_TOKENS, username)
        return UserState(
            username=username,
            role=Role(row["role"]),
            enabled=row["enabled"],
            version=row["version"],
            active_tokens=frozenset(t["token_id"] for t in tokens if t["active"]),
            revoked_tokens=frozenset(t["token_id"] for t in tokens if not t["active"]),
        )

    async def enabled_admins(self) -> int:
        """How many enabled admins there are (no other change can demote one before this one ends)."""
        count: int = await self._conn.fetchval(sql.COUNT_ENABLED_ADMINS, Role.ADMIN.value)
        return count

    async def commit(self, events: Sequence[UserEvent], secrets: IdentitySecrets) -> None:
        """Apply `events` to the tables and queue them in the outbox; `IdentityConflictError` when the user moved on."""
        # A savepoint: a commit that fails half-way (and is caught) leaves none of its writes behind.
        async with self._conn.transaction():
            for event in events:
                await _apply(self._conn, event, secrets)
            await outbox.append(self._conn, events)


async def _apply(conn: Conn, event: UserEvent, secrets: IdentitySecrets) -> None:
    """One event's effect on the tables."""
    if isinstance(event, UserCreated):
        await _insert(conn, event.aggregate_id, sql.INSERT_USER, *_created_values(event, secrets))
        return
    query, extra = _user_update(event, secrets)
    await _bump(conn, event, query, *extra)
    if isinstance(event, TokenIssued):
        await _insert(conn, event.aggregate_id, sql.INSERT_TOKEN, *_token_values(event, secrets))
    elif isinstance(event, TokenRevoked):
        await conn.execute(sql.REVOKE_TOKEN, event.payload.token_id, event.aggregate_id, event.occurred_at)
    if isinstance(event, ENDS_SESSIONS):
        await conn.execute(sql.END_USER_SESSIONS, event.aggregate_id)


def _created_values(event: UserCreated, secrets: IdentitySecrets) -> tuple[object, ...]:
    password_hash = _required(secrets.password_hash, "user.created needs a password hash")
    role = event.payload.role.value
    return event.aggregate_id, role, event.aggregate_version, password_hash, event.occurred_at, event.actor


def _token_values(event: TokenIssued, secrets: IdentitySecrets) -> tuple[object, ...]:
    digest = _required(secrets.token_digest, "token.issued needs the token's digest")
    p = event.payload
    return p.token_id, event.aggregate_id, p.name, digest, event.occurred_at, event.actor, p.expires_at


def _user_update(event: UserEvent, secrets: IdentitySecrets) -> tuple[str, tuple[object, ...]]:
    """The UPDATE of the user's row for `event` (besides the version), and its extra parameters."""
    if isinstance(event, UserRoleChanged):
        return sql.CHANGE_ROLE, (event.payload.role.value,)
    if isinstance(event, UserDisabled):
        return sql.DISABLE_USER, ()
    if isinstance(event, UserEnabled):
        return sql.ENABLE_USER, ()
    if isinstance(event, UserPasswordChanged):
        return sql.CHANGE_PASSWORD, (_required(secrets.password_hash, "user.password_changed needs a hash"),)
    return sql.BUMP_VERSION, ()  # token events change only the version


async def _bump(conn: Conn, event: UserEvent, query: str, *extra: object) -> None:
    """Move the user to the event's version, only from the version the event was decided on."""
    version = event.aggregate_version
    status = await conn.execute(query, event.aggregate_id, version - 1, version, event.occurred_at, event.actor, *extra)
    if status != "UPDATE 1":
        raise IdentityConflictError(f"user {event.aggregate_id} is not at version {version - 1}")


async def _insert(conn: Conn, username: str, query: str, *values: object) -> None:
    """An INSERT whose duplicate key means another change got there first."""
    try:
        await conn.execute(query, *values)
    except asyncpg.UniqueViolationError as exc:
        raise IdentityConflictError(f"user {username} changed at the same time") from exc


async def _count_failure(conn: Conn, subject: str, now: datetime) -> Failures:
    await conn.execute(sql.ENSURE_FAILURE_ROW, subject, now)
    row = await conn.fetchrow(sql.LOCK_FAILURES, subject)
    assert row is not None  # ensured just above, in this transaction
    after = throttle.after_failure(subject, _failures(row) if row["count"] else None, now)
    await conn.execute(sql.SET_FAILURES, subject, after.count, after.window_started_at, after.locked_until)
    return after


def _required(value: str | None, problem: str) -> str:
    if value is None:
        raise ValueError(problem)
    return value


@contextmanager
def _database_errors() -> Iterator[None]:
    """Translate what the database raises into the port's errors (its text goes into the log only)."""
    try:
        yield
    except _RACES as exc:
        raise IdentityConflictError(f"concurrent identity change: {type(exc).__name__}") from exc
    except _UNAVAILABLE as exc:
        raise IdentityUnavailableError(f"{type(exc).__name__}: {exc}") from exc


def _user(row: asyncpg.Record) -> UserRecord:
    fields = {name: row[name] for name in UserRecord.__dataclass_fields__}
    return UserRecord(**{**fields, "role": Role(row["role"])})


def _token(row: asyncpg.Record) -> TokenRecord:
    return TokenRecord(**{name: row[name] for name in TokenRecord.__dataclass_fields__})


def _failures(row: asyncpg.Record) -> Failures:
    return Failures(row["count"], row["window_started_at"], row["locked_until"])
