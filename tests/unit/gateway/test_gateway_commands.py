"""A write answered 202 pending links to `/api/v1/commands/{id}`, which shows the decision once recorded."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest

from connect_events import FieldError
from connect_gateway.read_models import CommandRecord
from tests.unit.gateway.gateway_fakes import NOW, World


def record(command_id: UUID, command_type: str, **fields: Any) -> CommandRecord:
    values: dict[str, Any] = {
        "status": "accepted",
        "target_type": "job",
        "target_id": "42",
        "target_version": 2,
        "run_id": None,
        "code": None,
        "message": None,
        "errors": (),
        **fields,
    }
    return CommandRecord(command_id=command_id, command_type=command_type, replied_at=NOW, **values)


async def test_pending_links_to_the_command_status(world: World) -> None:
    world.bus.answer = lambda c: None
    response = await world.client.post("/api/v1/jobs/5/run")
    assert response.status_code == 202
    command_id = world.bus.sent[0].command_id
    assert response.json()["status_url"] == f"/api/v1/commands/{command_id}"

    before = await world.client.get(f"/api/v1/commands/{command_id}")
    assert before.status_code == 404
    assert before.json() == {
        "code": "not_found",
        "message": f"no reply yet for command {command_id}",
        "errors": [],
        "reason": None,
    }

    world.reads.commands[command_id] = record(command_id, "job.run_now", target_id="5", target_version=4, run_id=12)
    after = await world.client.get(response.json()["status_url"])
    assert after.status_code == 200
    assert after.json() == {
        "command_id": str(command_id),
        "command_type": "job.run_now",
        "status": "accepted",
        "target_type": "job",
        "target_id": "5",
        "target_version": 4,
        "run_id": 12,
        "code": None,
        "reason": None,
        "message": None,
        "errors": [],
        "replied_at": "2025-01-02T03:04:05Z",
        "url": "/api/v1/runs/5.12",
    }


@pytest.mark.parametrize(
    ("command_type", "fields", "url"),
    [
        ("job.create", {}, "/api/v1/jobs/42"),
        ("job.update", {}, "/api/v1/jobs/42"),
        ("job.delete", {}, None),
        ("table.define", {"target_type": "table", "target_id": "stores", "target_version": 1}, "/api/v1/tables/stores"),
    ],
)
async def test_an_accepted_command_links_to_its_target(
    world: World, command_type: str, fields: dict[str, Any], url: str | None
) -> None:
    command_id = uuid4()
    world.reads.commands[command_id] = record(command_id, command_type, **fields)
    response = await world.client.get(f"/api/v1/commands/{command_id}")
    assert response.status_code == 200
    assert response.json()["url"] == url


async def test_a_rejection_reads_as_a_timely_one_would_have(world: World) -> None:
    command_id = uuid4()
    errors = (FieldError(field="settings.mapping[1].target", message="no column CITY"),)
    world.reads.commands[command_id] = record(
        command_id,
        "job.create",
        status="rejected",
        target_type=None,
        target_id=None,
        target_version=None,
        code="validation",
        message="the job has 1 error",
        errors=errors,
    )
    body = (await world.client.get(f"/api/v1/commands/{command_id}")).json()
    assert (body["status"], body["code"], body["message"], body["url"]) == (
        "rejected",
        "validation_failed",
        "the job has 1 error",
        None,
    )
    assert body["errors"] == [{"field": "mapping[1].target", "message": "no column CITY"}]


async def test_a_malformed_command_id_is_named(world: World) -> None:
    response = await world.client.get("/api/v1/commands/not-a-uuid")
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["command_id"]
