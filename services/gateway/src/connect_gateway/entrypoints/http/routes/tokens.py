"""`/api/v1/tokens`: API tokens for scripts; your own, or anyone's as an admin."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from connect_events import Role
from connect_gateway import identity
from connect_gateway.domain.errors import Refusal
from connect_gateway.entrypoints.http.auth import PrincipalDep
from connect_gateway.entrypoints.http.dependencies import DepsDep
from connect_gateway.entrypoints.http.fields import TokenId, Username
from connect_gateway.entrypoints.http.identity_schemas import IssuedTokenOut, TokenIn, TokenOut
from connect_gateway.entrypoints.http.outcomes import COMMON_RESPONSES, json_response
from connect_gateway.entrypoints.http.schemas import ErrorBody
from connect_gateway.ports import TokenRecord

router = APIRouter(prefix="/api/v1/tokens", tags=["access"], responses=COMMON_RESPONSES)


def token_out(token: TokenRecord) -> TokenOut:
    """The API form of a token (the record holds no secret: the same fields, shown as they are)."""
    return TokenOut(**asdict(token))


@router.get("")
async def list_tokens(
    deps: DepsDep,
    principal: PrincipalDep,
    username: Annotated[Username | None, Query(description="Another user's tokens (admins only)")] = None,
    all_users: Annotated[bool, Query(alias="all", description="Every user's tokens (admins only)")] = False,
) -> list[TokenOut]:
    """Your API tokens, newest first (revoked and expired ones included)."""
    if (all_users or (username and username != principal.username)) and principal.role is not Role.ADMIN:
        raise Refusal("forbidden", "only an admin may list another user's tokens")
    owner = None if all_users else (username or principal.username)
    return [token_out(t) for t in await deps.identity.list_tokens(owner)]


@router.post(
    "",
    status_code=201,
    response_model=None,
    responses={
        201: {"model": IssuedTokenOut},
        403: {"model": ErrorBody, "description": "Only an admin may issue tokens to another user"},
        404: {"model": ErrorBody, "description": "No such user"},
        409: {"model": ErrorBody, "description": "The user is disabled or holds the most tokens allowed"},
    },
)
async def issue_token(body: TokenIn, deps: DepsDep, principal: PrincipalDep) -> Response:
    """Issue an API token; its secret is in this answer only (it is stored hashed)."""
    owner = body.username or principal.username
    issued = await identity.issue_token(deps, owner, body.name, body.expires_at, principal)
    out = IssuedTokenOut(**asdict(issued.record), token=issued.secret)
    return json_response(out, 201)


@router.delete("/{token_id}", responses={404: {"model": ErrorBody}})
async def revoke_token(
    token_id: Annotated[TokenId, Path(description="The token's id")], deps: DepsDep, principal: PrincipalDep
) -> TokenOut:
    """Revoke a token: it is refused from the next request on."""
    return token_out(await identity.revoke_token(deps, token_id, principal))
