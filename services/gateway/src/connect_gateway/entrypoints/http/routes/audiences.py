"""`/api/v1/audiences`: define, replace and delete audiences (saved filters over a list and its PETs, spec §1);
read them, their first rows and counts; try an unsaved one before saving it."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from connect_events import AudienceSpec, ColumnRef, Condition, ConditionGroup, ListSpec, PetSpec
from connect_gateway import handlers
from connect_gateway.domain.errors import Refusal
from connect_gateway.domain.paths import AUDIENCE_PATHS
from connect_gateway.entrypoints.http import mapping
from connect_gateway.entrypoints.http.audience_schemas import (
    AudienceColumnIn,
    AudienceFieldsIn,
    AudienceIn,
    AudienceOut,
    AudienceRowsOut,
    ConditionIn,
    GroupIn,
)
from connect_gateway.entrypoints.http.auth import ActorDep
from connect_gateway.entrypoints.http.dependencies import DepsDep
from connect_gateway.entrypoints.http.fields import Identifier
from connect_gateway.entrypoints.http.outcomes import COMMON_RESPONSES
from connect_gateway.entrypoints.http.profile_reads import COLUMN_ADDED, DEFINED, READ_RESPONSES, PreviewLimit, defined
from connect_gateway.entrypoints.http.schemas import ErrorBody
from connect_gateway.ports import Deps, ProfileRows
from connect_gateway.read_models import AudienceRecord
from connect_runtime.audiences import AudienceInvalidError, AudienceQuery, audience_errors, compile_audience

router = APIRouter(prefix="/api/v1/audiences", tags=["audiences"], responses=COMMON_RESPONSES)
AudienceName = Annotated[Identifier, Path(description="The audience's name (any case)")]
PREVIEWED: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "The audience does not compile: each failing field named"}
}


def audience_url(name: str) -> str:
    """Where an audience is read."""
    return f"{mapping.API}/audiences/{quote(name, safe='')}"


@router.post("", status_code=201, response_model=None, responses=DEFINED)
async def define_audience(body: AudienceIn, deps: DepsDep, actor: ActorDep) -> JSONResponse:
    """Define an audience over a list (and the PETs it joins on `RIID_`). 409 `AUDIENCE_EXISTS` for a name in use
    (any case); 422 `AUDIENCE_INVALID` naming every failing field (an unknown column, an operator that does not
    fit the column's type, a value that does not read as it), `LIST_NOT_FOUND` for an unknown list."""
    outcome = await handlers.define_audience(deps, _spec(body.name, body), actor)
    return defined(outcome, AUDIENCE_PATHS, audience_url, 201)


@router.get("")
async def list_audiences(deps: DepsDep) -> list[AudienceOut]:
    """All audiences, by name."""
    return [_out(record) for record in await deps.reads.list_audiences()]


@router.post("/preview", responses=PREVIEWED)
async def preview_unsaved(body: AudienceIn, deps: DepsDep, limit: PreviewLimit = 10) -> AudienceRowsOut:
    """Try an audience before saving it: its first rows and how many it holds. Nothing is stored."""
    query = await _compiled(deps, _spec(body.name, body), saved=False)
    return await _rows(deps, body.name, query, limit)


@router.get("/{name}", responses=READ_RESPONSES)
async def get_audience(name: AudienceName, deps: DepsDep) -> AudienceOut:
    """One audience as saved."""
    return _out(await _audience(deps, name))


@router.put("/{name}", response_model=None, responses=COLUMN_ADDED)
async def update_audience(name: AudienceName, body: AudienceFieldsIn, deps: DepsDep, actor: ActorDep) -> JSONResponse:
    """Replace an audience's PETs, filter and columns (its list stays: 422 naming `list_name` for another).
    404 `AUDIENCE_NOT_FOUND`."""
    outcome = await handlers.update_audience(deps, _spec(name, body), actor)
    return defined(outcome, AUDIENCE_PATHS, audience_url, 200)


@router.delete("/{name}", response_model=None, responses=COLUMN_ADDED)
async def delete_audience(name: AudienceName, deps: DepsDep, actor: ActorDep) -> JSONResponse:
    """Delete an audience (its name may be defined again). 404 `AUDIENCE_NOT_FOUND`."""
    return defined(await handlers.delete_audience(deps, name, actor), AUDIENCE_PATHS, audience_url, 200)


@router.get("/{name}/rows", responses=READ_RESPONSES)
async def preview_audience(name: AudienceName, deps: DepsDep, limit: PreviewLimit = 10) -> AudienceRowsOut:
    """The audience's first rows by `RIID_` (its columns in order) and how many rows it holds."""
    record = await _audience(deps, name)
    query = await _compiled(deps, record.spec, saved=True)
    return await _rows(deps, record.spec.name, query, limit)


async def _audience(deps: Deps, name: str) -> AudienceRecord:
    record = await deps.reads.get_audience(name)
    if record is None:
        raise Refusal("not_found", f"audience {name} not found", reason="AUDIENCE_NOT_FOUND")
    return record


async def _compiled(deps: Deps, spec: AudienceSpec, *, saved: bool) -> AudienceQuery:
    """The audience as SQL against the list and PETs as defined now; an unsaved one that does not compile is
    refused naming each field (a saved one compiled when it was saved: lists and PETs only ever gain columns)."""
    list_record = await deps.reads.get_list(spec.list_name)
    list_spec: ListSpec | None = None if list_record is None else list_record.spec
    pets: dict[str, PetSpec] = {}
    for name in spec.pets:
        pet = await deps.reads.get_pet(name)
        if pet is not None:
            pets[name.lower()] = pet.spec
    errors = audience_errors(spec, list_spec, pets)
    if errors or list_spec is None:
        if saved:
            raise Refusal("invalid_state", f"audience {spec.name} no longer compiles against its list and PETs")
        raise Refusal(
            "validation_failed", f"the audience has {len(errors)} error(s)", errors, reason="AUDIENCE_INVALID"
        )
    try:
        return compile_audience(spec, list_spec, pets)
    except AudienceInvalidError as exc:  # audience_errors found none: never happens
        raise Refusal("validation_failed", "the audience does not compile", exc.errors) from exc


def _rows_store(deps: Deps) -> ProfileRows:
    if deps.profiles is None:
        raise Refusal("unavailable", "the rows of audiences cannot be read here")
    return deps.profiles


async def _rows(deps: Deps, name: str, query: AudienceQuery, limit: int) -> AudienceRowsOut:
    store = _rows_store(deps)
    rows = mapping.rows_out(name, await store.audience_rows(query, limit)).rows
    columns = [c.name for c in query.columns]
    return AudienceRowsOut(name=name, columns=columns, rows=rows, count=await store.audience_count(query))


def _spec(name: str, body: AudienceFieldsIn) -> AudienceSpec:
    return AudienceSpec(
        name=name,
        list_name=body.list_name,
        pets=tuple(body.pets),
        filter=None if body.filter is None else _group(body.filter),
        columns=tuple(_ref(c) for c in body.columns),
    )


def _ref(column: AudienceColumnIn | ConditionIn) -> ColumnRef:
    return ColumnRef(column=column.column, pet=column.pet)


def _group(group: GroupIn) -> ConditionGroup:
    items: list[Condition | ConditionGroup] = []
    for item in group.conditions:
        if isinstance(item, GroupIn):
            items.append(_group(item))
        else:
            items.append(Condition(column=_ref(item), operator=item.operator, values=tuple(item.values)))
    return ConditionGroup(match=group.match, conditions=tuple(items))


def _group_out(group: ConditionGroup) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for item in group.conditions:
        if isinstance(item, ConditionGroup):
            items.append(_group_out(item))
        else:
            column = {"column": item.column.column, "pet": item.column.pet}
            items.append(column | {"operator": item.operator, "values": list(item.values)})
    return {"match": group.match, "conditions": items}


def _out(record: AudienceRecord) -> AudienceOut:
    spec = record.spec
    return AudienceOut(
        name=spec.name,
        list_name=spec.list_name,
        pets=list(spec.pets),
        filter=None if spec.filter is None else _group_out(spec.filter),
        columns=[{"column": c.column, "pet": c.pet} for c in spec.columns],
        version=record.version,
        updated_at=record.updated_at,
        updated_by=record.updated_by,
        url=audience_url(spec.name),
    )
