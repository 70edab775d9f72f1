"""Identity events (topic `connect.identity`, keyed by user name): who may act, and how that changed.

Audit consumers read who was created, given which role, disabled or enabled, and which API tokens were issued
and revoked. No password, password hash or token secret ever enters these events: they say *that* a password
changed or a token was issued, never what it is.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, Field

from connect_events.envelope import Event, Payload

IDENTITY_TOPIC = "connect.identity"


class Role(StrEnum):
    """What a user may do; each role includes everything the roles before it may do."""

    VIEWER = "viewer"  # read jobs, groups, runs, logs and tables
    OPERATOR = "operator"  # and run now, stop
    DATA_DIRECTOR = "data_director"  # and create, edit, copy and delete jobs, groups, tables, connections
    ADMIN = "admin"  # and manage users, roles, other users' tokens and SFTP keys


class UserCreatedPayload(Payload):
    """The new user's name and role."""

    username: str
    role: Role


class UserRoleChangedPayload(Payload):
    """The user's role before and after; the user's sessions ended with the change."""

    role: Role
    previous_role: Role


class UserRef(Payload):
    """Payload naming just the user."""

    username: str


class TokenIssuedPayload(Payload):
    """An API token's id, name and expiry (its secret is shown once to its creator and kept only hashed)."""

    username: str
    token_id: str
    name: str
    expires_at: AwareDatetime


class TokenRevokedPayload(Payload):
    """Which token was revoked; it is refused from the next request on."""

    username: str
    token_id: str


class UserEvent(Event):
    """Base of identity events: the aggregate is the user, tokens included."""

    TOPIC: ClassVar[str] = IDENTITY_TOPIC
    aggregate_type: Literal["user"] = "user"


class UserCreated(UserEvent):
    """A user was created with a password and a role."""

    type: Literal["user.created"] = "user.created"
    schema_version: Literal[1] = 1
    payload: UserCreatedPayload


class UserRoleChanged(UserEvent):
    """A user's role was changed; the user's sessions ended."""

    type: Literal["user.role_changed"] = "user.role_changed"
    schema_version: Literal[1] = 1
    payload: UserRoleChangedPayload


class UserDisabled(UserEvent):
    """A user was disabled: sessions ended, tokens refused, login refused."""

    type: Literal["user.disabled"] = "user.disabled"
    schema_version: Literal[1] = 1
    payload: UserRef


class UserEnabled(UserEvent):
    """A disabled user may log in again (and use the tokens not revoked or expired)."""

    type: Literal["user.enabled"] = "user.enabled"
    schema_version: Literal[1] = 1
    payload: UserRef


class UserPasswordChanged(UserEvent):
    """A user's password was changed; the user's other sessions ended."""

    type: Literal["user.password_changed"] = "user.password_changed"
    schema_version: Literal[1] = 1
    payload: UserRef


class TokenIssued(UserEvent):
    """An API token was issued to a user."""

    type: Literal["token.issued"] = "token.issued"
    schema_version: Literal[1] = 1
    payload: TokenIssuedPayload


class TokenRevoked(UserEvent):
    """An API token was revoked."""

    type: Literal["token.revoked"] = "token.revoked"
    schema_version: Literal[1] = 1
    payload: TokenRevokedPayload


AnyUserEvent = Annotated[
    UserCreated | UserRoleChanged | UserDisabled | UserEnabled | UserPasswordChanged | TokenIssued | TokenRevoked,
    Field(discriminator="type"),
]
