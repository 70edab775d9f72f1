"""The job lifecycle over HTTP: drafts with errors, schedules, copy, stop, multi-delete, refusal reasons."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

import pytest

from connect_events import (
    Command,
    CopyJob,
    CreateJob,
    Cron,
    Daily,
    DeleteJob,
    FieldError,
    Monthly,
    OnDemand,
    OneTime,
    RefusalReason,
    RejectionCode,
    Role,
    StopRun,
    UpdateJob,
    Weekly,
)
from connect_gateway.entrypoints.http.errors import REASON_STATUS, STATUS
from connect_gateway.ports import CommandNotSentError, Reply
from tests.unit.gateway.gateway_fakes import World, accepted, job_body, rejected, stored_job
from tests.unit.gateway.test_gateway_job_edits import update_body

DRAFT_ERRORS = (
    FieldError(field="settings.table", message="no table named Stores"),
    FieldError(field="schedule.time_zone", message="no time zone named Mars/Olympus"),
)


def created(world: World, user_private_key: str, **changes: Any) -> dict[str, Any]:
    world.bus.answer = lambda c: accepted(c, target_id="42")
    return job_body(user_private_key, **changes)


async def test_a_draft_with_errors_is_created_inactive_with_every_error(world: World, user_private_key: str) -> None:
    world.bus.answer = lambda c: accepted(c, target_id="42", errors=DRAFT_ERRORS)
    response = await world.client.post("/api/v1/jobs", json=job_body(user_private_key))  # asks to activate
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/api/v1/jobs/42"
    assert response.json() == {
        "job_id": 42,
        "version": 1,
        "url": "/api/v1/jobs/42",
        "state": "inactive",
        "errors": [
            {"field": "target.table", "message": "no table named Stores"},
            {"field": "schedule.time_zone", "message": "no time zone named Mars/Olympus"},
        ],
    }
    assert world.credentials.stored  # a saved draft keeps its secret


async def test_an_edit_saved_with_errors_leaves_the_job_inactive(world: World) -> None:
    stored_job(world)
    world.bus.answer = lambda c: accepted(c, target_id="7", version=4, errors=DRAFT_ERRORS[:1])
    response = await world.client.put("/api/v1/jobs/7", json=update_body())
    assert response.status_code == 200, response.text
    assert (response.json()["state"], response.json()["errors"]) == (
        "inactive",
        [{"field": "target.table", "message": "no table named Stores"}],
    )
    assert isinstance(world.bus.sent[0], UpdateJob)


async def test_without_a_schedule_a_job_runs_on_demand_and_never_expires(world: World, user_private_key: str) -> None:
    await world.client.post("/api/v1/jobs", json=created(world, user_private_key))
    [command] = world.bus.sent
    assert isinstance(command, CreateJob)
    assert (command.payload.definition.schedule, command.payload.definition.expires_at) == (OnDemand(), None)


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ({"kind": "on_demand"}, OnDemand()),
        (
            {"kind": "one_time", "at": "2027-01-31T06:30", "time_zone": "Europe/Amsterdam"},
            OneTime(at=datetime(2027, 1, 31, 6, 30), time_zone="Europe/Amsterdam"),
        ),
        ({"kind": "daily", "time": "06:30", "start_window": True}, Daily(time=time(6, 30), start_window=True)),
        ({"kind": "weekly", "days": ["mon", "thu"], "time": "22:00"}, Weekly(days=("mon", "thu"), time=time(22, 0))),
        ({"kind": "monthly", "day": "last", "time": "23:30"}, Monthly(day="last", time=time(23, 30))),
        ({"kind": "monthly", "day": 31, "time": "00:00"}, Monthly(day=31, time=time(0, 0))),
        (
            {"kind": "cron", "expression": "*/15 8-18 * * 1-5", "time_zone": "Asia/Tokyo"},
            Cron(expression="*/15 8-18 * * 1-5", time_zone="Asia/Tokyo"),
        ),
    ],
    ids=lambda v: v["kind"] if isinstance(v, dict) else "",
)
async def test_each_schedule_kind_becomes_the_contracts(
    world: World, user_private_key: str, schedule: dict[str, Any], expected: object
) -> None:
    body = created(world, user_private_key, schedule=schedule, expires_at="2027-12-31T23:00:00+01:00")
    response = await world.client.post("/api/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    definition = world.bus.sent[0].payload.definition  # type: ignore[attr-defined]
    assert definition.schedule == expected
    assert definition.expires_at == datetime.fromisoformat("2027-12-31T23:00:00+01:00")


async def test_a_job_shows_its_schedule_and_its_errors_as_the_request_names_them(world: World) -> None:
    record = stored_job(world)
    definition = record.definition.model_copy(update={"schedule": Weekly(days=("sat",), time=time(7, 5))})
    world.reads.jobs[-1] = type(record)(
        **{**vars(record), "definition": definition, "errors": DRAFT_ERRORS[:1], "schedule_type": "weekly"}
    )
    job = (await world.client.get("/api/v1/jobs/7")).json()
    assert job["schedule"] == {
        "kind": "weekly",
        "time_zone": "UTC",
        "start_window": False,
        "at": None,
        "time": "07:05",
        "days": ["sat"],
        "day": None,
        "expression": None,
    }
    assert (job["has_errors"], job["errors"]) == (True, [{"field": "target.table", "message": "no table named Stores"}])


@pytest.mark.parametrize(
    ("schedule", "field", "message"),
    [
        ({"kind": "daily", "time": "24:00"}, "schedule.time", "must be a time of day as HH:MM"),
        ({"kind": "daily", "time": "6:30"}, "schedule.time", "must be a time of day as HH:MM"),
        ({"kind": "one_time", "at": "2027-02-30T06:30"}, "schedule.at", "must be a date and time"),
        ({"kind": "weekly", "days": [], "time": "06:30"}, "schedule.days", "must not be empty"),
        ({"kind": "weekly", "days": ["monday"], "time": "06:30"}, "schedule.days[0]", "must be one of"),
        ({"kind": "monthly", "day": 32, "time": "06:30"}, "schedule.day", "must be a day of the month"),
        ({"kind": "monthly", "day": "first", "time": "06:30"}, "schedule.day", "must be a day of the month"),
        ({"kind": "monthly", "day": True, "time": "06:30"}, "schedule.day", "must be a day of the month"),
        ({"kind": "hourly"}, "schedule", "must have a kind of"),
        ({"time": "06:30"}, "schedule", "must have a 'kind'"),
        ({"kind": "cron", "expression": "* * * * *", "every": 5}, "schedule.every", "is not a field"),
        ({"kind": "cron", "expression": ""}, "schedule.expression", "must not be empty"),
    ],
)
async def test_a_schedule_of_the_wrong_form_is_refused_naming_its_field(
    world: World, user_private_key: str, schedule: dict[str, Any], field: str, message: str
) -> None:
    response = await world.client.post("/api/v1/jobs", json=created(world, user_private_key, schedule=schedule))
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert any(e["field"] == field and e["message"].startswith(message) for e in errors), errors
    assert world.bus.sent == []


async def test_copy_answers_201_with_the_new_inactive_job(world: World) -> None:
    world.bus.answer = lambda c: accepted(c, target_id="43")
    async with world.client_as(Role.DATA_DIRECTOR) as client:
        response = await client.post("/api/v1/jobs/7/copy", json={"name": "Import stores 2"})
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/api/v1/jobs/43"
    assert response.json() == {"job_id": 43, "version": 1, "url": "/api/v1/jobs/43", "state": "inactive", "errors": []}
    [command] = world.bus.sent
    assert isinstance(command, CopyJob)
    assert (command.payload.job_id, command.payload.name, command.partition_key) == (7, "Import stores 2", "7")


async def test_copy_needs_a_valid_name(world: World) -> None:
    response = await world.client.post("/api/v1/jobs/7/copy", json={"name": "bad/name"})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["name"]
    assert world.bus.sent == []


def refuse(code: RejectionCode, reason: RefusalReason, message: str) -> Any:
    return lambda c: rejected(c, code, message, reason=reason)


@pytest.mark.parametrize(
    ("method", "url", "json", "code", "reason", "status"),
    [
        ("POST", "/api/v1/jobs/7/copy", {"name": "Twin"}, "invalid_state", "COPY_REQUIRES_INACTIVE", 409),
        ("POST", "/api/v1/jobs/7/copy", {"name": "Twin"}, "invalid_state", "PARTNER_JOB_NOT_COPYABLE", 409),
        ("POST", "/api/v1/jobs/7/copy", {"name": "Twin"}, "validation", "NAME_TAKEN", 422),
        ("POST", "/api/v1/jobs/7/copy", {"name": "Twin"}, "conflict", "NAME_TAKEN", 422),
        ("POST", "/api/v1/jobs/7/run", None, "invalid_state", "JOB_RUNNING", 409),
        ("POST", "/api/v1/jobs/7/run", None, "invalid_state", "JOB_INACTIVE", 409),
        ("POST", "/api/v1/jobs/7/activate", None, "invalid_state", "JOB_HAS_ERRORS", 409),
        ("POST", "/api/v1/jobs/7/activate?expected_version=2", None, "conflict", "STALE_VERSION", 409),
        ("POST", "/api/v1/jobs/7/runs/3/stop", None, "invalid_state", "RUN_NOT_RUNNING", 409),
        ("POST", "/api/v1/jobs/7/runs/3/stop", None, "not_found", "RUN_NOT_FOUND", 404),
        ("DELETE", "/api/v1/jobs/7", None, "not_found", "JOB_DELETED", 404),
    ],
)
async def test_a_refusal_carries_its_reason_and_the_status_of_the_reason(
    world: World,
    method: str,
    url: str,
    json: Any,
    code: RejectionCode,
    reason: RefusalReason,
    status: int,
) -> None:
    world.bus.answer = refuse(code, reason, "refused, in the scheduler's words")
    response = await world.client.request(method, url, json=json)
    assert response.status_code == status, response.text
    assert response.json()["reason"] == reason
    assert response.json()["message"] == "refused, in the scheduler's words"


def test_every_refusal_reason_has_a_status_in_the_one_table() -> None:
    from typing import get_args

    assert set(REASON_STATUS) == set(get_args(RefusalReason))
    assert set(REASON_STATUS.values()) <= set(STATUS.values())


async def test_stop_answers_202_naming_the_run(world: World) -> None:
    world.bus.answer = lambda c: accepted(c, target_id="7.3")
    async with world.client_as(Role.OPERATOR) as client:
        response = await client.post("/api/v1/jobs/7/runs/3/stop")
    assert response.status_code == 202, response.text
    assert response.headers["location"] == "/api/v1/runs/7.3"
    assert response.json() == {"job_id": 7, "run_id": 3, "run": "7.3", "status_url": "/api/v1/runs/7.3"}
    [command] = world.bus.sent
    assert isinstance(command, StopRun) and (command.payload.job_id, command.payload.run_id) == (7, 3)


async def test_a_stop_not_decided_in_time_is_pending(world: World) -> None:
    world.bus.answer = lambda c: None
    response = await world.client.post("/api/v1/jobs/7/runs/3/stop")
    assert response.status_code == 202 and response.json()["status"] == "pending"


async def test_multi_delete_sends_one_command_per_job_and_answers_each(world: World) -> None:
    def answer(command: Command) -> Reply | None:
        job_id = command.payload.job_id  # type: ignore[attr-defined]
        if job_id == 2:
            return rejected(command, "not_found", "job 2 not found", reason="JOB_NOT_FOUND")
        if job_id == 3:
            return None
        return accepted(command, target_id=str(job_id))

    world.bus.answer = answer
    response = await world.client.post("/api/v1/jobs:delete", json={"job_ids": [1, 2, 3, 4]})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    pending = next(c.command_id for c in world.bus.sent if c.payload.job_id == 3)  # type: ignore[attr-defined]
    assert results == [
        {"job_id": 1, "deleted": True, "error": None, "status_url": None},
        {
            "job_id": 2,
            "deleted": False,
            "error": {"code": "not_found", "reason": "JOB_NOT_FOUND", "message": "job 2 not found"},
            "status_url": None,
        },
        {"job_id": 3, "deleted": False, "error": None, "status_url": f"/api/v1/commands/{pending}"},
        {"job_id": 4, "deleted": True, "error": None, "status_url": None},
    ]
    assert all(isinstance(c, DeleteJob) for c in world.bus.sent)
    assert sorted(c.payload.job_id for c in world.bus.sent) == [1, 2, 3, 4]  # type: ignore[attr-defined]
    assert len({c.command_id for c in world.bus.sent}) == 4


async def test_multi_delete_reports_a_bus_failure_per_job(world: World) -> None:
    world.bus.failure = CommandNotSentError("broker down")
    response = await world.client.post("/api/v1/jobs:delete", json={"job_ids": [5]})
    assert response.status_code == 200
    [result] = response.json()["results"]
    assert (result["deleted"], result["error"]["code"]) == (False, "unavailable")
    assert "broker" not in response.text


@pytest.mark.parametrize(
    ("job_ids", "message"),
    [
        ([], "must not be empty"),
        (list(range(1, 102)), "must have at most 100 items"),
        ([4, 5, 4], "name each job once"),
        ([0], "must be at least 1"),
    ],
    ids=["none", "too many", "repeated", "zero"],
)
async def test_multi_delete_takes_1_to_100_distinct_ids(world: World, job_ids: list[int], message: str) -> None:
    response = await world.client.post("/api/v1/jobs:delete", json={"job_ids": job_ids})
    assert response.status_code == 422
    assert any(e["message"] == message for e in response.json()["errors"]), response.json()
    assert world.bus.sent == []


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
async def test_multi_delete_is_for_data_directors(world: World, role: Role) -> None:
    async with world.client_as(role) as client:
        assert (await client.post("/api/v1/jobs:delete", json={"job_ids": [1]})).status_code == 403
    assert world.bus.sent == []
