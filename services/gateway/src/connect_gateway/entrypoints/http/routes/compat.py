"""`/rest/api/v1.3`: the Responsys-compatible Connect API, so scripts written for the original run unchanged.

A thin adapter: the login issues the access-control API tokens (3 hours), a trigger is the run-now use case
of `/api/v1`, and the lists, statuses and logs come from the same read models. `domain.compat` translates
names, values and refusals; every rule stays where it is (the scheduler decides what may run).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Depends, Form, Header, Path, Query, Request

from connect_gateway import handlers, identity
from connect_gateway.domain import compat
from connect_gateway.domain.compat import CompatRefusal, Problem, invalid_parameter
from connect_gateway.domain.errors import REJECTION, Refusal
from connect_gateway.domain.identity.tokens import digest
from connect_gateway.domain.limits import MAX_PASSWORD, MAX_USER
from connect_gateway.entrypoints.http.auth import PrincipalDep, client_address, compat_token
from connect_gateway.entrypoints.http.compat_schemas import (
    AuthTokenOut,
    CompatErrorOut,
    ConnectJobOut,
    JobRunLogOut,
    JobRunOut,
    JobRunStatusOut,
    JobRunStatusValue,
    LinkOut,
    RateLimitOut,
    TriggerIn,
    TriggerOut,
    TriggerResultOut,
)
from connect_gateway.entrypoints.http.dependencies import DepsDep
from connect_gateway.handlers import Accepted, Pending
from connect_gateway.ports import Deps, Principal
from connect_gateway.read_models import JobQuery, JobSummary, Page, PageQuery, RunQuery, RunRecord

TAG = "Responsys-compatible API"
TAG_DESCRIPTION = """Scripts written for the Responsys REST API v1.3 Connect calls run unchanged against Connect.

1. Log in: `POST /rest/api/v1.3/auth/token` with the form fields `user_name`, `password` and
   `auth_type=password`. The answer's `authToken` (3 hours) goes, as it is, in the `Authorization` header of every
   later call, which goes to the answer's `endPoint`. Refresh with `auth_type=token` and the current token.
2. `GET /connectJobs`, `PUT /connectJobs/{jobId}/trigger` with `{}`, `PUT /connectJobs/trigger` with 1 to 5
   `jobIds`, then `GET /connectJobs/{jobId}/jobRuns/{jobRunId}/status` until it is no longer `running`, and
   `.../logs`. `GET /connectJobs/{jobId}/jobRuns?sdate=MM-DD-YYYY&edate=MM-DD-YYYY` lists a job's runs.

Times are milliseconds since 1970-01-01 UTC. A run's status is `running` (queued or running), `succeeded`,
`failed` or `aborted` (stopped, or skipped because the job was running). Refusals use the original's envelope
`{type, title, errorCode, detail, errorDetails}` and statuses: 400 (`INVALID_PARAMETER`, `CONNECT_JOB_INACTIVE`,
`CONNECT_JOB_ALREADY_RUNNING`), 401 (`INVALID_TOKEN`, `INSUFFICIENT_ACCESS`, `API_LIMIT_EXCEEDED` with
`Retry-After`), 404 (`CONNECT_JOB_NOT_FOUND`, `CONNECT_JOB_RUN_NOT_FOUND`). The roles are those of `/api/v1`:
a viewer lists and reads, an operator also triggers. `GET /rest/api/ratelimit` gives each call's requests a
minute per token.
"""
_ERROR: dict[str, Any] = {"model": CompatErrorOut}


def _refusals(**described: str) -> dict[int | str, dict[str, Any]]:
    return {int(status[1:]): {**_ERROR, "description": text} for status, text in described.items()}


async def throttle(request: Request, deps: DepsDep) -> None:
    """Count the request against its call's per-minute limit: per token, or per address for a password login."""
    api = request.scope["route"].name
    token = compat_token(request)
    principal = getattr(request.state, "principal", None)
    caller = f"token:{principal.credential_id}" if isinstance(principal, Principal) else None
    if caller is None:  # the login route, which `authorize` leaves alone: a refresh's token, or the address
        caller = f"secret:{digest(token)}" if token else f"address:{client_address(request)}"
    wait = deps.compat_limiter.take(caller, api, identity.now())
    if wait is not None:
        raise compat.limit_exceeded(deps.compat_limiter.limits[api], wait)


router = APIRouter(
    prefix=compat.ROOT,
    tags=[TAG],
    dependencies=[Depends(throttle)],
    responses={
        **_refusals(
            _400="`INVALID_PARAMETER`: a malformed id, date, form field or body",
            _401="`INVALID_TOKEN`, `INSUFFICIENT_ACCESS` (the role may not do this) or `API_LIMIT_EXCEEDED` "
            "(with `Retry-After`)",
            _413="`REQUEST_TOO_LARGE`: the body is over 1 MiB",
            _500="`UNEXPECTED_EXCEPTION`",
            _503="`SERVICE_UNAVAILABLE`: a dependency cannot be reached; nothing was changed",
        ),
        405: {
            **_ERROR,
            "description": "`METHOD_NOT_ALLOWED`",
            "headers": {"Allow": {"description": "The methods the path takes", "schema": {"type": "string"}}},
        },
        # Documented so that FastAPI adds no 422 of its own; `openapi.annotate` removes it again, since this
        # surface answers invalid fields with 400 INVALID_PARAMETER as the original does.
        422: {**_ERROR, "description": "Never answered: see 400"},
    },
)
# Digits, as documented; not enforced by the schema, so that a name sent instead gets the original's own answer
# (400 INVALID_PARAMETER "Job Id should be a numeric value.").
_DIGITS = {"pattern": "^[0-9]+$"}
JobIdPath = Annotated[
    str, Path(description="The Connect job's numeric Job ID", examples=["1042"], json_schema_extra=_DIGITS)
]
RunIdPath = Annotated[
    str, Path(description="The run's numeric Job Run ID (per job)", examples=["7"], json_schema_extra=_DIGITS)
]
_DAY = {"pattern": "^[0-9]{2}-[0-9]{2}-[0-9]{4}$"}


@router.post(
    "/v1.3/auth/token",
    name="login",
    response_model=AuthTokenOut,
    responses=_refusals(_401="`INVALID_USER_NAME_PASSWORD`, or `INVALID_TOKEN` for a refresh"),
)
async def auth_token(
    request: Request,
    deps: DepsDep,
    auth_type: Annotated[
        str, Form(max_length=20, description="`password` to log in, `token` to refresh the token sent")
    ],
    user_name: Annotated[str | None, Form(max_length=MAX_USER, description="With `auth_type=password`")] = None,
    # Bounded as /api/v1's login bounds it: a password is hashed, and hashing a megabyte is a denial of service.
    password: Annotated[str | None, Form(max_length=MAX_PASSWORD, description="With `auth_type=password`")] = None,
    # Read by `compat_token` from the request; declared so that the document shows it.
    authorization: Annotated[str | None, Header(description="With `auth_type=token`: the current token")] = None,
) -> AuthTokenOut:
    """Log in with a user name and password (form fields, `application/x-www-form-urlencoded`), or refresh:
    `auth_type=token` with the current token in `Authorization`. The answer's `authToken` goes, as it is, in
    the `Authorization` header of every later call (no `Bearer`); it lasts 3 hours. `endPoint` is where to
    send those calls."""
    del authorization
    if auth_type == "password":
        if not user_name or password is None:
            raise invalid_parameter("user_name and password are required with auth_type=password.")
        try:
            issued = await identity.compat_login(deps, user_name, password, client_address(request))
        except Refusal as refusal:
            if refusal.code != "unauthenticated":
                raise
            raise CompatRefusal(
                Problem(401, "Authentication failed", "INVALID_USER_NAME_PASSWORD", "Invalid user name or password")
            ) from None
    elif auth_type == "token":
        token = compat_token(request)
        principal = await identity.authenticate(deps, None, token, deps.session_policy) if token else None
        if principal is None:
            problem = compat.problem_of("unauthenticated", "the token to refresh is missing, expired or revoked")
            raise CompatRefusal(problem)
        issued = await identity.compat_refresh(deps, principal)
    else:
        raise invalid_parameter("auth_type must be password or token.")
    return AuthTokenOut(
        authToken=issued.secret,
        issuedAt=compat.epoch_ms(issued.record.created_at) or 0,
        endPoint=(deps.public_url or str(request.base_url)).rstrip("/"),
    )


@router.get("/v1.3/connectJobs", name="getConnectJobs")
async def list_connect_jobs(deps: DepsDep) -> list[ConnectJobOut]:
    """Every Connect job (deleted ones are gone), by Job ID."""
    return [_job_out(job) async for job in _every(deps.reads.list_jobs, JobQuery(limit=PAGE))]


@router.put(
    "/v1.3/connectJobs/trigger",
    name="triggerConnectJobs",
    responses={200: {"description": "One result per job, in the order given; some may fail while others start"}},
)
async def trigger_connect_jobs(body: TriggerIn, deps: DepsDep, principal: PrincipalDep) -> list[TriggerResultOut]:
    """Trigger 1 to 5 jobs at once: each job is run now as by `PUT /connectJobs/{jobId}/trigger`, and its own
    result says whether it started (with its run and the link to its status) or why not."""
    if len(set(body.jobIds)) != len(body.jobIds):
        raise invalid_parameter("jobIds names a job more than once.")
    results = await asyncio.gather(*(_trigger_one(deps, job_id, principal.username) for job_id in body.jobIds))
    return list(results)


@router.put(
    "/v1.3/connectJobs/{jobId}/trigger",
    name="triggerConnectJob",
    responses=_refusals(
        _400="`CONNECT_JOB_INACTIVE` (inactive or expired), `CONNECT_JOB_ALREADY_RUNNING`, "
        "`CONNECT_JOB_TYPE_NOT_SUPPORTED` (a partner job), `CONNECT_JOB_INVALID`, `INVALID_PARAMETER`",
        _404="`CONNECT_JOB_NOT_FOUND`",
        _503="`TRIGGER_NOT_CONFIRMED`: sent, but not decided in time (list the job's runs before triggering "
        "again), or `SERVICE_UNAVAILABLE`",
        _504="`REQUEST_TIMEOUT`: the message bus did not confirm the trigger; nothing was started",
    ),
)
async def trigger_connect_job(
    jobId: JobIdPath,  # the original's name, as its paths and documents spell it
    deps: DepsDep,
    principal: PrincipalDep,
    body: Annotated[dict[str, Any] | None, Body(description="An empty JSON object", examples=[{}])] = None,
) -> TriggerOut:
    """Run an active job now (the body is `{}`); the answer names its run."""
    del body  # the original takes an empty object; nothing in it changes the run
    job_id = _existing_job_id(jobId)
    return TriggerOut(jobRunId=await _trigger(deps, job_id, principal.username))


@router.get(
    "/v1.3/connectJobs/{jobId}/jobRuns",
    name="getConnectJobRuns",
    responses=_refusals(_404="`CONNECT_JOB_NOT_FOUND`"),
)
async def list_job_runs(
    jobId: JobIdPath,
    deps: DepsDep,
    sdate: Annotated[
        str, Query(description="First day, MM-DD-YYYY (UTC)", examples=["01-31-2027"], json_schema_extra=_DAY)
    ],
    edate: Annotated[
        str, Query(description="Last day (included), MM-DD-YYYY", examples=["02-01-2027"], json_schema_extra=_DAY)
    ],
) -> list[JobRunOut]:
    """The job's runs requested from the start of `sdate` to the end of `edate`, newest first."""
    job_id = _existing_job_id(jobId)
    since, until = compat.run_window(sdate, edate)
    job = await deps.reads.get_job(job_id)
    if job is None:
        raise _job_not_found(job_id)
    now = identity.now()
    query = RunQuery(job_id=job_id, since=since, until=until, limit=PAGE)
    return [_run_out(run, now) async for run in _every(deps.reads.list_runs, query)]


@router.get(
    "/v1.3/connectJobs/{jobId}/jobRuns/{jobRunId}/status",
    name="getConnectJobRunStatus",
    responses=_refusals(_404="`CONNECT_JOB_NOT_FOUND`, `CONNECT_JOB_RUN_NOT_FOUND`"),
)
async def job_run_status(
    jobId: JobIdPath,
    jobRunId: RunIdPath,
    deps: DepsDep,
) -> JobRunStatusOut:
    """A run's status (`running` until it ends, then `succeeded`, `failed` or `aborted`) and its counts."""
    run = await _run(deps, jobId, jobRunId)
    counts = run.counts
    return JobRunStatusOut(
        jobRunStatus=compat.compat_status(run.status),
        errrorMessage=run.error or "",
        recordsProcessed=counts.rows_read,
        recordsAdded=counts.inserted,
        recordsUpdated=counts.updated,
        recordsRejected=counts.rejected,
        durationInSeconds=compat.duration_seconds(run.started_at, run.finished_at, run.duration_ms, identity.now()),
    )


@router.get(
    "/v1.3/connectJobs/{jobId}/jobRuns/{jobRunId}/logs",
    name="getConnectJobRunLogs",
    responses=_refusals(_404="`CONNECT_JOB_NOT_FOUND`, `CONNECT_JOB_RUN_NOT_FOUND`"),
)
async def job_run_logs(
    jobId: JobIdPath,
    jobRunId: RunIdPath,
    deps: DepsDep,
) -> list[JobRunLogOut]:
    """A run's execution log, oldest line first."""
    run = await _run(deps, jobId, jobRunId)
    lines = await deps.reads.run_log(run.job_id, run.run_id)
    return [JobRunLogOut(logLevel=x.level, logMessage=x.message, logTime=compat.epoch_ms(x.at) or 0) for x in lines]


@router.get("/ratelimit", name="getRateLimits")
async def rate_limits(deps: DepsDep) -> list[RateLimitOut]:
    """Each call's limit in requests a minute per token; over it a call answers 401 `API_LIMIT_EXCEEDED` with
    `Retry-After`. Resource paths are relative to `/rest/api/v1.3`."""
    return [
        RateLimitOut(limit=x.limit, api=x.api, resource_path=x.resource_path, verb=x.verb, description=x.description)
        for x in deps.compat_limiter.limits.values()
    ]


# --- Helpers ----------------------------------------------------------------------------------------------------


def _existing_job_id(text: str) -> int:
    job_id = compat.parse_job_id(text)
    if not compat.job_may_exist(job_id):
        raise _job_not_found(job_id)
    return job_id


def _job_not_found(job_id: int) -> CompatRefusal:
    return CompatRefusal(compat.problem_of("not_found", f"job {job_id} not found", "JOB_NOT_FOUND"))


async def _trigger(deps: Deps, job_id: int, actor: str) -> int:
    """Run the job now through the run-now use case; its run id, or the refusal in the original's words."""
    outcome = await handlers.run_job_now(deps, job_id, None, actor)
    if isinstance(outcome, Accepted) and outcome.run_id is not None:
        await _until_visible(deps, job_id, outcome.run_id)
        return outcome.run_id
    if isinstance(outcome, (Pending, Accepted)):  # not decided in time (an accepted run-now always names its run)
        raise CompatRefusal(compat.NOT_DECIDED)
    raise CompatRefusal(compat.problem_of(REJECTION[outcome.code], outcome.message, outcome.reason))


VISIBLE_POLL_S = 0.05


async def _until_visible(deps: Deps, job_id: int, run_id: int) -> None:
    """Wait until the read models show the run, at most the reply timeout: a script asks for its status next.

    The scheduler's acceptance reaches the catalog's projection a moment later; the original answers a trigger
    once the run exists, so a status call right after it must not be told the run does not exist.
    """
    for _ in range(max(1, round(deps.reply_timeout_s / VISIBLE_POLL_S))):  # the catalog has no change feed to await
        if await deps.reads.get_run(job_id, run_id) is not None:
            return
        await asyncio.sleep(VISIBLE_POLL_S)


async def _trigger_one(deps: Deps, job_id: int, actor: str) -> TriggerResultOut:
    """One job of a trigger-many request: its own success or refusal, never the whole request's."""
    self_link = LinkOut(rel="self", href=f"{compat.PREFIX}/connectJobs/trigger", method="PUT")
    try:
        if not compat.job_may_exist(job_id):
            raise _job_not_found(job_id)
        run_id = await _trigger(deps, job_id, actor)
    except (CompatRefusal, Refusal) as refused:
        problem = refused.problem if isinstance(refused, CompatRefusal) else compat.problem_of_refusal(refused)
        return TriggerResultOut(
            jobId=job_id, success=False, jobRunId=None, errorMessage=problem.detail, links=[self_link]
        )
    status = f"{compat.PREFIX}/connectJobs/{job_id}/jobRuns/{run_id}/status"
    links = [self_link, LinkOut(rel="getConnectJobRunStatus", href=status, method="GET")]
    return TriggerResultOut(jobId=job_id, success=True, jobRunId=run_id, errorMessage="", links=links)


async def _run(deps: Deps, job_text: str, run_text: str) -> RunRecord:
    job_id, run_id = _existing_job_id(job_text), compat.parse_run_id(run_text)
    run = await deps.reads.get_run(job_id, run_id) if compat.run_may_exist(run_id) else None
    if run is not None:
        return run
    if await deps.reads.get_job(job_id) is None:
        raise _job_not_found(job_id)
    message = f"job {job_id} has no run {run_id}"
    raise CompatRefusal(compat.problem_of("not_found", message, "RUN_NOT_FOUND"))


PAGE = 500
T = TypeVar("T")
Q = TypeVar("Q", bound=PageQuery)


async def _every(fetch: Callable[[Q], Awaitable[Page[T]]], query: Q) -> AsyncIterator[T]:
    """Every row of a paged read, page after page (the original's lists are not paged)."""
    page = await fetch(query)
    while True:
        for row in page.items:
            yield row
        if page.next is None:
            return
        page = await fetch(replace(query, after=page.next))


def _job_out(job: JobSummary) -> ConnectJobOut:
    return ConnectJobOut(
        jobId=job.job_id,
        jobName=job.name,
        jobType=job.job_type,
        nextJobRun=compat.epoch_ms(job.next_run_at),
        lastJobRun=compat.epoch_ms(job.previous_run_at),
        scheduleType=job.schedule_type,
        active=job.state == "active",
        running=job.running_run_id is not None,
    )


def _run_out(run: RunRecord, now: datetime) -> JobRunOut:
    return JobRunOut(
        jobRunId=run.run_id,
        jobName=run.job_name,
        jobRunStatus=JobRunStatusValue(value=compat.compat_status(run.status)),
        durationInSeconds=compat.duration_seconds(run.started_at, run.finished_at, run.duration_ms, now),
        jobStartTime=compat.epoch_ms(run.started_at or run.requested_at) or 0,
    )
