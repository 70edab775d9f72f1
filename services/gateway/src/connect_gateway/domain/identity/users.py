"""The user aggregate: `decide(state, command, context)` says which identity events follow, or why not.

Tokens belong to their user's aggregate, so one user's history (created, role changed, token issued, revoked)
is one ordered stream. No clock, no randomness and no I/O here: the handler passes them in.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from connect_events import (
    Payload,
    Role,
    TokenIssued,
    TokenIssuedPayload,
    TokenRevoked,
    TokenRevokedPayload,
    UserCreated,
    UserCreatedPayload,
    UserDisabled,
    UserEnabled,
    UserEvent,
    UserPasswordChanged,
    UserRef,
    UserRoleChanged,
    UserRoleChangedPayload,
)
from connect_events.values import control_problem, filled_line_problem, username_problem

# Names the services themselves act under in events; a user of that name would be indistinguishable.
RESERVED_NAMES = frozenset({"system", "scheduler", "runner", "catalog", "gateway", "api", "anonymous"})
MAX_ACTIVE_TOKENS = 50  # per user: a leaked script token is found among few, and listing stays short
MAX_TOKEN_NAME_LENGTH = 100
MAX_TOKEN_LIFE = timedelta(days=366)


# The API's codes: a validation refusal always names its field.
RefusalCode = Literal["not_found", "conflict", "validation_failed"]


class IdentityRefusedError(Exception):
    """The command cannot be applied; nothing changes."""

    def __init__(self, code: RefusalCode, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code: RefusalCode = code
        self.message = message
        self.field = field


@dataclass(frozen=True)
class UserState:
    """What the rules need to know of one user; `version` 0 means no such user."""

    username: str
    role: Role = Role.VIEWER
    enabled: bool = False
    version: int = 0
    active_tokens: frozenset[str] = field(default_factory=frozenset)
    revoked_tokens: frozenset[str] = field(default_factory=frozenset)

    @property
    def exists(self) -> bool:
        """Whether the user was ever created (users are disabled, never deleted)."""
        return self.version > 0


@dataclass(frozen=True)
class Context:
    """Who acts and when; `enabled_admins` counts enabled admins (the last one must stay)."""

    actor: str
    now: datetime
    correlation_id: UUID
    event_id: UUID
    enabled_admins: int = 1


@dataclass(frozen=True)
class CreateUser:
    """Create a user with a role (the password hash travels beside the events, never in them)."""

    role: Role


@dataclass(frozen=True)
class ChangeRole:
    """Give the user another role."""

    role: Role


@dataclass(frozen=True)
class Disable:
    """Disable the user."""


@dataclass(frozen=True)
class Enable:
    """Enable a disabled user."""


@dataclass(frozen=True)
class ChangePassword:
    """Replace the user's password."""


@dataclass(frozen=True)
class IssueToken:
    """Issue an API token to the user."""

    token_id: str
    name: str
    expires_at: datetime


@dataclass(frozen=True)
class RevokeToken:
    """Revoke one of the user's tokens."""

    token_id: str


UserCommand = CreateUser | ChangeRole | Disable | Enable | ChangePassword | IssueToken | RevokeToken


def decide(state: UserState, command: UserCommand, ctx: Context) -> list[UserEvent]:
    """The events `command` causes, or `IdentityRefusedError`; an already-true change causes none."""
    if isinstance(command, CreateUser):
        return _create(state, command, ctx)
    if not state.exists:
        raise IdentityRefusedError("not_found", f"user {state.username} not found")
    if isinstance(command, ChangeRole):
        return _change_role(state, command, ctx)
    if isinstance(command, Disable):
        return _disable(state, ctx)
    if isinstance(command, Enable):
        return [] if state.enabled else [_event(UserEnabled, state, ctx, UserRef(username=state.username))]
    if isinstance(command, ChangePassword):
        return [_event(UserPasswordChanged, state, ctx, UserRef(username=state.username))]
    if isinstance(command, IssueToken):
        return _issue(state, command, ctx)
    return _revoke(state, command, ctx)


def evolve(state: UserState, event: UserEvent) -> UserState:
    """The state after `event`."""
    version = event.aggregate_version
    match event:
        case UserCreated(payload=p):
            return UserState(state.username, p.role, True, version)
        case UserRoleChanged(payload=p):
            return _replace(state, version, role=p.role)
        case UserDisabled():
            return _replace(state, version, enabled=False)
        case UserEnabled():
            return _replace(state, version, enabled=True)
        case TokenIssued(payload=p):
            return _replace(state, version, active_tokens=state.active_tokens | {p.token_id})
        case TokenRevoked(payload=p):
            active = state.active_tokens - {p.token_id}
            return _replace(state, version, active_tokens=active, revoked_tokens=state.revoked_tokens | {p.token_id})
    return _replace(state, version)


def _replace(state: UserState, version: int, **changes: Any) -> UserState:
    return replace(state, version=version, **changes)


def _create(state: UserState, command: CreateUser, ctx: Context) -> list[UserEvent]:
    if problem := username_problem(state.username):
        raise IdentityRefusedError("validation_failed", f"the user name {problem}", "username")
    if state.username in RESERVED_NAMES:
        raise IdentityRefusedError("validation_failed", "this user name is reserved for Connect itself", "username")
    if state.exists:
        raise IdentityRefusedError("conflict", f"user {state.username} already exists", "username")
    payload = UserCreatedPayload(username=state.username, role=command.role)
    return [_event(UserCreated, state, ctx, payload)]


def _change_role(state: UserState, command: ChangeRole, ctx: Context) -> list[UserEvent]:
    if command.role == state.role:
        return []
    _keep_an_admin(state, ctx, "lose the admin role")
    payload = UserRoleChangedPayload(role=command.role, previous_role=state.role)
    return [_event(UserRoleChanged, state, ctx, payload)]


def _disable(state: UserState, ctx: Context) -> list[UserEvent]:
    if not state.enabled:
        return []
    _keep_an_admin(state, ctx, "be disabled")
    return [_event(UserDisabled, state, ctx, UserRef(username=state.username))]


def _keep_an_admin(state: UserState, ctx: Context, change: str) -> None:
    """Why: with no enabled admin left nobody could manage users again short of the command line."""
    if state.role is Role.ADMIN and state.enabled and ctx.enabled_admins <= 1:
        raise IdentityRefusedError("conflict", f"the last enabled admin cannot {change}")


def _issue(state: UserState, command: IssueToken, ctx: Context) -> list[UserEvent]:
    if not state.enabled:
        raise IdentityRefusedError("conflict", f"user {state.username} is disabled")
    if problem := token_name_problem(command.name):
        raise IdentityRefusedError("validation_failed", f"the token name {problem}", "name")
    if command.expires_at <= ctx.now or command.expires_at > ctx.now + MAX_TOKEN_LIFE:
        limit = MAX_TOKEN_LIFE.days
        raise IdentityRefusedError("validation_failed", f"must be in the future and within {limit} days", "expires_at")
    if len(state.active_tokens) >= MAX_ACTIVE_TOKENS:
        raise IdentityRefusedError(
            "conflict", f"a user holds at most {MAX_ACTIVE_TOKENS} tokens; revoke one that is no longer used"
        )
    payload = TokenIssuedPayload(
        username=state.username, token_id=command.token_id, name=command.name, expires_at=command.expires_at
    )
    return [_event(TokenIssued, state, ctx, payload)]


def _revoke(state: UserState, command: RevokeToken, ctx: Context) -> list[UserEvent]:
    if command.token_id in state.revoked_tokens:
        return []
    if command.token_id not in state.active_tokens:
        raise IdentityRefusedError("not_found", f"token {command.token_id} not found")
    payload = TokenRevokedPayload(username=state.username, token_id=command.token_id)
    return [_event(TokenRevoked, state, ctx, payload)]


def token_name_problem(name: str) -> str | None:
    """Why `name` cannot name a token."""
    if problem := control_problem(name) or filled_line_problem(name):
        return problem
    return f"must be at most {MAX_TOKEN_NAME_LENGTH} characters" if len(name) > MAX_TOKEN_NAME_LENGTH else None


def _event(kind: type[UserEvent], state: UserState, ctx: Context, payload: Payload) -> UserEvent:
    return kind(
        event_id=ctx.event_id,
        aggregate_id=state.username,
        aggregate_version=state.version + 1,
        occurred_at=ctx.now,
        actor=ctx.actor,
        correlation_id=ctx.correlation_id,
        payload=payload,
    )
