"""`/api/v1/runs`: runs of jobs (the Completed jobs tab), their execution logs and their rejects."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from connect_gateway.domain.errors import Refusal, invalid, not_found
from connect_gateway.domain.limits import MAX_ID
from connect_gateway.domain.listing import sort_pattern
from connect_gateway.domain.rejects import COLUMNS, RejectRecord, csv_rows
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


@router.get(
    "/{run}/rejects.csv",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": f"`{','.join(COLUMNS)}`, one row per rejected line in line order (only the header "
            "when the run rejected none); values are quoted where CSV needs it. A `raw_text` that starts with "
            "`=`, `+`, `-` or `@` (or a tab or carriage return) gets a leading `'`, so a spreadsheet opening the "
            "file shows it instead of running it as a formula",
        },
        **NOT_FOUND,
    },
)
async def get_run_rejects(run: RunPath, deps: DepsDep) -> StreamingResponse:
    """The rows a run rejected (a dry run's too), as a CSV download, streamed."""
    job_id, run_id = parse_run_key(run)
    if await deps.reads.get_run(job_id, run_id) is None:
        raise not_found(f"run {run}", "RUN_NOT_FOUND")
    if deps.rejects is None:
        raise Refusal("unavailable", "the rejects of runs cannot be read here")
    pieces = _csv_pieces(deps.rejects.batches(job_id, run_id))
    # The first piece waits for the first rows, so a database that cannot answer is a 503, not a cut-off file.
    try:
        first = await anext(pieces)
    except BaseException:
        await pieces.aclose()
        raise
    headers = {"Content-Disposition": f'attachment; filename="rejects-{run}.csv"'}
    return _ClosingStreamingResponse(_resumed(first, pieces), media_type="text/csv", headers=headers)


class _ClosingStreamingResponse(StreamingResponse):
    """Closes its stream however the response ends, a client gone half-way included (Starlette then leaves it
    to the garbage collector), so the database connection behind it goes back to the pool at once."""

    def __init__(self, stream: AsyncGenerator[bytes, None], **kwargs: Any) -> None:
        super().__init__(stream, **kwargs)
        self._stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._stream.aclose()


async def _csv_pieces(batches: AsyncGenerator[Sequence[RejectRecord], None]) -> AsyncGenerator[bytes, None]:
    """The header and the rows, a piece per batch of rows."""
    async with aclosing(batches):
        header = True
        async for batch in batches:
            yield csv_rows(batch, header=header)
            header = False
        if header:
            yield csv_rows((), header=True)


async def _resumed(first: bytes, rest: AsyncGenerator[bytes, None]) -> AsyncGenerator[bytes, None]:
    async with aclosing(rest):
        yield first
        async for piece in rest:
            yield piece
