"""Groups over HTTP: create, edit, delete, run and stop them, the Group jobs tab, group runs with their members."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from connect_events import (
    CreateGroup,
    DeleteGroup,
    FieldError,
    GroupDefinition,
    OnDemand,
    RunGroupNow,
    StopGroupRun,
    UpdateGroup,
)
from connect_gateway.read_models import GroupRecord, GroupRunMember, GroupRunRecord, LogLine
from tests.unit.gateway.gateway_fakes import NOW, World, accepted, rejected

HOUR = timedelta(hours=1)


def group_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Nightly chain",
        "description": "stores, then orders",
        "members": [1042, 1043],
        "schedule": {"kind": "daily", "time": "02:00", "time_zone": "Europe/Amsterdam"},
        "notifications": {"on_failure": True, "emails": ["ops@example.com"]},
    }
    body.update(changes)
    return body


def stored_group(world: World, group_id: int = 31, name: str = "Nightly chain", **changes: Any) -> GroupRecord:
    fields: dict[str, Any] = {
        "group_id": group_id, "name": name, "description": "", "schedule_type": "on_demand", "version": 2,
        "expires_at": None, "created_at": NOW, "created_by": "dora", "updated_at": NOW, "updated_by": "dora",
        "last_run_id": 4, "previous_run_at": NOW - HOUR,
        "definition": GroupDefinition(name=name, members=(1042, 1043), schedule=OnDemand()),
    }  # fmt: skip
    record = GroupRecord(**{**fields, **changes})
    world.reads.groups.append(record)
    return record


def stored_group_run(world: World, run_id: int = 4, status: str = "failed") -> GroupRunRecord:
    stored_group(world)
    record = GroupRunRecord(
        group_id=31, run_id=run_id, group_name="Nightly chain", status=status, trigger="manual", requested_at=NOW,
        scheduled_for=None, started_at=NOW, finished_at=NOW + HOUR, duration_ms=3_600_000, stop_requested=False,
        failed_job_id=1042, failed_run_id=7, error="no file matching x", member_ids=(1042, 1043),
        members=(GroupRunMember(0, 1042, 7, "failed", "Stores"), GroupRunMember(1, 1043)),
    )  # fmt: skip
    world.reads.group_runs.append(record)
    world.reads.group_logs[(31, run_id)] = [LogLine(at=NOW, level="INFO", message="Member 1 started as run 1042.7")]
    return record


async def test_a_group_is_created_with_its_members_in_order(world: World) -> None:
    world.bus.answer = lambda c: accepted(c, target_id="31", target_type="group")
    answer = await world.client.post("/api/v1/groups", json=group_body(members=[1043, 1042]))
    assert answer.status_code == 201, answer.text
    assert answer.headers["location"] == "/api/v1/groups/31"
    assert answer.json() == {"group_id": 31, "version": 1, "url": "/api/v1/groups/31"}
    [command] = world.bus.sent
    assert isinstance(command, CreateGroup)
    definition = command.payload.definition
    assert (definition.members, definition.schedule.kind, definition.notifications.emails) == (
        (1043, 1042), "daily", ("ops@example.com",),
    )  # fmt: skip


async def test_a_refused_group_names_each_member_and_the_reason(world: World) -> None:
    errors = (
        FieldError(field="definition.members[1]", message="job 1043 runs on a schedule; members run on demand"),
        FieldError(field="definition.name", message="a group named Nightly chain already exists"),
    )
    world.bus.answer = lambda c: rejected(
        c, "validation", "the group has 2 error(s)", errors, "GROUP_MEMBER_NOT_ON_DEMAND"
    )
    answer = await world.client.post("/api/v1/groups", json=group_body())
    assert answer.status_code == 409, answer.text
    body = answer.json()
    assert (body["code"], body["reason"]) == ("validation_failed", "GROUP_MEMBER_NOT_ON_DEMAND")
    assert [e["field"] for e in body["errors"]] == ["members[1]", "name"]


@pytest.mark.parametrize(
    ("reason", "status"),
    [("GROUP_TOO_SMALL", 422), ("STALE_VERSION", 409), ("GROUP_NOT_FOUND", 404), ("GROUP_RUNNING", 409)],
)
async def test_refusals_keep_their_reason_and_status(world: World, reason: Any, status: int) -> None:
    world.bus.answer = lambda c: rejected(c, "conflict", "refused", (), reason)
    answer = await world.client.put("/api/v1/groups/31", json=group_body(expected_version=1))
    assert (answer.status_code, answer.json()["reason"]) == (status, reason)


async def test_an_edit_sends_the_expected_version_and_a_delete_names_the_group(world: World) -> None:
    world.bus.answer = lambda c: accepted(c, target_id="31", version=3, target_type="group")
    edited = await world.client.put("/api/v1/groups/31", json=group_body(expected_version=2, members=[1043, 1042]))
    assert (edited.status_code, edited.json()["version"]) == (200, 3)
    deleted = await world.client.delete("/api/v1/groups/31", params={"expected_version": 3})
    assert deleted.status_code == 200, deleted.text
    update, delete = world.bus.sent
    assert isinstance(update, UpdateGroup) and update.payload.expected_version == 2
    assert update.payload.definition.members == (1043, 1042)
    assert isinstance(delete, DeleteGroup) and (delete.payload.group_id, delete.payload.expected_version) == (31, 3)


@pytest.mark.parametrize("members", [[1042, "1043"], [0, 1], "1042,1043"])
async def test_members_are_job_ids(world: World, members: Any) -> None:
    answer = await world.client.post("/api/v1/groups", json=group_body(members=members))
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"].startswith("members")
    assert not world.bus.sent


async def test_run_now_answers_the_group_run_and_passes_the_idempotency_key(world: World) -> None:
    world.bus.answer = lambda c: accepted(c, target_id="31", run_id=5, target_type="group")
    answer = await world.client.post("/api/v1/groups/31/run", headers={"Idempotency-Key": "nightly-2025-01-02"})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"group_id": 31, "run_id": 5, "run": "31.5", "status_url": "/api/v1/groups/31/runs/5"}
    [command] = world.bus.sent
    assert isinstance(command, RunGroupNow) and command.payload.idempotency_key == "nightly-2025-01-02"


async def test_a_stop_names_the_group_run_and_an_ended_one_is_refused(world: World) -> None:
    answer = await world.client.post("/api/v1/groups/31/runs/5/stop")
    assert (answer.status_code, answer.json()["run"]) == (202, "31.5")
    [command] = world.bus.sent
    assert isinstance(command, StopGroupRun) and (command.payload.group_id, command.payload.run_id) == (31, 5)
    world.bus.answer = lambda c: rejected(c, "invalid_state", "group run 31.5 already ended", (), "RUN_NOT_RUNNING")
    refused = await world.client.post("/api/v1/groups/31/runs/5/stop")
    assert (refused.status_code, refused.json()["reason"]) == (409, "RUN_NOT_RUNNING")


async def test_the_group_jobs_tab_sorts_searches_and_pages(world: World) -> None:
    stored_group(world, 31, "Nightly chain", next_run_at=NOW + HOUR)
    stored_group(world, 32, "Morning chain", next_run_at=None)
    stored_group(world, 33, "Evening", next_run_at=NOW + 2 * HOUR)
    first = await world.client.get("/api/v1/groups", params={"sort": "next_run_at", "limit": 2})
    assert [g["group_id"] for g in first.json()] == [31, 33]
    assert first.json()[0]["last_run"] == "31.4"
    link = first.headers["link"]
    assert link.endswith('>; rel="next"')
    rest = await world.client.get(link[1 : link.index(">")])
    assert [g["group_id"] for g in rest.json()] == [32]
    found = await world.client.get("/api/v1/groups", params={"q": "CHAIN", "sort": "-name"})
    assert [g["name"] for g in found.json()] == ["Nightly chain", "Morning chain"]
    refused = await world.client.get("/api/v1/groups", params={"sort": "members"})
    assert refused.status_code == 422


async def test_a_group_shows_its_members_in_order(world: World) -> None:
    stored_group(world)
    body = (await world.client.get("/api/v1/groups/31")).json()
    assert [(m["position"], m["job_id"], m["url"]) for m in body["members"]] == [
        (1, 1042, "/api/v1/jobs/1042"), (2, 1043, "/api/v1/jobs/1043"),
    ]  # fmt: skip
    assert (body["schedule"], body["version"]) == ({"kind": "on_demand", **dict.fromkeys(
        ("time_zone", "start_window", "at", "time", "days", "day", "expression"))}, 2)  # fmt: skip
    missing = await world.client.get("/api/v1/groups/99")
    assert (missing.status_code, missing.json()["reason"]) == (404, "GROUP_NOT_FOUND")


async def test_a_group_run_shows_its_member_runs_and_log(world: World) -> None:
    stored_group_run(world)
    body = (await world.client.get("/api/v1/groups/31/runs/4")).json()
    assert (body["id"], body["status"], body["failed_run"], body["error"]) == (
        "31.4", "failed", "1042.7", "no file matching x",
    )  # fmt: skip
    assert [(m["position"], m["run"], m["status"]) for m in body["members"]] == [
        (1, "1042.7", "failed"),
        (2, None, None),
    ]
    assert [line["message"] for line in body["log"]] == ["Member 1 started as run 1042.7"]
    missing = await world.client.get("/api/v1/groups/31/runs/9")
    assert (missing.status_code, missing.json()["reason"]) == (404, "RUN_NOT_FOUND")


async def test_a_groups_runs_are_listed_newest_first(world: World) -> None:
    for run_id in (3, 4, 5):
        stored_group_run(world, run_id, "succeeded" if run_id != 4 else "failed")
    runs = (await world.client.get("/api/v1/groups/31/runs", params={"limit": 2})).json()
    assert [r["id"] for r in runs] == ["31.5", "31.4"]
    failed = (await world.client.get("/api/v1/groups/31/runs", params={"status": "failed"})).json()
    assert [r["id"] for r in failed] == ["31.4"]
    missing = await world.client.get("/api/v1/groups/99/runs")
    assert (missing.status_code, missing.json()["reason"]) == (404, "GROUP_NOT_FOUND")
