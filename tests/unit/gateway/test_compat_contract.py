"""Contract tests of the Responsys-compatible API: the documented request/response pairs, field by field.

Each case of `tests/data/responsys/connect_api_v13.json` (written from Oracle's documentation of the v1.3
Connect calls) is sent exactly as shaped there — form-encoded login, `Authorization: <token>` without a scheme,
`{}` and `{"jobIds": [...]}` bodies, `MM-DD-YYYY` dates — to the gateway over its fakes, whose read models
hold the fixture's jobs and runs and whose scheduler answers each run-now as the fixture says. The answer
must have the documented status and exactly the documented fields, nested the same way, with equal values
(a placeholder stands for a value that cannot be known in advance: a token, a time).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connect_events import Command, JobDefinition, Role, RunCounts, RunJobNow
from connect_gateway import identity
from connect_gateway.domain import compat
from connect_gateway.domain.identity.users import MAX_ACTIVE_TOKENS
from connect_gateway.ports import Principal
from connect_gateway.read_models import JobRecord, LogLine, RunRecord
from tests.compat_contract import CONTRACT, matches
from tests.unit.gateway.gateway_fakes import NOW, PASSWORD, World, accepted, rejected, stored_job

ROLES = {"viewer": Role.VIEWER, "operator": Role.OPERATOR, "admin": Role.ADMIN}


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _load_world(world: World) -> None:
    """The fixture's jobs, runs, logs and scheduler decisions, in the fakes."""
    template = stored_job(world)
    world.reads.jobs.clear()
    for job in CONTRACT["world"]["jobs"]:
        world.reads.jobs.append(
            JobRecord(
                job_id=job["jobId"],
                name=job["jobName"],
                description="",
                job_type=job["jobType"],
                state=job["state"],
                schedule_type=job["scheduleType"],
                version=1,
                expires_at=None,
                created_at=NOW,
                created_by="ann",
                updated_at=NOW,
                updated_by="ann",
                next_run_at=_time(job.get("nextJobRun")),
                previous_run_at=_time(job.get("lastJobRun")),
                running_run_id=job.get("runningRunId"),
                definition=JobDefinition(name=job["jobName"], settings=template.definition.settings),
            )
        )
    names = {job["jobId"]: job["jobName"] for job in CONTRACT["world"]["jobs"]}
    for r in CONTRACT["world"]["runs"]:
        started, finished = _time(r.get("startedAt")), _time(r.get("finishedAt"))
        duration = int((finished - started).total_seconds() * 1000) if started and finished else None
        world.reads.runs.append(
            RunRecord(
                job_id=r["jobId"],
                run_id=r["runId"],
                job_name=names[r["jobId"]],
                job_deleted=False,
                status=r["status"],
                trigger="manual",
                attempt=1,
                counts=RunCounts(**r["counts"]),
                total_bytes=None,
                stage=None,
                error_code="FILE_NOT_FOUND" if r.get("error") else None,
                error=r.get("error"),
                requested_at=_time(r["requestedAt"]) or NOW,
                started_at=started,
                finished_at=finished,
                duration_ms=duration,
            )
        )
        if "log" in r:
            lines = [LogLine(_time(x["at"]) or NOW, x["level"], x["message"]) for x in r["log"]]
            world.reads.logs[(r["jobId"], r["runId"])] = lines
    world.bus.answer = _scheduler(CONTRACT["world"]["scheduler"], world)


def _scheduler(decisions: dict[str, dict[str, Any]], world: World) -> Any:
    def answer(command: Command) -> Any:
        assert isinstance(command, RunJobNow)
        job_id = command.payload.job_id
        decision = decisions[str(job_id)]
        if "runId" in decision:
            world.reads.runs.append(queued(job_id, decision["runId"]))  # as the catalog projects it
            return accepted(command, target_id=str(job_id), run_id=decision["runId"])
        return rejected(command, decision["code"], decision["message"], reason=decision["reason"])

    return answer


def queued(job_id: int, run_id: int) -> RunRecord:
    """A run just requested, as the catalog shows it."""
    return RunRecord(
        job_id=job_id,
        run_id=run_id,
        job_name=f"job {job_id}",
        job_deleted=False,
        status="queued",
        trigger="manual",
        attempt=0,
        counts=RunCounts(),
        total_bytes=None,
        stage=None,
        error_code=None,
        error=None,
        requested_at=NOW,
        started_at=None,
        finished_at=None,
        duration_ms=None,
    )


def _headers(world: World, auth: str | None) -> dict[str, str]:
    """`Authorization: <token>` as the original API sends it: the token alone, no scheme."""
    if auth is None:
        return {}
    return {"Authorization": world.tokens[ROLES[auth]] if auth in ROLES else auth}


@pytest.mark.parametrize("case", CONTRACT["cases"], ids=lambda c: c["name"])
async def test_documented_pair(world: World, case: dict[str, Any]) -> None:
    _load_world(world)
    request, response = case["request"], case["response"]
    form = request.get("form")
    if form is not None:
        form = {k: PASSWORD if v == "<password>" else v for k, v in form.items()}
    kwargs: dict[str, Any] = {"data": form} if form is not None else {}
    if "json" in request:
        kwargs["json"] = request["json"]
    async with world.client_as(None) as client:
        answer = await client.request(
            request["method"], request["path"], headers=_headers(world, request.get("auth")), **kwargs
        )
    assert answer.status_code == response["status"], answer.text
    assert answer.headers["content-type"] == "application/json"
    matches(response["body"], answer.json())


def test_the_fixture_covers_every_call_and_every_documented_refusal() -> None:
    paths = {(c["request"]["method"], c["request"]["path"].split("?")[0]) for c in CONTRACT["cases"]}
    templates = {
        ("POST", "/rest/api/v1.3/auth/token"),
        ("GET", "/rest/api/v1.3/connectJobs"),
        ("PUT", "/rest/api/v1.3/connectJobs/{}/trigger"),
        ("PUT", "/rest/api/v1.3/connectJobs/trigger"),
        ("GET", "/rest/api/v1.3/connectJobs/{}/jobRuns"),
        ("GET", "/rest/api/v1.3/connectJobs/{}/jobRuns/{}/status"),
        ("GET", "/rest/api/v1.3/connectJobs/{}/jobRuns/{}/logs"),
        ("GET", "/rest/api/ratelimit"),
    }
    generic = {
        (m, "/".join("{}" if part.isdigit() or "%20" in part or part == "crm" else part for part in p.split("/")))
        for m, p in paths
    }
    assert templates <= generic
    codes = {
        c["response"]["body"].get("errorCode") for c in CONTRACT["cases"] if isinstance(c["response"]["body"], dict)
    }
    documented = {
        "CONNECT_JOB_INACTIVE",
        "INVALID_PARAMETER",
        "CONNECT_JOB_ALREADY_RUNNING",
        "CONNECT_JOB_NOT_FOUND",
        "CONNECT_JOB_RUN_NOT_FOUND",
        "INVALID_TOKEN",
    }
    assert documented <= codes


# --- Beyond the fixture: tokens, limits and what a refused trigger leaves behind ----------------------------


async def test_the_login_token_lasts_three_hours_and_works_without_a_scheme(world: World) -> None:
    _load_world(world)
    async with world.client_as(None) as client:
        login = await client.post(
            "/rest/api/v1.3/auth/token", data={"user_name": "OTTO", "password": PASSWORD, "auth_type": "password"}
        )
        token = login.json()["authToken"]
        jobs = await client.get("/rest/api/v1.3/connectJobs", headers={"Authorization": token})
        refreshed = await client.post(
            "/rest/api/v1.3/auth/token", data={"auth_type": "token"}, headers={"Authorization": token}
        )
        again = await client.get("/rest/api/v1.3/connectJobs", headers={"Authorization": token})
    assert jobs.status_code == 200 and len(jobs.json()) == 4
    assert refreshed.status_code == 200 and refreshed.json()["authToken"] != token
    assert again.status_code == 200  # the old token stays valid until it expires, as in the original
    issued = [t for t in await world.identity.list_tokens("otto") if t.name == compat.LOGIN_TOKEN_NAME]
    assert len(issued) == 2
    for record in issued:
        assert abs(record.expires_at - record.created_at - timedelta(hours=3)) < timedelta(seconds=1)


async def test_an_api_token_of_api_v1_works_here_and_a_login_token_there(world: World) -> None:
    _load_world(world)
    async with world.client_as(None) as client:
        raw = await client.get("/rest/api/v1.3/connectJobs", headers={"Authorization": world.tokens[Role.VIEWER]})
        login = await client.post(
            "/rest/api/v1.3/auth/token", data={"user_name": "vera", "password": PASSWORD, "auth_type": "password"}
        )
        there = await client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {login.json()['authToken']}"})
    assert raw.status_code == 200 and there.status_code == 200


async def test_a_session_cookie_is_no_credential_here(world: World) -> None:
    async with world.client_as(None) as client:
        login = await client.post("/api/v1/auth/login", json={"username": "vera", "password": PASSWORD})
        assert login.status_code == 200
        answer = await client.get("/rest/api/v1.3/connectJobs")  # the cookie is sent, no Authorization
    assert answer.status_code == 401 and answer.json()["errorCode"] == "INVALID_TOKEN"


async def test_logins_past_the_token_cap_retire_the_oldest_login_token_only(world: World) -> None:
    otto = Principal("otto", Role.OPERATOR, "token", "test")
    named = await identity.issue_token(world.app.state.deps, "otto", "nightly script", None, otto)
    async with world.client_as(None) as client:
        for _ in range(MAX_ACTIVE_TOKENS + 3):
            login = await client.post(
                "/rest/api/v1.3/auth/token", data={"user_name": "otto", "password": PASSWORD, "auth_type": "password"}
            )
            assert login.status_code == 200, login.text
    tokens = await world.identity.list_tokens("otto")
    active = [t for t in tokens if t.revoked_at is None]
    assert len(active) == MAX_ACTIVE_TOKENS
    assert named.record.token_id in {t.token_id for t in active}  # a token issued by name is never retired


async def test_a_token_over_its_call_limit_gets_api_limit_exceeded_and_others_do_not(world: World) -> None:
    _load_world(world)
    limiter = compat.RateLimiter(compat.limits_with({"getConnectJobs": 3}))
    world.app.state.deps = replace(world.app.state.deps, compat_limiter=limiter)
    viewer, operator = _headers(world, "viewer"), _headers(world, "operator")
    async with world.client_as(None) as client:
        answers = [await client.get("/rest/api/v1.3/connectJobs", headers=viewer) for _ in range(4)]
        other_call = await client.get("/rest/api/ratelimit", headers=viewer)
        other_token = await client.get("/rest/api/v1.3/connectJobs", headers=operator)
    assert [a.status_code for a in answers] == [200, 200, 200, 401]
    # Counted per token (its id, never its secret) and call, after the token was checked.
    callers = {caller for caller, _api in limiter._windows}
    assert callers == {f"token:{t.token_id}" for u in ("vera", "otto") for t in await world.identity.list_tokens(u)}
    refused = answers[-1]
    assert refused.json()["errorCode"] == "API_LIMIT_EXCEEDED"
    assert refused.json()["title"] == "API limit exceeded"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert other_call.status_code == 200 and other_token.status_code == 200
    limits = {x["api"]: x["limit"] for x in other_call.json()}
    assert limits["getConnectJobs"] == 3 and limits["getConnectJobRunStatus"] == 600


async def test_a_refused_trigger_starts_nothing_and_a_malformed_one_sends_nothing(world: World) -> None:
    _load_world(world)
    async with world.client_as(None) as client:
        name = await client.put("/rest/api/v1.3/connectJobs/crm/trigger", json={}, headers=_headers(world, "operator"))
        twice = await client.put(
            "/rest/api/v1.3/connectJobs/trigger", json={"jobIds": [1, 1]}, headers=_headers(world, "operator")
        )
        text = await client.put(
            "/rest/api/v1.3/connectJobs/trigger", json={"jobIds": ["1"]}, headers=_headers(world, "operator")
        )
    assert name.status_code == twice.status_code == text.status_code == 400
    assert twice.json()["detail"] == "jobIds names a job more than once."
    assert text.json()["errorCode"] == "INVALID_PARAMETER"
    assert world.bus.sent == []


async def test_a_trigger_not_decided_in_time_says_so(world: World) -> None:
    _load_world(world)
    world.bus.answer = lambda _c: None  # the scheduler never answers within the reply timeout
    async with world.client_as(None) as client:
        one = await client.put("/rest/api/v1.3/connectJobs/1/trigger", json={}, headers=_headers(world, "operator"))
        many = await client.put(
            "/rest/api/v1.3/connectJobs/trigger", json={"jobIds": [1]}, headers=_headers(world, "operator")
        )
    assert one.status_code == 503 and one.json()["errorCode"] == "TRIGGER_NOT_CONFIRMED"
    assert many.status_code == 200
    assert many.json()[0]["success"] is False and "may still start" in many.json()[0]["errorMessage"]


async def test_unknown_paths_and_methods_answer_in_the_envelope(world: World) -> None:
    async with world.client_as(None) as client:
        missing = await client.get("/rest/api/v1.3/campaigns", headers=_headers(world, "viewer"))
        method = await client.delete("/rest/api/v1.3/connectJobs", headers=_headers(world, "viewer"))
    assert missing.status_code == 404 and missing.json()["errorCode"] == "RESOURCE_NOT_FOUND"
    assert method.status_code == 405 and method.json()["errorCode"] == "METHOD_NOT_ALLOWED"
    assert method.headers["Allow"] == "GET"


async def test_an_overlong_password_is_refused_before_it_is_hashed(world: World) -> None:
    async with world.client_as(None) as client:
        answer = await client.post(
            "/rest/api/v1.3/auth/token", data={"user_name": "otto", "password": "x" * 5000, "auth_type": "password"}
        )
    assert answer.status_code == 400 and answer.json()["errorCode"] == "INVALID_PARAMETER"
    assert "password" in answer.json()["detail"]


async def test_a_trigger_answers_once_the_run_can_be_read(world: World) -> None:
    """The catalog projects the accepted run a moment later; the status call that follows the answer finds it."""
    _load_world(world)
    loop = asyncio.get_running_loop()

    def accept_and_project_later(command: Command) -> Any:
        loop.call_later(0.1, world.reads.runs.append, queued(1, 11))
        return accepted(command, target_id="1", run_id=11)

    world.bus.answer = accept_and_project_later
    headers = _headers(world, "operator")
    async with world.client_as(None) as client:
        started = await client.put("/rest/api/v1.3/connectJobs/1/trigger", json={}, headers=headers)
        status = await client.get("/rest/api/v1.3/connectJobs/1/jobRuns/11/status", headers=headers)
    assert started.json() == {"jobRunId": 11, "errorMessage": "", "success": True}
    assert status.status_code == 200 and status.json()["jobRunStatus"] == "running"


async def test_a_run_the_catalog_never_shows_still_answers_the_trigger(world: World) -> None:
    _load_world(world)
    world.bus.answer = lambda c: accepted(c, target_id="1", run_id=12)  # projection lagging past the reply timeout
    async with world.client_as(None) as client:
        started = await client.put("/rest/api/v1.3/connectJobs/1/trigger", json={}, headers=_headers(world, "operator"))
    assert started.status_code == 200 and started.json()["jobRunId"] == 12


async def test_lists_are_whole_however_many_pages_the_read_models_take(world: World) -> None:
    _load_world(world)
    template = world.reads.jobs[0]
    world.reads.jobs.extend(replace(template, job_id=100 + i, name=f"job {100 + i}") for i in range(1200))
    world.reads.runs.extend(
        replace(queued(1, 100 + i), requested_at=datetime(2027, 1, 16, tzinfo=UTC)) for i in range(1100)
    )
    headers = _headers(world, "viewer")
    async with world.client_as(None) as client:
        jobs = await client.get("/rest/api/v1.3/connectJobs", headers=headers)
        runs = await client.get(
            "/rest/api/v1.3/connectJobs/1/jobRuns",
            params={"sdate": "01-16-2027", "edate": "01-16-2027"},
            headers=headers,
        )
    assert [j["jobId"] for j in jobs.json()] == [1, 2, 3, 4, *range(100, 1300)]
    assert sorted(r["jobRunId"] for r in runs.json()) == list(range(100, 1200))


async def test_password_guessing_is_throttled_as_on_the_api_v1_login(world: World) -> None:
    wrong = {"user_name": "otto", "password": "guess", "auth_type": "password"}
    async with world.client_as(None) as client:
        answers = [await client.post("/rest/api/v1.3/auth/token", data=wrong) for _ in range(8)]
    codes = [a.json()["errorCode"] for a in answers]
    assert codes[0] == "INVALID_USER_NAME_PASSWORD" and codes[-1] == "API_LIMIT_EXCEEDED"
    assert {a.status_code for a in answers} == {401}
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert "try again in" in answers[-1].json()["detail"]


async def test_any_other_http_error_keeps_its_status_in_the_envelope(world: World) -> None:
    from fastapi import HTTPException

    from connect_gateway.entrypoints.http import errors

    class Request:
        class url:
            path = "/rest/api/v1.3/connectJobs"

    answer = await errors._on_http_error(Request(), HTTPException(status_code=418, detail="short and stout"))
    assert answer.status_code == 418
    assert json.loads(answer.body)["errorCode"] == "INVALID_PARAMETER"
    assert json.loads(answer.body)["detail"] == "Short and stout"
