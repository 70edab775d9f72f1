"""`/api/v1/users`: create users, change their role and password, disable and enable them (admins)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from connect_gateway import identity
from connect_gateway.domain.errors import Refusal
from connect_gateway.domain.identity.users import ChangeRole, Disable, Enable, UserCommand
from connect_gateway.entrypoints.http.auth import ActorDep, PrincipalDep, client_address
from connect_gateway.entrypoints.http.dependencies import DepsDep
from connect_gateway.entrypoints.http.fields import Username
from connect_gateway.entrypoints.http.identity_schemas import PasswordIn, RoleIn, UserIn, UserOut, role_of
from connect_gateway.entrypoints.http.outcomes import COMMON_RESPONSES, THROTTLED, json_response
from connect_gateway.entrypoints.http.schemas import ErrorBody
from connect_gateway.ports import Deps, UserRecord

router = APIRouter(prefix="/api/v1/users", tags=["access"], responses=COMMON_RESPONSES)

UsernamePath = Annotated[Username, Path(description="The user's name")]
CHANGED: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody},
    409: {"model": ErrorBody, "description": "Changed meanwhile, or the last admin"},
}


def user_url(username: str) -> str:
    """Where a user can be read."""
    return f"/api/v1/users/{username}"


def user_out(user: UserRecord) -> UserOut:
    """The API form of a user."""
    return UserOut(
        username=user.username,
        role=user.role.value,
        enabled=user.enabled,
        version=user.version,
        created_at=user.created_at,
        created_by=user.created_by,
        updated_at=user.updated_at,
        updated_by=user.updated_by,
        last_login_at=user.last_login_at,
    )


async def _read(deps: Deps, username: str) -> UserOut:
    user = await deps.identity.get_user(username)
    if user is None:
        raise Refusal("not_found", f"user {username} not found")
    return user_out(user)


@router.get("")
async def list_users(deps: DepsDep) -> list[UserOut]:
    """All users, by name (disabled ones included: users are never deleted, so names are never reused)."""
    return [user_out(u) for u in await deps.identity.list_users()]


@router.post("", status_code=201, response_model=None, responses={201: {"model": UserOut}, **CHANGED})
async def create_user(body: UserIn, deps: DepsDep, actor: ActorDep) -> Response:
    """Create a user with a password and a role."""
    await identity.create_user(deps, body.username, role_of(body.role), body.password.get_secret_value(), actor)
    return json_response(await _read(deps, body.username), 201, user_url(body.username))


@router.get("/{username}", responses={404: {"model": ErrorBody}})
async def get_user(username: UsernamePath, deps: DepsDep) -> UserOut:
    """One user."""
    return await _read(deps, username)


async def _change(deps: Deps, username: str, command: UserCommand, actor: str) -> UserOut:
    await identity.change_user(deps, username, command, actor)
    return await _read(deps, username)


@router.put("/{username}/role", responses=CHANGED)
async def change_role(username: UsernamePath, body: RoleIn, deps: DepsDep, actor: ActorDep) -> UserOut:
    """Change a user's role; the user's sessions end at once (tokens act with the new role)."""
    return await _change(deps, username, ChangeRole(role_of(body.role)), actor)


@router.post("/{username}/disable", responses=CHANGED)
async def disable_user(username: UsernamePath, deps: DepsDep, actor: ActorDep) -> UserOut:
    """Disable a user: sessions end at once, tokens and logins are refused."""
    return await _change(deps, username, Disable(), actor)


@router.post("/{username}/enable", responses=CHANGED)
async def enable_user(username: UsernamePath, deps: DepsDep, actor: ActorDep) -> UserOut:
    """Enable a disabled user."""
    return await _change(deps, username, Enable(), actor)


@router.put("/{username}/password", status_code=204, response_class=Response, responses={**CHANGED, **THROTTLED})
async def change_password(
    username: UsernamePath, body: PasswordIn, request: Request, deps: DepsDep, principal: PrincipalDep
) -> Response:
    """Set a password: your own (with `current_password`), or anyone's as an admin. The user's sessions end."""
    current = body.current_password.get_secret_value() if body.current_password is not None else None
    address = client_address(request)
    await identity.change_password(deps, username, body.password.get_secret_value(), principal, current, address)
    return Response(status_code=204)
