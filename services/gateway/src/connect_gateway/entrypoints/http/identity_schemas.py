"""Request and response bodies of login, users and API tokens. No response ever holds a password or hash."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from connect_events import Role
from connect_gateway.entrypoints.http.fields import (
    IsoDateTime,
    LoginName,
    TokenName,
    Username,
    UserPassword,
)
from connect_gateway.entrypoints.http.schemas import RequestBody, ResponseBody

RoleName = Literal["viewer", "operator", "data_director", "admin"]


class LoginIn(RequestBody):
    """A user name and password."""

    username: LoginName
    password: UserPassword


class SessionOut(ResponseBody):
    """Who is logged in; `csrf_token` goes in `X-CSRF-Token` on every change made with the session cookie."""

    username: str
    role: RoleName
    via: Literal["session", "token"]
    csrf_token: str | None = Field(
        default=None, description="Only in the login answer (afterwards it is in the `connect_csrf` cookie)"
    )
    expires_at: datetime | None = Field(default=None, description="The latest a session can last (absolute expiry)")


class UserIn(RequestBody):
    """A new user."""

    username: Username
    password: UserPassword = Field(description="At least 12 characters, not a common password")
    role: RoleName


class RoleIn(RequestBody):
    """A user's new role."""

    role: RoleName


class PasswordIn(RequestBody):
    """A new password; `current_password` is required to change your own."""

    password: UserPassword
    current_password: UserPassword | None = None


class UserOut(ResponseBody):
    """A user (never the password or its hash)."""

    username: str
    role: RoleName
    enabled: bool
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    last_login_at: datetime | None


class TokenIn(RequestBody):
    """A new API token; for yourself unless an admin names another `username`."""

    name: TokenName
    expires_at: IsoDateTime | None = Field(default=None, description="Default: in 90 days; at most 366 days")
    username: Username | None = None


class TokenOut(ResponseBody):
    """An API token (its secret only in the answer that issued it)."""

    token_id: str
    username: str
    name: str
    created_at: datetime
    created_by: str
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class IssuedTokenOut(TokenOut):
    """A token just issued: `token` is shown this once; send it as `Authorization: Bearer <token>`."""

    token: str


def role_of(name: RoleName) -> Role:
    """The contract's role for an API role name."""
    return Role(name)
