"""`/api/v1/jobs`: create, edit, copy, activate, deactivate, delete, run and stop jobs; list them, read one and
its history."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from connect_events import FieldError, run_key
from connect_gateway import handlers
from connect_gateway.domain.errors import REJECTION, Refusal, not_found
from connect_gateway.domain.limits import MAX_ID, MAX_INT
from connect_gateway.domain.listing import sort_pattern
from connect_gateway.domain.paths import JOB_PATHS, to_request_errors
from connect_gateway.entrypoints.http import mapping
from connect_gateway.entrypoints.http.auth import ActorDep, PrincipalDep
from connect_gateway.entrypoints.http.dependencies import DepsDep
from connect_gateway.entrypoints.http.export_schemas import (
    ApiExportJobIn,
    ApiExportJobOut,
    ApiExportJobUpdateIn,
    ExportJobFields,
    ExportJobIn,
    ExportJobOut,
    ExportJobUpdateIn,
)
from connect_gateway.entrypoints.http.feed_schemas import FeedJobIn, FeedJobOut, FeedJobUpdateIn
from connect_gateway.entrypoints.http.fields import IdempotencyKey
from connect_gateway.entrypoints.http.outcomes import (
    COMMAND_RESPONSES,
    COMMON_RESPONSES,
    json_response,
    respond,
)
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
from connect_gateway.entrypoints.http.profile_schemas import ProfileJobIn, ProfileJobOut, ProfileJobUpdateIn
from connect_gateway.entrypoints.http.schemas import (
    CopyIn,
    DeleteJobsIn,
    DeleteJobsOut,
    DeleteResultOut,
    ErrorBody,
    ErrorItem,
    HistoryEntryOut,
    JobIn,
    JobOut,
    JobStateName,
    JobSummaryOut,
    JobUpdateIn,
    JobWrittenOut,
    PendingOut,
    ResultErrorOut,
    RunNowOut,
    RunStartedOut,
    StopRequestedOut,
)
from connect_gateway.handlers import Accepted, Outcome, Pending, Rejected
from connect_gateway.read_models import HISTORY_SORT, HISTORY_SORTS, JOB_IDS, JOB_SORTS, HistoryQuery, JobQuery

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"], responses=COMMON_RESPONSES)

JobId = Annotated[int, Path(ge=1, le=MAX_ID, description="The job's numeric Job ID")]
RunId = Annotated[int, Path(ge=1, le=MAX_INT, description="The run's RunID (the part after the dot of `JobID.RunID`)")]
ExpectedVersion = Annotated[
    int | None, Query(ge=1, le=MAX_INT, description="Refuse (409) unless this is the job's current version")
]
IdempotencyHeader = Annotated[
    IdempotencyKey | None, Header(description="A retried request with this key starts no second run")
]
# A job's body by its `type`: an *import custom table*, an *import profile data*, an *export*, an *export to
# marketing API* or an *import analytics feed* job.
NewJob = Annotated[JobIn | ProfileJobIn | ExportJobIn | ApiExportJobIn | FeedJobIn, Body(discriminator="type")]
EditedJob = Annotated[
    JobUpdateIn | ProfileJobUpdateIn | ExportJobUpdateIn | ApiExportJobUpdateIn | FeedJobUpdateIn,
    Body(discriminator="type"),
]
WRITTEN = {200: {"model": JobWrittenOut, "description": "Done"}, **COMMAND_RESPONSES}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "No such job"}}
JobSort = Annotated[
    str,
    Query(
        pattern=sort_pattern(JOB_SORTS),
        description="A column of the list, `-` first for descending; the Job ID breaks ties",
    ),
]


def _written(
    outcome: Outcome,
    status: int = 200,
    job_id: int | None = None,
    state: JobStateName | None = None,
    *,
    deleted: bool = False,
) -> JSONResponse:
    """The job the command wrote, in the state the scheduler says it is in after the command (`state` when the
    reply does not say: one saved with errors is an inactive draft whatever was asked); a deleted job has none."""

    def accepted(a: Accepted) -> JSONResponse:
        jid = job_id if job_id is not None else int(a.target_id)
        url = mapping.job_url(jid)
        errors = [ErrorItem(field=e.field, message=e.message) for e in to_request_errors(a.errors, JOB_PATHS)]
        after = None if deleted else a.state or ("inactive" if errors else state)
        body = JobWrittenOut(job_id=jid, version=a.target_version, url=url, state=after, errors=errors)
        return json_response(body, status, url if status == 201 else None)

    return respond(outcome, JOB_PATHS, accepted)


def _run(job_id: int, run_id: int | None, out: type[RunStartedOut | StopRequestedOut]) -> JSONResponse:
    """202 naming the run the command requested or asked to stop."""
    if run_id is None:
        raise Refusal("internal", "the run was accepted without a run id")
    url = mapping.run_url(job_id, run_id)
    return json_response(out(job_id=job_id, run_id=run_id, run=run_key(job_id, run_id), status_url=url), 202, url)


@router.post(
    "",
    status_code=201,
    response_model=None,
    responses={
        201: {"model": JobWrittenOut, "description": "Created (a draft when it has `errors`)"},
        **COMMAND_RESPONSES,
    },
)
async def create_job(body: NewJob, deps: DepsDep, actor: ActorDep) -> JSONResponse:
    """Create a job; the SFTP host key is pinned and the secret stored in the vault, never returned.

    A definition with errors is saved as an inactive draft: 201 with the `errors`, each naming its field.
    """
    with _as_sent(body):
        outcome = await handlers.create_job(deps, mapping.job_draft(body), body.activate, actor)
    return _written(outcome, 201, state="active" if body.activate else "inactive")


@router.get("", responses=PAGED)
async def list_jobs(
    request: Request,
    response: Response,
    deps: DepsDep,
    state: JobStateName | None = None,
    job_type: Annotated[
        str | None,
        Query(
            alias="type",
            pattern="^(import_custom_table|import_profile_data|export_file|export_api|import_analytics_feed)$",
            description="Job type",
        ),
    ] = None,
    schedule_type: ScheduleTypeFilter = None,
    q: NameFilter = None,
    sort: JobSort = "job_id",
    limit: Limit = 100,
    cursor: CursorParam = None,
) -> list[JobSummaryOut]:
    """The All jobs tab: jobs (not deleted), sorted, filtered and searched, a page at a time."""
    order, after = sorted_start(sort, cursor, JOB_SORTS, JOB_IDS)
    query = JobQuery(
        state=state, q=q or None, job_type=job_type, schedule_type=schedule_type, sort=order, after=after, limit=limit
    )
    return page_out(request, response, await deps.reads.list_jobs(query), mapping.job_summary_out)


@router.post(":delete", responses={200: {"model": DeleteJobsOut}})
async def delete_jobs(body: DeleteJobsIn, deps: DepsDep, actor: ActorDep) -> DeleteJobsOut:
    """Delete several jobs, each by its own command: 200 with one result per job, some may be refused."""
    outcomes = await handlers.delete_jobs(deps, body.job_ids, actor)
    return DeleteJobsOut(results=[_deleted(job_id, o) for job_id, o in zip(body.job_ids, outcomes, strict=True)])


def _deleted(job_id: int, outcome: Outcome | Refusal) -> DeleteResultOut:
    match outcome:
        case Accepted():
            return DeleteResultOut(job_id=job_id, deleted=True)
        case Pending(command_id=command_id):
            return DeleteResultOut(job_id=job_id, deleted=False, status_url=mapping.command_url(command_id))
        case Rejected():
            error = ResultErrorOut(code=REJECTION[outcome.code], reason=outcome.reason, message=outcome.message)
            return DeleteResultOut(job_id=job_id, deleted=False, error=error)
    error = ResultErrorOut(code=outcome.code, reason=outcome.reason, message=outcome.message)
    return DeleteResultOut(job_id=job_id, deleted=False, error=error)


@router.get("/{job_id}", responses=NOT_FOUND)
async def get_job(
    job_id: JobId, deps: DepsDep, principal: PrincipalDep
) -> JobOut | ProfileJobOut | ExportJobOut | ApiExportJobOut | FeedJobOut:
    """A job's definition (without secrets), its `version`, and the `errors` it was saved with; the webhook URL
    whole only for data directors and admins."""
    record = await deps.reads.get_job(job_id)
    if record is None:
        raise not_found(f"job {job_id}", "JOB_NOT_FOUND")
    return mapping.job_out(record, principal.role)


@router.get("/{job_id}/history", responses={**PAGED, **NOT_FOUND})
async def get_job_history(
    request: Request, response: Response, job_id: JobId, deps: DepsDep, limit: Limit = 100, cursor: CursorParam = None
) -> list[HistoryEntryOut]:
    """Who changed the job, what and when, newest first (also after the job was deleted)."""
    query = HistoryQuery(after=position_of(cursor, HISTORY_SORT, HISTORY_SORTS, ids=()), limit=limit)
    page = await deps.reads.job_history(job_id, query)
    if page is None:
        raise not_found(f"job {job_id}", "JOB_NOT_FOUND")
    return page_out(request, response, page, mapping.history_out)


@router.put("/{job_id}", response_model=None, responses=WRITTEN)
async def update_job(job_id: JobId, body: EditedJob, deps: DepsDep, actor: ActorDep) -> JSONResponse:
    """Replace a job's definition; omit `private_key`/`password` to keep the stored secret.

    The secret must be given again when host, port or user changes. Keeping the stored secret or host key
    needs the read model at `expected_version`: 409 `conflict` while it still catches up (retry). A
    definition with errors is saved (200 with the `errors`) and leaves the job inactive.
    """
    draft = mapping.job_draft(body)
    with _as_sent(body):
        outcome = await handlers.update_job(deps, job_id, body.expected_version, draft, actor)
    return _written(outcome, job_id=job_id)


@contextlib.contextmanager
def _as_sent(body: object) -> Iterator[None]:
    """An export file's SFTP location is its `destination`: the gateway's own refusals about that location (its
    secret, host key, server) name the field as the request does."""
    try:
        yield
    except Refusal as refusal:
        if isinstance(body, ExportJobFields):
            refusal.errors = tuple(FieldError(field=_destination(e.field), message=e.message) for e in refusal.errors)
            refusal.message = _destination(refusal.message)
        raise


def _destination(text: str) -> str:
    return "destination" + text.removeprefix("source") if text.startswith("source.") else text


@router.post(
    "/{job_id}/copy",
    status_code=201,
    response_model=None,
    responses={201: {"model": JobWrittenOut, "description": "The copy, inactive"}, **COMMAND_RESPONSES},
)
async def copy_job(job_id: JobId, body: CopyIn, deps: DepsDep, actor: ActorDep) -> JSONResponse:
    """Copy an inactive, non-partner job: the copy gets a new Job ID and `name`, and is inactive.

    409 `COPY_REQUIRES_INACTIVE` for an active job; 422 `NAME_TAKEN` for a name in use.
    """
    return _written(await handlers.copy_job(deps, job_id, body.name, actor), 201, state="inactive")


@router.post("/{job_id}/activate", response_model=None, responses=WRITTEN)
async def activate_job(
    job_id: JobId, deps: DepsDep, actor: ActorDep, expected_version: ExpectedVersion = None
) -> JSONResponse:
    """Activate a job (it needs a definition without errors: 409 `JOB_HAS_ERRORS` otherwise)."""
    outcome = await handlers.activate_job(deps, job_id, expected_version, actor)
    return _written(outcome, job_id=job_id, state="active")


@router.post("/{job_id}/deactivate", response_model=None, responses=WRITTEN)
async def deactivate_job(
    job_id: JobId, deps: DepsDep, actor: ActorDep, expected_version: ExpectedVersion = None
) -> JSONResponse:
    """Deactivate a job: it never fires and cannot be run."""
    outcome = await handlers.deactivate_job(deps, job_id, expected_version, actor)
    return _written(outcome, job_id=job_id, state="inactive")


@router.delete("/{job_id}", response_model=None, responses=WRITTEN)
async def delete_job(
    job_id: JobId, deps: DepsDep, actor: ActorDep, expected_version: ExpectedVersion = None
) -> JSONResponse:
    """Delete a job; its loaded data and run history stay, and its history says it was deleted."""
    return _written(await handlers.delete_job(deps, job_id, expected_version, actor), job_id=job_id, deleted=True)


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
    idempotency_key: IdempotencyHeader = None,
) -> JSONResponse:
    """Run a job now, regardless of its schedule (409 `JOB_RUNNING` while it runs, `JOB_INACTIVE` when inactive)."""
    outcome = await handlers.run_job_now(deps, job_id, idempotency_key, actor)
    return respond(outcome, JOB_PATHS, lambda a: _run(job_id, a.run_id, RunStartedOut))


@router.post(
    "/{job_id}/dry-run",
    status_code=202,
    response_model=None,
    responses={
        **COMMAND_RESPONSES,
        202: {"model": RunNowOut, "description": "Dry run requested, or pending when not decided in time"},
    },
)
async def dry_run_job(
    job_id: JobId, deps: DepsDep, actor: ActorDep, idempotency_key: IdempotencyHeader = None
) -> JSONResponse:
    """Run a job now without writing: the run reads, checks and counts the file as a run would, and its counts
    and rejects (`/runs/{run}/rejects.csv`) say what would be inserted, updated and rejected. The same rules
    as run-now apply (409 `JOB_RUNNING`, `JOB_INACTIVE`); the run shows `dry_run`."""
    outcome = await handlers.run_job_now(deps, job_id, idempotency_key, actor, dry_run=True)
    return respond(outcome, JOB_PATHS, lambda a: _run(job_id, a.run_id, RunStartedOut))


@router.post(
    "/{job_id}/runs/{run_id}/stop",
    status_code=202,
    response_model=None,
    responses={
        **COMMAND_RESPONSES,
        202: {"model": StopRequestedOut | PendingOut, "description": "Stop requested, or pending"},
        404: {"model": ErrorBody, "description": "No such job or run (`reason` JOB_NOT_FOUND, RUN_NOT_FOUND)"},
    },
)
async def stop_run(job_id: JobId, run_id: RunId, deps: DepsDep, actor: ActorDep) -> JSONResponse:
    """Ask a queued or running run to stop; it ends *Stopped* with the target unchanged unless its load had
    already committed (its log then says so). 409 `RUN_NOT_RUNNING` for a run that has ended."""
    outcome = await handlers.stop_run(deps, job_id, run_id, actor)
    return respond(outcome, JOB_PATHS, lambda _a: _run(job_id, run_id, StopRequestedOut))
