"""What the gateway's use cases need from the outside world; adapters and test fakes implement these."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol
from uuid import UUID

from connect_events import Command, CommandAccepted, CommandRejected, Role, UserEvent
from connect_gateway.domain.compat import RateLimiter
from connect_gateway.domain.identity.sessions import SessionPolicy
from connect_gateway.domain.identity.throttle import Failures
from connect_gateway.domain.identity.users import UserState
from connect_gateway.domain.profiles import ProfileTable
from connect_gateway.domain.rejects import RejectRecord
from connect_gateway.domain.secrets import Secret
from connect_gateway.files.ports import HostedDeps
from connect_gateway.read_models import (
    AudienceRecord,
    CommandRecord,
    GroupQuery,
    GroupRecord,
    GroupRunQuery,
    GroupRunRecord,
    GroupSummary,
    HistoryQuery,
    HistoryRecord,
    JobQuery,
    JobRecord,
    JobSummary,
    ListRecord,
    LogLine,
    Page,
    PetRecord,
    RunQuery,
    RunRecord,
    TableRecord,
)
from connect_runtime.audiences import AudienceQuery

Reply = CommandAccepted | CommandRejected


class CommandNotSentError(Exception):
    """The message bus refused the command outright: it was not sent."""


class CommandSendTimeoutError(Exception):
    """The bus did not acknowledge the command in time: it may or may not be applied later."""


class HostUnreachableError(Exception):
    """No SSH handshake with the server (refused, unknown host, timeout, not SSH)."""


class ReadModelsUnavailableError(Exception):
    """The catalog database cannot answer."""


class AudienceUnavailableError(Exception):
    """The audience database (the runner's: lists, PETs and the rejects of runs) cannot answer."""


class CommandBus(Protocol):
    """Sends a command and waits for the scheduler's reply."""

    def ready(self) -> bool:
        """Whether replies can be received (the reply listener holds its positions)."""
        ...

    async def submit(self, command: Command, timeout_s: float) -> Reply | None:
        """The reply, or None when none came within `timeout_s`."""
        ...


class CredentialStore(Protocol):
    """The vault, as far as the gateway writes it."""

    async def store(self, ref: UUID, secret: Secret) -> None:
        """Store `secret` encrypted under `ref`."""
        ...

    async def delete(self, ref: UUID) -> None:
        """Remove a credential (a refused command must leave nothing behind)."""
        ...

    async def ping(self) -> None:
        """Raise when the vault database cannot be reached."""
        ...


class HostKeyScanner(Protocol):
    """Reads an SSH server's host key over the network."""

    async def fetch(self, host: str, port: int) -> str:
        """The server's public host key as an OpenSSH line; raises `HostUnreachableError`."""
        ...


class ReadStore(Protocol):
    """The catalog read models."""

    async def ping(self) -> None:
        """Raise when the catalog database cannot be reached."""
        ...

    async def list_tables(self) -> list[TableRecord]:
        """All custom tables, by name."""
        ...

    async def get_table(self, name: str) -> TableRecord | None:
        """The table called `name` (case-insensitive)."""
        ...

    async def list_lists(self) -> list[ListRecord]:
        """All profile lists, by name."""
        ...

    async def get_list(self, name: str) -> ListRecord | None:
        """The list called `name` (case-insensitive)."""
        ...

    async def list_pets(self, list_name: str | None) -> list[PetRecord]:
        """The PETs of the list `list_name` (case-insensitive; None: of every list), by name."""
        ...

    async def get_pet(self, name: str) -> PetRecord | None:
        """The PET called `name` (case-insensitive)."""
        ...

    async def list_audiences(self) -> list[AudienceRecord]:
        """All audiences, by name."""
        ...

    async def get_audience(self, name: str) -> AudienceRecord | None:
        """The audience called `name` (case-insensitive)."""
        ...

    async def list_jobs(self, query: JobQuery) -> Page[JobSummary]:
        """A page of the jobs that are not deleted, in the query's order."""
        ...

    async def get_job(self, job_id: int) -> JobRecord | None:
        """A job that is not deleted."""
        ...

    async def job_history(self, job_id: int, query: HistoryQuery) -> Page[HistoryRecord] | None:
        """A page of a job's history, newest first (deleted jobs too); None when the job never existed."""
        ...

    async def list_runs(self, query: RunQuery) -> Page[RunRecord]:
        """A page of runs, in the query's order."""
        ...

    async def get_run(self, job_id: int, run_id: int) -> RunRecord | None:
        """One run."""
        ...

    async def run_log(self, job_id: int, run_id: int) -> list[LogLine]:
        """A run's log entries in order."""
        ...

    async def get_command(self, command_id: UUID) -> CommandRecord | None:
        """The recorded reply to a command; None while none has been recorded."""
        ...

    async def list_groups(self, query: GroupQuery) -> Page[GroupSummary]:
        """A page of the groups that are not deleted, in the query's order."""
        ...

    async def get_group(self, group_id: int) -> GroupRecord | None:
        """A group that is not deleted."""
        ...

    async def list_group_runs(self, group_id: int, query: GroupRunQuery) -> Page[GroupRunRecord] | None:
        """A page of a group's runs, newest first (deleted groups too); None when the group never existed."""
        ...

    async def get_group_run(self, group_id: int, run_id: int) -> GroupRunRecord | None:
        """One group run with its members in order and their runs."""
        ...

    async def group_run_log(self, group_id: int, run_id: int) -> list[LogLine]:
        """A group run's log entries in order."""
        ...


class RejectStore(Protocol):
    """The rejects the runner keeps per run (its `run_rejects` table in the audience database)."""

    def batches(self, job_id: int, run_id: int) -> AsyncGenerator[Sequence[RejectRecord], None]:
        """A run's rejects in line order, a batch at a time, never all held at once (none: no batch).

        Raises `AudienceUnavailableError`; closing the iterator early releases what it holds.
        """
        ...


class ProfileRows(Protocol):
    """The rows of lists and PETs in the audience database (the runner creates and fills their tables).

    `name` is the list's or PET's name exactly as defined (the table's name); a table the runner has not created
    yet holds no rows. Both raise `AudienceUnavailableError`.
    """

    async def preview(self, kind: ProfileTable, name: str, limit: int) -> list[dict[str, object]]:
        """The first `limit` rows by `RIID_`, each every column by name in the table's order."""
        ...

    async def count(self, kind: ProfileTable, name: str) -> int:
        """How many rows the table holds."""
        ...

    async def audience_rows(self, query: AudienceQuery, limit: int) -> list[dict[str, object]]:
        """The first `limit` rows of a compiled audience, each its output columns by name; none while the runner
        has not created the list's table."""
        ...

    async def audience_count(self, query: AudienceQuery) -> int:
        """How many rows a compiled audience holds."""
        ...


@dataclass(frozen=True)
class UserRecord:
    """A user as the API shows it (never its password hash)."""

    username: str
    role: Role
    enabled: bool
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    last_login_at: datetime | None = None


@dataclass(frozen=True)
class TokenRecord:
    """An API token as the API shows it (never its secret or digest)."""

    token_id: str
    username: str
    name: str
    created_at: datetime
    created_by: str
    expires_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class Principal:
    """Who is calling, as authenticated for this request."""

    username: str
    role: Role
    via: Literal["session", "token"]
    credential_id: str  # the session digest or the token id: what logout or revocation ends
    csrf_digest: str | None = None  # sessions only: the digest the `X-CSRF-Token` header must match


@dataclass(frozen=True)
class IdentitySecrets:
    """Secret material stored beside identity events and never inside them (both are digests or hashes)."""

    password_hash: str | None = None
    token_digest: str | None = None


class IdentityChange(Protocol):
    """One transaction, serialised with every other change: load, decide elsewhere, commit the events."""

    async def load(self, username: str) -> UserState:
        """The user's state, which no other change moves before this one ends; `version` 0 when there is none."""
        ...

    async def enabled_admins(self) -> int:
        """How many enabled admins there are (no other change runs meanwhile, so two demotions cannot both pass)."""
        ...

    async def commit(self, events: Sequence[UserEvent], secrets: IdentitySecrets) -> None:
        """Apply `events` to the stored state (ending sessions where they say so) and queue them for the topic.

        Raises `IdentityConflictError` when the user changed since `load` (another change committed first).
        """
        ...


class IdentityConflictError(Exception):
    """The user changed between load and commit; nothing was stored."""


class IdentityUnavailableError(Exception):
    """The identity database cannot answer (its own text goes to the log, never to a caller)."""


class IdentityStore(Protocol):
    """Users, API tokens, sessions and login failures (the gateway's own database)."""

    def change(self) -> AbstractAsyncContextManager[IdentityChange]:
        """A transaction for one identity change; leaving it without `commit` stores nothing."""
        ...

    async def ping(self) -> None:
        """Raise when the identity database cannot be reached."""
        ...

    async def get_user(self, username: str) -> UserRecord | None:
        """One user."""
        ...

    async def list_users(self) -> list[UserRecord]:
        """All users, by name."""
        ...

    async def password_hash(self, username: str) -> tuple[UserRecord, str] | None:
        """The user and its password hash, for login only."""
        ...

    async def set_password_hash(self, username: str, old_hash: str, new_hash: str) -> None:
        """Replace a hash by a stronger one of the same password (after login); no-op if it changed meanwhile."""
        ...

    async def list_tokens(self, username: str | None) -> list[TokenRecord]:
        """A user's tokens (all users' when None), newest first."""
        ...

    async def get_token(self, token_id: str) -> TokenRecord | None:
        """One token."""
        ...

    async def token_principal(self, token_digest: str, now: datetime) -> Principal | None:
        """The principal of a valid token (not revoked, not expired, user enabled); records its use."""
        ...

    async def start_session(self, username: str, session_digest: str, csrf_digest: str, now: datetime) -> None:
        """Record a new session and the user's login time."""
        ...

    async def session_principal(self, session_digest: str, now: datetime, policy: SessionPolicy) -> Principal | None:
        """The principal of a live session (user enabled, not idle or too old); records activity."""
        ...

    async def end_session(self, session_digest: str) -> None:
        """Forget a session (logout)."""
        ...

    async def failures(self, subjects: Sequence[str]) -> dict[str, Failures]:
        """The failed-login state of each subject that has one."""
        ...

    async def record_failure(self, subjects: Sequence[str], now: datetime) -> dict[str, Failures]:
        """Count one more failed login for each subject (per `throttle.after_failure`); the states after it."""
        ...

    async def login_succeeded(self, account: str, address: str) -> None:
        """A login proved right: forget the account's failures, take this attempt back from the address's."""
        ...


class PasswordHasher(Protocol):
    """Slow password hashing (argon2id); calls may block, so the handler runs them in a thread."""

    def hash(self, password: str) -> str:
        """A new salted hash of `password`."""
        ...

    def verify(self, password: str, hashed: str) -> tuple[bool, str | None]:
        """Whether `password` matches, and a re-hash when the stored one uses weaker parameters."""
        ...


class IdentityDeps(Protocol):
    """What the identity use cases need: `Deps` in the server, just these two in `create-admin`."""

    @property
    def identity(self) -> IdentityStore:
        """The identity store."""
        ...

    @property
    def hasher(self) -> PasswordHasher:
        """The password hasher."""
        ...


@dataclass(frozen=True)
class Deps:
    """Everything the HTTP layer and the use cases use; `bootstrap.connect` builds the real ones."""

    commands: CommandBus
    reads: ReadStore
    credentials: CredentialStore
    host_keys: HostKeyScanner
    identity: IdentityStore
    hasher: PasswordHasher
    reply_timeout_s: float = 10.0
    session_policy: SessionPolicy = field(default_factory=SessionPolicy)
    hosted: HostedDeps | None = None  # None: no hosted file server here (its routes answer 503)
    rejects: RejectStore | None = None  # None: no audience database here (the rejects download answers 503)
    profiles: ProfileRows | None = None  # None: no audience database here (previews and counts answer 503)
    # The Responsys-compatible surface: its per-token request counts, and the address its login names as
    # `endPoint` (None: the address the request came to).
    compat_limiter: RateLimiter = field(default_factory=RateLimiter)
    public_url: str | None = None
