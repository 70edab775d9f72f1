"""`/api/v1/runs`: runs of jobs (the Completed jobs tab) and their execution logs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from connect_gateway.domain.errors import invalid, not_found
from connect_gateway.domain.limits import MAX_ID
from connect_gateway.domain.listing import sort_pattern
from connect_gateway.domain.runs import parse_run_key
from connect_gateway.entrypoints.http import mapping
from connect_gateway.entrypoints.http.dependencies import DepsDep
from connect_gateway.entrypoints.http.fields import IsoDateTime, RunKey, SearchText
from connect_gateway.entrypoints.http.outcomes import COMMON_RESPONSES
from connect_gateway.entrypoints.http.paging import PAGED, CursorParam, Limit, page_out, sorted_start
from connect_gateway.entrypoints.http.schemas import ErrorBody, RunLogOut, RunOut, RunStatusName
from connect_gateway.read_models import RUN_IDS, RUN_SORTS, RunQuery

router = APIRouter(prefix="/api/v1/runs", tags=["runs"], responses=COMMON_RESPONSES)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "No such run"}}
RunPath = Annotated[RunKey, Path(description="`JobID.RunID`, e.g. 1042.7")]
RunSort = Annotated[
    str,
    Query(
        pattern=sort_pattern(RUN_SORTS),
        description="A column of the list, `-` first for descending; `JobID.RunID` breaks ties",
    ),
]


@router.get("", responses=PAGED)
async def list_runs(
    request: Request,
    response: Response,
    deps: DepsDep,
    job_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: RunStatusName | None = None,
    q: Annotated[SearchText | None, Query(description="Part of the job's name, any case")] = None,
    since: Annotated[IsoDateTime | None, Query(description="Requested at or after, e.g. 2027-01-31T00:00:00Z")] = None,
    until: Annotated[IsoDateTime | None, Query(description="Requested before")] = None,
    sort: RunSort = "-requested_at",
    limit: Limit = 100,
    cursor: CursorParam = None,
) -> list[RunOut]:
    """The Completed jobs tab: runs, newest first unless sorted otherwise, filtered by job, status, name and
    the time they were requested, a page at a time."""
    if since is not None and until is not None and until <= since:
        raise invalid("until", "must be later than since")
    order, after = sorted_start(sort, cursor, RUN_SORTS, RUN_IDS)
    query = RunQuery(
        job_id=job_id, status=status, q=q or None, since=since, until=until, sort=order, after=after, limit=limit
    )
    return page_out(request, response, await deps.reads.list_runs(query), mapping.run_out)


@router.get("/{run}", responses=NOT_FOUND)
async def get_run(run: RunPath, deps: DepsDep) -> RunOut:
    """One run, named `JobID.RunID` (e.g. `1042.7`)."""
    job_id, run_id = parse_run_key(run)
    record = await deps.reads.get_run(job_id, run_id)
    if record is None:
        raise not_found(f"run {run}", "RUN_NOT_FOUND")
    return mapping.run_out(record)


@router.get("/{run}/log", responses=NOT_FOUND)
async def get_run_log(run: RunPath, deps: DepsDep) -> RunLogOut:
    """A run's execution log, oldest entry first."""
    job_id, run_id = parse_run_key(run)
    lines = await deps.reads.run_log(job_id, run_id)
    if not lines and await deps.reads.get_run(job_id, run_id) is None:
        raise not_found(f"run {run}", "RUN_NOT_FOUND")
    return mapping.log_out(job_id, run_id, lines)
