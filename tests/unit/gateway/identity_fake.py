"""An in-memory `IdentityStore` with the PostgreSQL adapter's semantics, and a fast `PasswordHasher`.

Both pass the same contract (`tests/unit/gateway/identity_contract.py`). One asyncio lock stands in for the
row and change locks: one change at a time, as the real store queues identity changes on an advisory lock.
A change's events are checked when committed and applied when the change ends without an error, so, as in
a transaction, a change that fails after `commit` leaves nothing behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

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
from connect_gateway import identity
from connect_gateway.adapters.passwords import Argon2PasswordHasher
from connect_gateway.domain.identity import throttle
from connect_gateway.domain.identity.sessions import SessionPolicy
from connect_gateway.domain.identity.throttle import Failures
from connect_gateway.domain.identity.users import UserState
from connect_gateway.ports import (
    Deps,
    IdentityChange,
    IdentityConflictError,
    IdentitySecrets,
    Principal,
    TokenRecord,
    UserRecord,
)

TOKEN_TOUCH_EVERY = timedelta(seconds=60)  # as the real store's TOKEN_TOUCH_EVERY_S
ENDS_SESSIONS = (UserRoleChanged, UserDisabled, UserPasswordChanged)


class FastHasher(Argon2PasswordHasher):
    """The real hasher at argon2's cheapest settings, so unit tests stay fast."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_kib=8192)


@dataclass
class _User:
    record: UserRecord
    password_hash: str


@dataclass
class _Token:
    record: TokenRecord
    digest: str


@dataclass
class _Session:
    username: str
    csrf_digest: str
    created_at: datetime
    last_seen_at: datetime


class InMemoryIdentityStore:
    """`IdentityStore` in dictionaries; `published` holds every committed event, in order."""

    def __init__(self) -> None:
        self.users: dict[str, _User] = {}
        self.tokens: dict[str, _Token] = {}
        self.sessions: dict[str, _Session] = {}
        self.login_failures: dict[str, Failures] = {}
        self.published: list[UserEvent] = []
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def change(self) -> AsyncIterator[IdentityChange]:
        """One change at a time; its committed events are applied only when it ends without an error."""
        async with self._lock:
            change = InMemoryChange(self)
            yield change
            for events, secrets in change.staged:
                for event in events:
                    self._apply(event, secrets)
                self.published.extend(events)

    async def ping(self) -> None:
        """Always answers."""

    async def get_user(self, username: str) -> UserRecord | None:
        """One user."""
        user = self.users.get(username)
        return None if user is None else user.record

    async def list_users(self) -> list[UserRecord]:
        """All users, by name."""
        return [self.users[name].record for name in sorted(self.users)]

    async def password_hash(self, username: str) -> tuple[UserRecord, str] | None:
        """The user and its password hash."""
        user = self.users.get(username)
        return None if user is None else (user.record, user.password_hash)

    async def set_password_hash(self, username: str, old_hash: str, new_hash: str) -> None:
        """Replace the hash only if it is still `old_hash`."""
        user = self.users.get(username)
        if user is not None and user.password_hash == old_hash:
            user.password_hash = new_hash

    async def list_tokens(self, username: str | None) -> list[TokenRecord]:
        """A user's tokens (all when None), newest first."""
        records = [t.record for t in self.tokens.values() if username is None or t.record.username == username]
        return sorted(records, key=lambda r: (r.created_at, r.token_id), reverse=True)

    async def get_token(self, token_id: str) -> TokenRecord | None:
        """One token."""
        token = self.tokens.get(token_id)
        return None if token is None else token.record

    async def token_principal(self, token_digest: str, now: datetime) -> Principal | None:
        """A valid token's principal; `last_used_at` written at most once a minute."""
        token = next((t for t in self.tokens.values() if t.digest == token_digest), None)
        if token is None or token.record.revoked_at is not None or token.record.expires_at <= now:
            return None
        user = self.users[token.record.username].record
        if not user.enabled:
            return None
        last = token.record.last_used_at
        if last is None or last <= now - TOKEN_TOUCH_EVERY:
            token.record = replace(token.record, last_used_at=now)
        return Principal(user.username, user.role, "token", token.record.token_id)

    async def start_session(self, username: str, session_digest: str, csrf_digest: str, now: datetime) -> None:
        """Record a session and the login time."""
        user = self.users[username]  # a KeyError, as the real store's foreign key refuses an unknown user
        self.sessions[session_digest] = _Session(username, csrf_digest, now, now)
        user.record = replace(user.record, last_login_at=now)

    async def session_principal(self, session_digest: str, now: datetime, policy: SessionPolicy) -> Principal | None:
        """A live session's principal; an expired one is deleted, activity recorded as the policy says."""
        session = self.sessions.get(session_digest)
        if session is None or not self.users[session.username].record.enabled:
            return None
        if not policy.alive(session.created_at, session.last_seen_at, now):
            del self.sessions[session_digest]
            return None
        if policy.needs_touch(session.last_seen_at, now) and session.last_seen_at < now:
            session.last_seen_at = now
        user = self.users[session.username].record
        return Principal(user.username, user.role, "session", session_digest, csrf_digest=session.csrf_digest)

    async def end_session(self, session_digest: str) -> None:
        """Forget a session."""
        self.sessions.pop(session_digest, None)

    async def failures(self, subjects: Sequence[str]) -> dict[str, Failures]:
        """The state of each subject that has failures."""
        return {s: self.login_failures[s] for s in subjects if s in self.login_failures}

    async def record_failure(self, subjects: Sequence[str], now: datetime) -> dict[str, Failures]:
        """One more failure for each subject."""
        for subject in set(subjects):
            self.login_failures[subject] = throttle.after_failure(subject, self.login_failures.get(subject), now)
        return {s: self.login_failures[s] for s in sorted(set(subjects))}

    async def login_succeeded(self, account: str, address: str) -> None:
        """Forget the account's failures; take this attempt back from the address's count."""
        self.login_failures.pop(account, None)
        if (before := self.login_failures.get(address)) is not None:
            self.login_failures[address] = replace(before, count=max(before.count - 1, 0))

    def state(self, username: str, now: datetime) -> UserState:
        """What `IdentityChange.load` returns: expired tokens count as revoked."""
        user = self.users.get(username)
        if user is None:
            return UserState(username)
        tokens = [t.record for t in self.tokens.values() if t.record.username == username]
        active = frozenset(t.token_id for t in tokens if t.revoked_at is None and t.expires_at > now)
        revoked = frozenset(t.token_id for t in tokens) - active
        r = user.record
        return UserState(username, r.role, r.enabled, r.version, active, revoked)

    def _apply(self, event: UserEvent, secrets: IdentitySecrets) -> None:
        username = event.aggregate_id
        if isinstance(event, UserCreated):
            self._create(event, _required(secrets.password_hash))
            return
        user = self.users[username]
        user.record = replace(
            user.record,
            version=event.aggregate_version,
            updated_at=event.occurred_at,
            updated_by=event.actor,
            **_user_changes(event),
        )
        if isinstance(event, UserPasswordChanged):
            user.password_hash = _required(secrets.password_hash)
        elif isinstance(event, TokenIssued):
            self._issue(event, _required(secrets.token_digest))
        elif isinstance(event, TokenRevoked):
            self._revoke(event)
        if isinstance(event, ENDS_SESSIONS):
            self.sessions = {d: s for d, s in self.sessions.items() if s.username != username}

    def _create(self, event: UserCreated, password_hash: str) -> None:
        at, by = event.occurred_at, event.actor
        record = UserRecord(
            event.aggregate_id, event.payload.role, True, event.aggregate_version, at, by, at, by, last_login_at=None
        )
        self.users[event.aggregate_id] = _User(record, password_hash)

    def _issue(self, event: TokenIssued, digest: str) -> None:
        p = event.payload
        record = TokenRecord(p.token_id, event.aggregate_id, p.name, event.occurred_at, event.actor, p.expires_at)
        self.tokens[p.token_id] = _Token(record, digest)

    def _revoke(self, event: TokenRevoked) -> None:
        token = self.tokens.get(event.payload.token_id)
        if token is not None and token.record.username == event.aggregate_id and token.record.revoked_at is None:
            token.record = replace(token.record, revoked_at=event.occurred_at)


class InMemoryChange:
    """The fake's `IdentityChange`: checks each commit as the real store would, stages it for the end."""

    def __init__(self, store: InMemoryIdentityStore) -> None:
        self._store = store
        self._versions: dict[str, int] = {}  # each user's version after the staged events
        self._digests: set[str] = set()
        self.staged: list[tuple[Sequence[UserEvent], IdentitySecrets]] = []

    async def load(self, username: str) -> UserState:
        """The user's state now."""
        return self._store.state(username, datetime.now(UTC))

    async def enabled_admins(self) -> int:
        """How many enabled admins there are."""
        return sum(1 for u in self._store.users.values() if u.record.role is Role.ADMIN and u.record.enabled)

    async def commit(self, events: Sequence[UserEvent], secrets: IdentitySecrets) -> None:
        """Check every event against the stored versions (all or none are staged)."""
        versions, digests = dict(self._versions), set(self._digests)
        for event in events:
            self._check(event, secrets, versions, digests)
            versions[event.aggregate_id] = event.aggregate_version
        self._versions, self._digests = versions, digests
        self.staged.append((list(events), secrets))

    def _check(self, event: UserEvent, secrets: IdentitySecrets, versions: dict[str, int], digests: set[str]) -> None:
        username = event.aggregate_id
        stored = self._store.users.get(username)
        current = versions.get(username, 0 if stored is None else stored.record.version)
        if isinstance(event, UserCreated):
            _required(secrets.password_hash)
            if current:
                raise IdentityConflictError(f"user {username} changed at the same time")
            return
        if current != event.aggregate_version - 1:
            raise IdentityConflictError(f"user {username} is not at version {event.aggregate_version - 1}")
        if isinstance(event, UserPasswordChanged):
            _required(secrets.password_hash)
        if isinstance(event, TokenIssued):
            self._check_token(event, _required(secrets.token_digest), digests)

    def _check_token(self, event: TokenIssued, digest: str, digests: set[str]) -> None:
        taken = {t.digest for t in self._store.tokens.values()} | digests
        if event.payload.token_id in self._store.tokens or digest in taken:
            raise IdentityConflictError(f"user {event.aggregate_id} changed at the same time")
        digests.add(digest)


def _user_changes(event: UserEvent) -> dict[str, object]:
    if isinstance(event, UserRoleChanged):
        return {"role": event.payload.role}
    if isinstance(event, UserDisabled | UserEnabled):
        return {"enabled": isinstance(event, UserEnabled)}
    return {}


def _required(value: str | None) -> str:
    if value is None:
        raise ValueError("this event needs its secret beside it")
    return value


async def seed_admin(deps: Deps, username: str = "ada") -> str:
    """An enabled admin with an API token, through the real use cases; returns the token (for a Bearer header)."""
    await identity.create_user(deps, username, Role.ADMIN, "a long enough test password", "tests:fixture")
    issuer = Principal(username, Role.ADMIN, "token", "fixture")
    return (await identity.issue_token(deps, username, "tests", None, issuer)).secret
