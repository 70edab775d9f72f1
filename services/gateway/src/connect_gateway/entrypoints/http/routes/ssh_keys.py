"""`/api/v1/ssh-keys`: the public keys users log in to the hosted file server with; yours, or anyone's as an admin."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse

from connect_gateway.entrypoints.http.auth import PrincipalDep
from connect_gateway.entrypoints.http.fields import Username
from connect_gateway.entrypoints.http.file_schemas import SshKeyIn, SshKeyOut
from connect_gateway.entrypoints.http.hosted import HostedDep
from connect_gateway.entrypoints.http.outcomes import COMMON_RESPONSES, json_response
from connect_gateway.entrypoints.http.schemas import ErrorBody
from connect_gateway.files import registry
from connect_gateway.files.ports import SshKeyRecord
from connect_gateway.identity import now

router = APIRouter(prefix="/api/v1/ssh-keys", tags=["access"], responses=COMMON_RESPONSES)


def key_out(key: SshKeyRecord) -> SshKeyOut:
    """The API form of a key (public material only)."""
    return SshKeyOut(**asdict(key))


@router.get("")
async def list_keys(
    hosted: HostedDep,
    principal: PrincipalDep,
    username: Annotated[Username | None, Query(description="Another user's keys (admins only)")] = None,
    all_users: Annotated[bool, Query(alias="all", description="Every user's keys (admins only)")] = False,
) -> list[SshKeyOut]:
    """Your registered SSH keys, newest first."""
    return [key_out(k) for k in await registry.list_keys(hosted.keys, principal, username, all_users)]


@router.post(
    "",
    status_code=201,
    response_model=None,
    responses={
        201: {"model": SshKeyOut},
        403: {"model": ErrorBody, "description": "Only an admin may register keys for another user"},
        409: {
            "model": ErrorBody,
            "description": "The key is registered already, the user is disabled or unknown, "
            "or holds the most keys allowed",
        },
    },
)
async def register_key(body: SshKeyIn, hosted: HostedDep, principal: PrincipalDep) -> JSONResponse:
    """Register a public key (Ed25519, or RSA of at least 2048 bits): its user may then log in to the file
    server over SFTP with the matching private key, under their Connect user name."""
    owner = body.username or principal.username
    key = await registry.register_key(hosted.keys, owner, body.label, body.public_key, principal, uuid4(), now())
    return json_response(key_out(key), 201)


@router.delete("/{key_id}", status_code=204, response_class=Response, responses={404: {"model": ErrorBody}})
async def delete_key(
    key_id: Annotated[UUID, Path(description="The key's id")], hosted: HostedDep, principal: PrincipalDep
) -> Response:
    """Remove a key: the next login with it is refused (sessions already open go on until they end)."""
    await registry.delete_key(hosted.keys, key_id, principal, now())
    return Response(status_code=204)
