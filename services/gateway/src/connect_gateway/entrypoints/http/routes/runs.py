"""`/api/v1/runs`: runs of jobs, newest first, and their execution logs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from connect_gateway.domain.errors import Refusal
from connect_gateway.domain.limits import MAX_ID
from connect_gateway.domain.runs import parse_run_key
from connect_gateway.entrypoints.http import mapping
from connect_gateway.entrypoints.http.dependencies import DepsDep
from connect_gateway.entrypoints.http.fields import RunKey
from connect_gateway.entrypoints.http.outcomes import COMMON_RESPONSES
from connect_gateway.entrypoints.http.schemas import ErrorBody, RunLogOut, RunOut, RunStatusName
from connect_gateway.read_models import RunQuery

router = APIRouter(prefix="/api/v1/runs", tags=["runs"], responses=COMMON_RESPONSES)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "No such run"}}
RunPath = Annotated[RunKey, Path(description="`JobID.RunID`, e.g. 1042.7")]


@router.get("")
async def list_runs(
    deps: DepsDep,
    job_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: RunStatusName | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> list[RunOut]:
    """Runs, newest first."""
    query = RunQuery(job_id=job_id, status=status, limit=limit, offset=offset)
    return [mapping.run_out(r) for r in await deps.reads.list_runs(query)]


@router.get("/{run}", responses=NOT_FOUND)
async def get_run(run: RunPath, deps: DepsDep) -> RunOut:
    """One run, named `JobID.RunID` (e.g. `1042.7`)."""
    job_id, run_id = parse_run_key(run)
    record = await deps.reads.get_run(job_id, run_id)
    if record is None:
        raise Refusal("not_found", f"run {run} not found")
    return mapping.run_out(record)


@router.get("/{run}/log", responses=NOT_FOUND)
async def get_run_log(run: RunPath, deps: DepsDep) -> RunLogOut:
    """A run's execution log, oldest entry first."""
    job_id, run_id = parse_run_key(run)
    lines = await deps.reads.run_log(job_id, run_id)
    if not lines and await deps.reads.get_run(job_id, run_id) is None:
        raise Refusal("not_found", f"run {run} not found")
    return mapping.log_out(job_id, run_id, lines)
