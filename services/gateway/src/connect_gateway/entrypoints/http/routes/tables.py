"""`/api/v1/tables`: define custom tables and read their definitions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from connect_gateway import handlers
from connect_gateway.domain.errors import Refusal
from connect_gateway.domain.paths import TABLE_PATHS
from connect_gateway.entrypoints.http import mapping
from connect_gateway.entrypoints.http.auth import ActorDep
from connect_gateway.entrypoints.http.dependencies import DepsDep
from connect_gateway.entrypoints.http.fields import Identifier
from connect_gateway.entrypoints.http.outcomes import (
    COMMAND_RESPONSES,
    COMMON_RESPONSES,
    json_response,
    respond,
)
from connect_gateway.entrypoints.http.schemas import ErrorBody, TableCreatedOut, TableIn, TableOut

router = APIRouter(prefix="/api/v1/tables", tags=["tables"], responses=COMMON_RESPONSES)


@router.post(
    "",
    status_code=201,
    response_model=None,
    responses={201: {"model": TableCreatedOut, "description": "Defined"}, **COMMAND_RESPONSES},
)
async def define_table(body: TableIn, deps: DepsDep, actor: ActorDep) -> JSONResponse:
    """Define a custom table in the audience store."""
    outcome = await handlers.define_table(deps, mapping.table_spec(body), actor)
    url = mapping.table_url(body.name)
    return respond(outcome, TABLE_PATHS, lambda _: json_response(TableCreatedOut(name=body.name, url=url), 201, url))


@router.get("")
async def list_tables(deps: DepsDep) -> list[TableOut]:
    """All custom tables, by name."""
    return [mapping.table_out(t) for t in await deps.reads.list_tables()]


@router.get("/{name}", responses={404: {"model": ErrorBody}})
async def get_table(name: Annotated[Identifier, Path(description="The table's name")], deps: DepsDep) -> TableOut:
    """One table (the name is case-insensitive)."""
    record = await deps.reads.get_table(name)
    if record is None:
        raise Refusal("not_found", f"table {name} not found")
    return mapping.table_out(record)
