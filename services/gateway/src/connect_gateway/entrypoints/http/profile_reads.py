"""What the list and PET routes share: the answer to a definition or a column added, and the reads of their rows
in the audience database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import JSONResponse

from connect_gateway.domain.errors import Refusal
from connect_gateway.domain.limits import MAX_PREVIEW_ROWS
from connect_gateway.domain.profiles import ProfileTable
from connect_gateway.entrypoints.http import mapping
from connect_gateway.entrypoints.http.outcomes import COMMAND_RESPONSES, json_response, respond
from connect_gateway.entrypoints.http.profile_schemas import CountOut, DefinedOut, RowsOut
from connect_gateway.entrypoints.http.schemas import ErrorBody
from connect_gateway.handlers import Outcome
from connect_gateway.ports import Deps, ProfileRows

PreviewLimit = Annotated[int, Query(ge=1, le=MAX_PREVIEW_ROWS, description="How many rows, at most 100")]
DEFINED: dict[int | str, dict[str, Any]] = {201: {"model": DefinedOut, "description": "Defined"}, **COMMAND_RESPONSES}
COLUMN_ADDED: dict[int | str, dict[str, Any]] = {
    200: {"model": DefinedOut, "description": "Added (existing rows hold null in it)"},
    **COMMAND_RESPONSES,
}
READ_RESPONSES: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "Not defined"}}


def defined(
    outcome: Outcome, renames: tuple[tuple[str, str], ...], url: Callable[[str], str], status: int
) -> JSONResponse:
    """The list or PET an accepted command defined or extended (named as the scheduler has it), or the refusal."""

    def accepted(target_id: str, version: int) -> JSONResponse:
        where = url(target_id)
        body = DefinedOut(name=target_id, version=version, url=where)
        return json_response(body, status, where if status == 201 else None)

    return respond(outcome, renames, lambda a: accepted(a.target_id, a.target_version))


def _rows_store(deps: Deps) -> ProfileRows:
    if deps.profiles is None:
        raise Refusal("unavailable", "the rows of lists and PETs cannot be read here")
    return deps.profiles


async def preview(deps: Deps, kind: ProfileTable, name: str, limit: int) -> RowsOut:
    """The first `limit` rows of the list or PET `name` (as defined) by `RIID_`."""
    return mapping.rows_out(name, await _rows_store(deps).preview(kind, name, limit))


async def count(deps: Deps, kind: ProfileTable, name: str) -> CountOut:
    """How many rows the list or PET `name` (as defined) holds."""
    return CountOut(name=name, count=await _rows_store(deps).count(kind, name))
