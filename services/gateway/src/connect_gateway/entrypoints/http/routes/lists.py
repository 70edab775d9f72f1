"""`/api/v1/lists`: define profile lists and add custom columns; read their definitions, first rows and counts,
and map a file's header to one (spec §1, ADR 0011)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from connect_gateway import handlers
from connect_gateway.domain.errors import Refusal
from connect_gateway.domain.paths import COLUMN_PATHS, LIST_PATHS
from connect_gateway.domain.profiles import mappable_columns
from connect_gateway.entrypoints.http import mapping
from connect_gateway.entrypoints.http.auth import ActorDep
from connect_gateway.entrypoints.http.auto_mapping import suggest
from connect_gateway.entrypoints.http.dependencies import DepsDep
from connect_gateway.entrypoints.http.fields import Identifier
from connect_gateway.entrypoints.http.outcomes import COMMON_RESPONSES
from connect_gateway.entrypoints.http.profile_reads import (
    COLUMN_ADDED,
    DEFINED,
    READ_RESPONSES,
    PreviewLimit,
    count,
    defined,
    preview,
)
from connect_gateway.entrypoints.http.profile_schemas import CountOut, ListIn, ListOut, RowsOut
from connect_gateway.entrypoints.http.schemas import AutoMappingIn, AutoMappingOut, ColumnIn, ErrorBody
from connect_gateway.ports import Deps
from connect_gateway.read_models import ListRecord

router = APIRouter(prefix="/api/v1/lists", tags=["lists"], responses=COMMON_RESPONSES)
ListName = Annotated[Identifier, Path(description="The list's name (any case)")]


async def _list(deps: Deps, name: str) -> ListRecord:
    record = await deps.reads.get_list(name)
    if record is None:
        raise Refusal("not_found", f"list {name} not found", reason="LIST_NOT_FOUND")
    return record


@router.post("", status_code=201, response_model=None, responses=DEFINED)
async def define_list(body: ListIn, deps: DepsDep, actor: ActorDep) -> JSONResponse:
    """Define a profile list: the system columns every list has (`RIID_`, `EMAIL_ADDRESS_`, …) and its custom
    columns. 409 `LIST_EXISTS` for a name in use (any case)."""
    outcome = await handlers.define_list(deps, mapping.list_spec(body), actor)
    return defined(outcome, LIST_PATHS, mapping.list_url, 201)


@router.get("")
async def list_lists(deps: DepsDep) -> list[ListOut]:
    """All profile lists, by name, with their PETs."""
    pets = await deps.reads.list_pets(None)
    return [
        mapping.list_out(record, [p for p in pets if p.spec.list_name.lower() == record.spec.name.lower()])
        for record in await deps.reads.list_lists()
    ]


@router.get("/{name}", responses=READ_RESPONSES)
async def get_list(name: ListName, deps: DepsDep) -> ListOut:
    """One list: every column (system ones first, each with its `kind`) and its PETs."""
    record = await _list(deps, name)
    return mapping.list_out(record, await deps.reads.list_pets(record.spec.name))


@router.post("/{name}/columns", response_model=None, responses=COLUMN_ADDED)
async def add_list_column(name: ListName, body: ColumnIn, deps: DepsDep, actor: ActorDep) -> JSONResponse:
    """Add a custom column (nullable: existing rows hold null in it). 404 `LIST_NOT_FOUND`, 409 `COLUMN_EXISTS`."""
    outcome = await handlers.add_list_column(deps, name, mapping.column_spec(body), actor)
    return defined(outcome, COLUMN_PATHS, mapping.list_url, 200)


@router.get("/{name}/rows", responses=READ_RESPONSES)
async def preview_list(name: ListName, deps: DepsDep, limit: PreviewLimit = 10) -> RowsOut:
    """The list's first rows by `RIID_`, every column."""
    record = await _list(deps, name)
    return await preview(deps, "list", record.spec.name, limit)


@router.get("/{name}/count", responses=READ_RESPONSES)
async def count_list(name: ListName, deps: DepsDep) -> CountOut:
    """How many rows the list holds."""
    record = await _list(deps, name)
    return await count(deps, "list", record.spec.name)


@router.post(
    "/{name}/auto-mapping",
    responses={
        404: {"model": ErrorBody, "description": "No such list, or no such file"},
        409: {"model": ErrorBody, "description": "`hosted_path` is a folder"},
    },
)
async def auto_mapping(name: ListName, body: AutoMappingIn, request: Request, deps: DepsDep) -> AutoMappingOut:
    """Map a file's header names to the list's columns by name (case-insensitive), for a profile job's `mapping`:
    the columns a file fills or matches on (not the derived ones, not the dates; PET columns are not included).
    Nothing is stored."""
    record = await _list(deps, name)
    return await suggest(body, request, mappable_columns(record.spec))
