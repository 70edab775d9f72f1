"""`/api/v1/pets`: define profile extension tables and add columns; read their definitions, first rows and counts
(spec §1, ADR 0011)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from connect_gateway import handlers
from connect_gateway.domain.errors import Refusal
from connect_gateway.domain.paths import COLUMN_PATHS, PET_PATHS
from connect_gateway.entrypoints.http import mapping
from connect_gateway.entrypoints.http.auth import ActorDep
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
from connect_gateway.entrypoints.http.profile_schemas import CountOut, PetIn, PetOut, RowsOut
from connect_gateway.entrypoints.http.schemas import ColumnIn
from connect_gateway.ports import Deps
from connect_gateway.read_models import PetRecord

router = APIRouter(prefix="/api/v1/pets", tags=["lists"], responses=COMMON_RESPONSES)
PetName = Annotated[Identifier, Path(description="The PET's name (any case)")]


async def _pet(deps: Deps, name: str) -> PetRecord:
    record = await deps.reads.get_pet(name)
    if record is None:
        raise Refusal("not_found", f"PET {name} not found", reason="PET_NOT_FOUND")
    return record


@router.post("", status_code=201, response_model=None, responses=DEFINED)
async def define_pet(body: PetIn, deps: DepsDep, actor: ActorDep) -> JSONResponse:
    """Define a PET of the list `list_name`: `RIID_` (the list row it extends) and its own columns. 409
    `PET_EXISTS` for a name in use; 404 `LIST_NOT_FOUND` (naming `list_name`) when there is no such list."""
    outcome = await handlers.define_pet(deps, mapping.pet_spec(body), actor)
    return defined(outcome, PET_PATHS, mapping.pet_url, 201)


@router.get("")
async def list_pets(
    deps: DepsDep, list_name: Annotated[Identifier | None, Query(alias="list", description="Only this list's")] = None
) -> list[PetOut]:
    """All PETs (or one list's), by name."""
    return [mapping.pet_out(record) for record in await deps.reads.list_pets(list_name)]


@router.get("/{name}", responses=READ_RESPONSES)
async def get_pet(name: PetName, deps: DepsDep) -> PetOut:
    """One PET: `RIID_`, then its own columns, and its list."""
    return mapping.pet_out(await _pet(deps, name))


@router.post("/{name}/columns", response_model=None, responses=COLUMN_ADDED)
async def add_pet_column(name: PetName, body: ColumnIn, deps: DepsDep, actor: ActorDep) -> JSONResponse:
    """Add a column (nullable: existing rows hold null in it). 404 `PET_NOT_FOUND`, 409 `COLUMN_EXISTS`."""
    outcome = await handlers.add_pet_column(deps, name, mapping.column_spec(body), actor)
    return defined(outcome, COLUMN_PATHS, mapping.pet_url, 200)


@router.get("/{name}/rows", responses=READ_RESPONSES)
async def preview_pet(name: PetName, deps: DepsDep, limit: PreviewLimit = 10) -> RowsOut:
    """The PET's first rows by `RIID_`, every column."""
    record = await _pet(deps, name)
    return await preview(deps, "pet", record.spec.name, limit)


@router.get("/{name}/count", responses=READ_RESPONSES)
async def count_pet(name: PetName, deps: DepsDep) -> CountOut:
    """How many rows the PET holds."""
    record = await _pet(deps, name)
    return await count(deps, "pet", record.spec.name)
