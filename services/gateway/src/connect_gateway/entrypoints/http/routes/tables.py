"""`/api/v1/tables`: define custom tables, read their definitions, and map a file's header to one."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from connect_events import FieldError
from connect_gateway import handlers
from connect_gateway.domain.auto_mapping import auto_map
from connect_gateway.domain.errors import Refusal, invalid
from connect_gateway.domain.paths import TABLE_PATHS
from connect_gateway.entrypoints.http import mapping
from connect_gateway.entrypoints.http.auth import ActorDep
from connect_gateway.entrypoints.http.dependencies import DepsDep
from connect_gateway.entrypoints.http.fields import Identifier
from connect_gateway.entrypoints.http.hosted import get_hosted, tree_errors
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
    SuggestedMappingOut,
    TableCreatedOut,
    TableIn,
    TableOut,
)
from connect_gateway.files.header import HeaderError, read_header

router = APIRouter(prefix="/api/v1/tables", tags=["tables"], responses=COMMON_RESPONSES)
TableName = Annotated[Identifier, Path(description="The table's name")]
EITHER = "give either header or hosted_path"


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
    header = await _header(body, request)
    found = auto_map(header, [column.name for column in record.spec.columns])
    return AutoMappingOut(
        mapping=[SuggestedMappingOut(source=source, target=target) for source, target in found.mapping],
        unmatched_sources=list(found.unmatched_sources),
        unmapped_columns=list(found.unmapped_columns),
    )


async def _header(body: AutoMappingIn, request: Request) -> list[str]:
    """The header names the request gives, or those of its hosted file."""
    header, path = body.header, body.hosted_path
    if (header is None) == (path is None):
        errors = [FieldError(field=f, message=EITHER) for f in ("header", "hosted_path")]
        raise Refusal("validation_failed", EITHER, errors)
    if path is None:
        if "file" in body.model_fields_set:
            raise invalid("file", "describes a hosted file: give it with hosted_path only")
        return header or []
    if not body.file.header:
        raise invalid("file.header", "must be true: auto-mapping matches the names of the header line")
    root = get_hosted(request).root
    with tree_errors("hosted_path"):
        try:
            return await asyncio.to_thread(read_header, root, path, mapping.csv_settings(body.file))
        except HeaderError as exc:
            raise invalid("hosted_path", str(exc)) from None
