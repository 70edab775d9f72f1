"""Exports to a marketing API (spec §5.3) on real PostgreSQL against a local server implementing the documented
Responsys v1.3 contract (`tests/marketing_api_server.py`): 200 records a call, per-record failures kept as the
run's rejects, one re-login when the token expires, waits on 429, 500 and `API_LIMIT_EXCEEDED`, a clear failure
when the server stays busy or refuses the login; a dry run sends nothing."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from uuid import UUID

import pytest

from connect_events import (
    ApiEndpoint,
    ExportApi,
    JobDefinition,
    ListExport,
    ListSpec,
    MergeRule,
    RetryPolicy,
    RunRequested,
    RunRequestedPayload,
)
from connect_runner.adapters.tables import ensure_list
from connect_runner.ports import RunDeps
from tests.integration.runner.runner_it import RunnerWorld, failed, succeeded
from tests.marketing_api_server import MarketingApiServer, marketing_api_server
from tests.unit.runner.runner_builders import REQUESTED_AT, _requested

pytestmark = pytest.mark.integration
ROWS = 450
BAD = {17, 230, 449}  # rows whose address the server refuses


@pytest.fixture
async def api() -> AsyncIterator[MarketingApiServer]:
    async with marketing_api_server() as server:
        yield server


@pytest.fixture
def fast(world: RunnerWorld) -> RunDeps:
    return dataclasses.replace(world.deps, api_backoff_s=0.01)


async def members(world: RunnerWorld) -> ListSpec:
    listed = ListSpec(name=f"push_{world.unique}")
    async with world.pool.acquire() as conn:
        await ensure_list(conn, listed)
        await conn.execute(
            f'INSERT INTO lists."{listed.name}" ("EMAIL_ADDRESS_", "CITY_", "CREATED_DATE_", "MODIFIED_DATE_")'
            " SELECT CASE WHEN n = ANY($1::int[]) THEN 'nobody' || n ELSE 'p' || n || '@example.com' END,"
            " CASE WHEN n % 2 = 0 THEN 'Oslo' END, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'"
            " FROM generate_series(1, $2) AS n ORDER BY n",
            sorted(BAD),
            ROWS,
        )
    return listed


async def push_request(
    world: RunnerWorld, run_id: int, api: MarketingApiServer, listed: ListSpec, *, password: str = "api-secret",
    dry_run: bool = False, per_minute: int = 6000,
) -> RunRequested:  # fmt: skip
    ref: UUID = await world.credential("password", password)
    settings = ExportApi(
        source=ListExport(list_name=listed.name, columns=("EMAIL_ADDRESS_", "CITY_")),
        endpoint=ApiEndpoint(url=api.url, user=api.state.user, credential_ref=ref, calls_per_minute=per_minute),
        remote_list="CONTACTS",
        merge=MergeRule(match_column_1="EMAIL_ADDRESS_"),
    )
    definition = JobDefinition(name=f"push {world.job_id}", settings=settings, retry=RetryPolicy(attempts=1))
    payload = RunRequestedPayload(
        job_id=world.job_id, run_id=run_id, job_version=1, definition=definition, table=listed.as_table(),
        list=listed, dry_run=dry_run,
    )  # fmt: skip
    return _requested(world.job_id, run_id, payload, REQUESTED_AT)


async def test_rows_go_200_a_call_and_refused_records_become_rejects(
    world: RunnerWorld, api: MarketingApiServer, fast: RunDeps
) -> None:
    listed = await members(world)
    event = succeeded(await world.execute(await push_request(world, 1, api, listed), fast))
    assert (event.payload.counts.rows_read, event.payload.counts.rejected) == (ROWS, len(BAD))
    assert (api.state.logins, api.state.merges) == (1, 3)  # 200 + 200 + 50
    remote = api.state.lists["CONTACTS"]
    assert len(remote) == ROWS - len(BAD)
    assert remote[("p2@example.com",)]["CITY_"] == "Oslo" and remote[("p1@example.com",)]["CITY_"] == ""
    rejects = await world.rejects(1)
    assert [(line, reason) for line, reason, _ in rejects] == [(n, "INVALID_EMAIL_ADDRESS") for n in sorted(BAD)]
    assert rejects[0][2] == "nobody17,"
    pushed = next(e for e in await world.log_entries(1) if e.stage == "pushed")
    assert pushed.message == (
        f"merged {ROWS - len(BAD)} of {ROWS} rows into 'CONTACTS' on {api.url.removeprefix('http://')} in 4 calls;"
        f" {len(BAD)} rejected: INVALID_EMAIL_ADDRESS {len(BAD)}"
    )


async def test_an_expired_token_logs_in_again_once(world: RunnerWorld, api: MarketingApiServer, fast: RunDeps) -> None:
    listed = await members(world)
    api.state.faults = ["expire"]  # the first merge finds its token expired
    event = succeeded(await world.execute(await push_request(world, 1, api, listed), fast))
    assert (api.state.logins, api.state.merges, event.payload.counts.rows_read) == (2, 3, ROWS)


async def test_busy_answers_are_waited_out(world: RunnerWorld, api: MarketingApiServer, fast: RunDeps) -> None:
    listed = await members(world)
    api.state.faults = [429, 500, "limit", 503]
    event = succeeded(await world.execute(await push_request(world, 1, api, listed), fast))
    assert (api.state.merges, event.payload.counts.rows_read, len(api.state.lists["CONTACTS"])) == (
        3, ROWS, ROWS - len(BAD),
    )  # fmt: skip


async def test_a_server_that_stays_busy_fails_the_run_in_our_words(
    world: RunnerWorld, api: MarketingApiServer, fast: RunDeps
) -> None:
    listed = await members(world)
    api.state.faults = [500] * 6
    event = failed(await world.execute(await push_request(world, 1, api, listed), fast))
    server = api.url.removeprefix("http://")
    assert (event.payload.code, event.payload.error) == (
        "CONNECTION_FAILED",
        f"{server} refused to merge into 'CONTACTS': HTTP 500 (SERVER_ERROR); it stayed busy after every wait",
    )
    assert "CONTACTS" not in api.state.lists


async def test_a_refused_login_fails_the_run_without_the_password(
    world: RunnerWorld, api: MarketingApiServer, fast: RunDeps
) -> None:
    listed = await members(world)
    event = failed(await world.execute(await push_request(world, 1, api, listed, password="hunter2-wrong"), fast))
    assert (event.payload.code, event.payload.error) == (
        "AUTH_FAILED",
        f"{api.url.removeprefix('http://')} refused the login of {api.state.user}",
    )
    assert "hunter2" not in str([e.message for e in await world.log_entries(1)])


async def test_a_dry_run_sends_nothing(world: RunnerWorld, api: MarketingApiServer, fast: RunDeps) -> None:
    listed = await members(world)
    event = succeeded(await world.execute(await push_request(world, 1, api, listed, dry_run=True), fast))
    assert event.payload.counts.rows_read == ROWS
    assert (api.state.logins, api.state.merges) == (0, 0)
    selected = next(e for e in await world.log_entries(1) if e.stage == "selected")
    assert selected.message == f"would push {ROWS} rows to 'CONTACTS' on {api.url.removeprefix('http://')}"


async def test_a_host_that_cannot_be_resolved_fails_at_once(world: RunnerWorld, fast: RunDeps) -> None:
    listed = await members(world)
    ref = await world.credential("password", "pw")
    settings = ExportApi(
        source=ListExport(list_name=listed.name, columns=("EMAIL_ADDRESS_",)),
        endpoint=ApiEndpoint(url="https://api.nowhere.invalid", user="u", credential_ref=ref),
        remote_list="CONTACTS",
    )
    definition = JobDefinition(name="unresolvable", settings=settings, retry=RetryPolicy(attempts=3))
    payload = RunRequestedPayload(
        job_id=world.job_id, run_id=1, job_version=1, definition=definition, table=listed.as_table(), list=listed
    )
    # Not transient: the first attempt ends the run (a transient failure would leave it waiting for attempt 2).
    event = failed(await world.execute(_requested(world.job_id, 1, payload, REQUESTED_AT), fast))
    assert (event.payload.code, event.payload.error) == (
        "CONNECTION_FAILED",
        "cannot log in on api.nowhere.invalid: the host name cannot be resolved",
    )
