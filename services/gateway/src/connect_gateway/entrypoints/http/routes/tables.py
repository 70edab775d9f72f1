"""`/api/v1/tables`: define custom tables, read their definitions, and map a file's header to one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from connect_gateway import handlers
from connect_gateway.domain.errors import Refusal
from connect_gateway.domain.paths import TABLE_PATHS
from connect_gateway.entrypoints.http import mapping
from connect_gateway.entrypoints.http.auth import ActorDep
from connect_gateway.entrypoints.http.auto_mapping import suggest
from connect_gateway.entrypoints.http.dependencies import DepsDep
from connect_gateway.entrypoints.http.fields import Identifier
from connect_gateway.entrypoints.http.outcomes import (
    COMMAND_RESPONSES,
    COMMON_RESPONSES,
    json_response,
    respond,
)
from connect_gateway.entrypoints.http.schemas import (
    AutoMappingIn,
    AutoMappingOut,
    ErrorBody,
    TableCreatedOut,
    TableIn,
    TableOut,
)

router = APIRouter(prefix="/api/v1/tables", tags=["tables"], responses=COMMON_RESPONSES)
TableName = Annotated[Identifier, Path(description="The table's name")]


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
async def get_table(name: TableName, deps: DepsDep) -> TableOut:
    """One table (the name is case-insensitive)."""
    record = await deps.reads.get_table(name)
    if record is None:
        raise Refusal("not_found", f"table {name} not found")
    return mapping.table_out(record)


@router.post(
    "/{name}/auto-mapping",
    responses={
        404: {"model": ErrorBody, "description": "No such table, or no such file"},
        409: {"model": ErrorBody, "description": "`hosted_path` is a folder"},
    },
)
async def auto_mapping(name: TableName, body: AutoMappingIn, request: Request, deps: DepsDep) -> AutoMappingOut:
    """Map a file's header names to the table's columns by name (case-insensitive), for a job's `mapping`.

    Nothing is stored. A hosted file's header line must be readable with `file` (422 naming `hosted_path`).
    """
    record = await deps.reads.get_table(name)
    if record is None:
        raise Refusal("not_found", f"table {name} not found")
    return await suggest(body, request, [column.name for column in record.spec.columns])
