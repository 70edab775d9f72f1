"""`/api/v1/commands`: the decision on a command whose write answered 202 pending."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from connect_gateway.domain.errors import Refusal
from connect_gateway.entrypoints.http import mapping
from connect_gateway.entrypoints.http.dependencies import DepsDep
from connect_gateway.entrypoints.http.outcomes import COMMON_RESPONSES
from connect_gateway.entrypoints.http.schemas import CommandOut, ErrorBody

router = APIRouter(prefix="/api/v1/commands", tags=["commands"], responses=COMMON_RESPONSES)


@router.get("/{command_id}", responses={404: {"model": ErrorBody, "description": "No decision recorded yet"}})
async def get_command(command_id: UUID, deps: DepsDep) -> CommandOut:
    """The scheduler's decision on a command, once the catalog has recorded it."""
    record = await deps.reads.get_command(command_id)
    if record is None:
        raise Refusal("not_found", f"no reply yet for command {command_id}")
    return mapping.command_out(record)
