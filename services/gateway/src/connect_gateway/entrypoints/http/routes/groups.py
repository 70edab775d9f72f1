"""`/api/v1/groups`: create, edit, delete, run and stop groups; the Group jobs tab, one group, its group runs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from connect_events import group_run_key
from connect_gateway import handlers
from connect_gateway.domain.errors import Refusal, not_found
from connect_gateway.domain.limits import MAX_ID, MAX_INT
from connect_gateway.domain.listing import sort_pattern
from connect_gateway.entrypoints.http import mapping
from connect_gateway.entrypoints.http.auth import ActorDep, PrincipalDep
from connect_gateway.entrypoints.http.dependencies import DepsDep
from connect_gateway.entrypoints.http.fields import IdempotencyKey
from connect_gateway.entrypoints.http.outcomes import COMMAND_RESPONSES, COMMON_RESPONSES, json_response, respond
from connect_gateway.entrypoints.http.paging import (
    PAGED,
    CursorParam,
    Limit,
    NameFilter,
    ScheduleTypeFilter,
    page_out,
    position_of,
    sorted_start,
)
from connect_gateway.entrypoints.http.schemas import (
    ErrorBody,
    GroupIn,
    GroupOut,
    GroupRunDetailOut,
    GroupRunNowOut,
    GroupRunOut,
    GroupRunStartedOut,
    GroupSummaryOut,
    GroupUpdateIn,
    GroupWrittenOut,
    PendingOut,
    RunStatusName,
)
from connect_gateway.handlers import Accepted, Outcome
from connect_gateway.read_models import (
    GROUP_IDS,
    GROUP_RUN_SORT,
    GROUP_RUN_SORTS,
    GROUP_SORTS,
    GroupQuery,
    GroupRunQuery,
)

router = APIRouter(prefix="/api/v1/groups", tags=["groups"], responses=COMMON_RESPONSES)

# The scheduler names a group's fields as the request does (`members[1]`, `schedule.time`): nothing to rename.
GROUP_PATHS: tuple[tuple[str, str], ...] = ()
GroupId = Annotated[int, Path(ge=1, le=MAX_ID, description="The group's numeric Group ID")]
RunId = Annotated[
    int, Path(ge=1, le=MAX_INT, description="The group run's RunID (the part after the dot of `GroupID.RunID`)")
]
ExpectedVersion = Annotated[
    int | None, Query(ge=1, le=MAX_INT, description="Refuse (409 STALE_VERSION) unless this is the current version")
]
_ERROR = {"model": ErrorBody}
GROUP_COMMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    **COMMAND_RESPONSES,
    404: {**_ERROR, "description": "No such group or group run (`reason` GROUP_NOT_FOUND, RUN_NOT_FOUND)"},
    409: {
        **_ERROR,
        "description": "Conflict or invalid state; `reason` says which, e.g. STALE_VERSION, GROUP_RUNNING, "
        "RUN_NOT_RUNNING, EXPIRED, GROUP_MEMBER_INACTIVE, GROUP_MEMBER_NOT_ON_DEMAND, GROUP_MEMBER_IN_OTHER_GROUP",
    },
    422: {
        **_ERROR,
        "description": "Invalid fields, each named (`members[1]`); `reason` e.g. GROUP_TOO_SMALL, "
        "GROUP_MEMBER_NOT_FOUND, GROUP_MEMBER_REPEATED, NAME_TAKEN, INVALID_VALUE",
    },
}
WRITTEN = {200: {"model": GroupWrittenOut, "description": "Done"}, **GROUP_COMMAND_RESPONSES}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {**_ERROR, "description": "No such group or group run"}}
GroupSort = Annotated[
    str,
    Query(
        pattern=sort_pattern(GROUP_SORTS),
        description="A column of the list, `-` first for descending; the Group ID breaks ties",
    ),
]


def _written(outcome: Outcome, status: int = 200, group_id: int | None = None) -> JSONResponse:
    """The group the command wrote (201 with its `Location` when created)."""

    def accepted(a: Accepted) -> JSONResponse:
        gid = group_id if group_id is not None else int(a.target_id)
        url = mapping.group_url(gid)
        body = GroupWrittenOut(group_id=gid, version=a.target_version, url=url)
        return json_response(body, status, url if status == 201 else None)

    return respond(outcome, GROUP_PATHS, accepted)


def _group_run(group_id: int, run_id: int | None) -> JSONResponse:
    """202 naming the group run the command requested or asked to stop."""
    if run_id is None:
        raise Refusal("internal", "the group run was accepted without a run id")
    url = mapping.group_run_url(group_id, run_id)
    body = GroupRunStartedOut(group_id=group_id, run_id=run_id, run=group_run_key(group_id, run_id), status_url=url)
    return json_response(body, 202, url)


@router.post(
    "",
    status_code=201,
    response_model=None,
    responses={201: {"model": GroupWrittenOut, "description": "Created"}, **GROUP_COMMAND_RESPONSES},
)
async def create_group(body: GroupIn, deps: DepsDep, actor: ActorDep) -> JSONResponse:
    """Create a group of at least two active, on-demand, non-partner jobs, run in the order given.

    A group that breaks a rule is refused with every error at once, each naming its field (`members[1]`).
    """
    return _written(await handlers.create_group(deps, mapping.group_definition(body), actor), 201)


@router.get("", responses=PAGED)
async def list_groups(
    request: Request,
    response: Response,
    deps: DepsDep,
    schedule_type: ScheduleTypeFilter = None,
    q: NameFilter = None,
    sort: GroupSort = "group_id",
    limit: Limit = 100,
    cursor: CursorParam = None,
) -> list[GroupSummaryOut]:
    """The Group jobs tab: groups (not deleted), sorted, filtered and searched, a page at a time."""
    order, after = sorted_start(sort, cursor, GROUP_SORTS, GROUP_IDS)
    query = GroupQuery(q=q or None, schedule_type=schedule_type, sort=order, after=after, limit=limit)
    return page_out(request, response, await deps.reads.list_groups(query), mapping.group_summary_out)


@router.get("/{group_id}", responses=NOT_FOUND)
async def get_group(group_id: GroupId, deps: DepsDep, principal: PrincipalDep) -> GroupOut:
    """A group with its members in running order, its `version`, schedule and notifications (the webhook URL
    whole only for data directors and admins)."""
    record = await deps.reads.get_group(group_id)
    if record is None:
        raise not_found(f"group {group_id}", "GROUP_NOT_FOUND")
    return mapping.group_out(record, principal.role)


@router.put("/{group_id}", response_model=None, responses=WRITTEN)
async def update_group(group_id: GroupId, body: GroupUpdateIn, deps: DepsDep, actor: ActorDep) -> JSONResponse:
    """Replace a group's definition (its members in their new order); a group run in progress keeps the
    members it started with. 409 `STALE_VERSION` unless `expected_version` is the current one."""
    definition = mapping.group_definition(body)
    outcome = await handlers.update_group(deps, group_id, body.expected_version, definition, actor)
    return _written(outcome, group_id=group_id)


@router.delete("/{group_id}", response_model=None, responses=WRITTEN)
async def delete_group(
    group_id: GroupId, deps: DepsDep, actor: ActorDep, expected_version: ExpectedVersion = None
) -> JSONResponse:
    """Delete a group; its jobs stay (and may join another group), a group run in progress goes on."""
    return _written(await handlers.delete_group(deps, group_id, expected_version, actor), group_id=group_id)


@router.post(
    "/{group_id}/run",
    status_code=202,
    response_model=None,
    responses={
        **GROUP_COMMAND_RESPONSES,
        202: {"model": GroupRunNowOut, "description": "Group run requested, or pending when not decided in time"},
    },
)
async def run_group(
    group_id: GroupId,
    deps: DepsDep,
    actor: ActorDep,
    idempotency_key: Annotated[
        IdempotencyKey | None, Header(description="A retried request with this key starts no second group run")
    ] = None,
) -> JSONResponse:
    """Run a group now: its members run one at a time in order, the next only after the previous succeeded.
    409 `GROUP_RUNNING` while a group run is in progress."""
    outcome = await handlers.run_group_now(deps, group_id, idempotency_key, actor)
    return respond(outcome, GROUP_PATHS, lambda a: _group_run(group_id, a.run_id))


@router.post(
    "/{group_id}/runs/{run_id}/stop",
    status_code=202,
    response_model=None,
    responses={
        **GROUP_COMMAND_RESPONSES,
        202: {"model": GroupRunStartedOut | PendingOut, "description": "Stop requested, or pending"},
    },
)
async def stop_group_run(group_id: GroupId, run_id: RunId, deps: DepsDep, actor: ActorDep) -> JSONResponse:
    """Ask a group run in progress to stop: its running member is stopped and the rest never start; it ends
    *Stopped*. 409 `RUN_NOT_RUNNING` for a group run that has ended."""
    outcome = await handlers.stop_group_run(deps, group_id, run_id, actor)
    return respond(outcome, GROUP_PATHS, lambda _a: _group_run(group_id, run_id))


@router.get("/{group_id}/runs", responses={**PAGED, **NOT_FOUND})
async def list_group_runs(
    request: Request,
    response: Response,
    group_id: GroupId,
    deps: DepsDep,
    status: RunStatusName | None = None,
    limit: Limit = 100,
    cursor: CursorParam = None,
) -> list[GroupRunOut]:
    """A group's runs, newest first (also after the group was deleted), a page at a time."""
    query = GroupRunQuery(
        status=status, after=position_of(cursor, GROUP_RUN_SORT, GROUP_RUN_SORTS, ids=()), limit=limit
    )
    page = await deps.reads.list_group_runs(group_id, query)
    if page is None:
        raise not_found(f"group {group_id}", "GROUP_NOT_FOUND")
    return page_out(request, response, page, mapping.group_run_out)


@router.get("/{group_id}/runs/{run_id}", responses=NOT_FOUND)
async def get_group_run(group_id: GroupId, run_id: RunId, deps: DepsDep) -> GroupRunDetailOut:
    """One group run, `GroupID.RunID`: its members in running order with their runs, and its log."""
    record = await deps.reads.get_group_run(group_id, run_id)
    if record is None:
        raise not_found(f"group run {group_run_key(group_id, run_id)}", "RUN_NOT_FOUND")
    return mapping.group_run_detail_out(record, await deps.reads.group_run_log(group_id, run_id))
