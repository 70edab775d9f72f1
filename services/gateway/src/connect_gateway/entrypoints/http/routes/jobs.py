"""`/api/v1/jobs`: create, edit, activate, deactivate, delete and run jobs; list and read them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import JSONResponse

from connect_events import run_key
from connect_gateway import handlers
from connect_gateway.domain.errors import Refusal
from connect_gateway.domain.limits import MAX_ID, MAX_INT
from connect_gateway.domain.paths import JOB_PATHS
from connect_gateway.entrypoints.http import mapping
from connect_gateway.entrypoints.http.auth import ActorDep
from connect_gateway.entrypoints.http.dependencies import DepsDep
from connect_gateway.entrypoints.http.fields import IdempotencyKey, SearchText
from connect_gateway.entrypoints.http.outcomes import (
    COMMAND_RESPONSES,
    COMMON_RESPONSES,
    json_response,
    respond,
)
from connect_gateway.entrypoints.http.schemas import (
    ErrorBody,
    JobIn,
    JobOut,
    JobStateName,
    JobSummaryOut,
    JobUpdateIn,
    JobWrittenOut,
    RunNowOut,
    RunStartedOut,
)
from connect_gateway.handlers import Accepted, Outcome
from connect_gateway.read_models import JobQuery

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"], responses=COMMON_RESPONSES)

JobId = Annotated[int, Path(ge=1, le=MAX_ID, description="The job's numeric Job ID")]
ExpectedVersion = Annotated[
    int | None, Query(ge=1, le=MAX_INT, description="Refuse (409) unless this is the job's current version")
]
WRITTEN = {200: {"model": JobWrittenOut, "description": "Done"}, **COMMAND_RESPONSES}


def _written(outcome: Outcome, status: int = 200, job_id: int | None = None) -> JSONResponse:
    def accepted(a: Accepted) -> JSONResponse:
        jid = job_id if job_id is not None else int(a.target_id)
        url = mapping.job_url(jid)
        body = JobWrittenOut(job_id=jid, version=a.target_version, url=url)
        return json_response(body, status, url if status == 201 else None)

    return respond(outcome, JOB_PATHS, accepted)


@router.post(
    "",
    status_code=201,
    response_model=None,
    responses={201: {"model": JobWrittenOut, "description": "Created"}, **COMMAND_RESPONSES},
)
async def create_job(body: JobIn, deps: DepsDep, actor: ActorDep) -> JSONResponse:
    """Create a job; the SFTP host key is pinned and the secret stored in the vault, never returned."""
    outcome = await handlers.create_job(deps, mapping.job_draft(body), body.activate, actor)
    return _written(outcome, 201)


@router.get("")
async def list_jobs(
    deps: DepsDep,
    state: JobStateName | None = None,
    q: Annotated[SearchText | None, Query(description="Part of the name")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> list[JobSummaryOut]:
    """Jobs (not deleted) by Job ID."""
    query = JobQuery(state=state, q=q or None, limit=limit, offset=offset)
    return [mapping.job_summary_out(j) for j in await deps.reads.list_jobs(query)]


@router.get("/{job_id}", responses={404: {"model": ErrorBody}})
async def get_job(job_id: JobId, deps: DepsDep) -> JobOut:
    """A job's definition (without secrets) and its `version`."""
    record = await deps.reads.get_job(job_id)
    if record is None:
        raise Refusal("not_found", f"job {job_id} not found")
    return mapping.job_out(record)


@router.put("/{job_id}", response_model=None, responses=WRITTEN)
async def update_job(job_id: JobId, body: JobUpdateIn, deps: DepsDep, actor: ActorDep) -> JSONResponse:
    """Replace a job's definition; omit `private_key`/`password` to keep the stored secret.

    The secret must be given again when host, port or user changes. Keeping the stored secret or host key
    needs the read model at `expected_version`: 409 `conflict` while it still catches up (retry).
    """
    draft = mapping.job_draft(body)
    outcome = await handlers.update_job(deps, job_id, body.expected_version, draft, actor)
    return _written(outcome, job_id=job_id)


@router.post("/{job_id}/activate", response_model=None, responses=WRITTEN)
async def activate_job(
    job_id: JobId, deps: DepsDep, actor: ActorDep, expected_version: ExpectedVersion = None
) -> JSONResponse:
    """Activate a job (it needs a definition without errors)."""
    return _written(await handlers.activate_job(deps, job_id, expected_version, actor), job_id=job_id)


@router.post("/{job_id}/deactivate", response_model=None, responses=WRITTEN)
async def deactivate_job(
    job_id: JobId, deps: DepsDep, actor: ActorDep, expected_version: ExpectedVersion = None
) -> JSONResponse:
    """Deactivate a job: it never fires and cannot be run."""
    return _written(await handlers.deactivate_job(deps, job_id, expected_version, actor), job_id=job_id)


@router.delete("/{job_id}", response_model=None, responses=WRITTEN)
async def delete_job(
    job_id: JobId, deps: DepsDep, actor: ActorDep, expected_version: ExpectedVersion = None
) -> JSONResponse:
    """Delete a job; its loaded data and run history stay."""
    return _written(await handlers.delete_job(deps, job_id, expected_version, actor), job_id=job_id)


@router.post(
    "/{job_id}/run",
    status_code=202,
    response_model=None,
    responses={
        **COMMAND_RESPONSES,
        202: {"model": RunNowOut, "description": "Run requested, or pending when not decided in time"},
    },
)
async def run_job(
    job_id: JobId,
    deps: DepsDep,
    actor: ActorDep,
    idempotency_key: Annotated[
        IdempotencyKey | None, Header(description="A retried request with this key starts no second run")
    ] = None,
) -> JSONResponse:
    """Run a job now, regardless of its schedule."""
    outcome = await handlers.run_job_now(deps, job_id, idempotency_key, actor)

    def started(a: Accepted) -> JSONResponse:
        if a.run_id is None:
            raise Refusal("internal", "the run was accepted without a run id")
        url = mapping.run_url(job_id, a.run_id)
        body = RunStartedOut(job_id=job_id, run_id=a.run_id, run=run_key(job_id, a.run_id), status_url=url)
        return json_response(body, 202, url)

    return respond(outcome, JOB_PATHS, started)
