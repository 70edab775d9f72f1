"""PUT /api/v1/jobs/{id}: what an edit may keep from the catalog's copy of the job, and when."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncssh
import pytest

from connect_events import UpdateJob
from tests.unit.gateway.gateway_fakes import World, job_body, stored_job

OLD_REF = UUID("00000000-0000-0000-0000-00000000000a")
CREDENTIAL_AGAIN = "give the credential again when host, port or user changes"


def update_body(expected_version: int = 3, **source: Any) -> dict[str, Any]:
    body = job_body(expected_version=expected_version)
    del body["activate"]
    body["source"].update(source)
    return body


async def test_a_lagging_read_model_is_a_conflict_to_retry(world: World) -> None:
    stored_job(world, version=2)  # the scheduler is at 3 (e.g. a rotated key), the catalog not yet
    response = await world.client.put("/api/v1/jobs/7", json=update_body())
    assert response.status_code == 409
    assert response.json() == {
        "code": "conflict",
        "message": "job 7 is still being updated (read model at version 2, request based on 3); retry",
        "errors": [],
        "reason": None,
    }
    assert world.bus.sent == []


async def test_an_edit_of_an_older_version_is_stale(world: World) -> None:
    stored_job(world, version=4)
    response = await world.client.put("/api/v1/jobs/7", json=update_body())
    assert response.status_code == 409
    body = response.json()
    assert (body["code"], body["reason"], body["errors"]) == ("conflict", "STALE_VERSION", [])
    assert body["message"].startswith("job 7 is at version 4, not 3")
    assert world.bus.sent == []


async def test_keeping_the_pinned_key_also_needs_the_current_version(world: World, user_private_key: str) -> None:
    stored_job(world, version=2)
    response = await world.client.put("/api/v1/jobs/7", json=update_body(private_key=user_private_key))
    assert response.status_code == 409
    assert response.json()["message"].startswith("job 7 is still being updated")
    assert world.bus.sent == [] and world.credentials.stored == {}


async def test_a_new_secret_and_host_key_need_nothing_from_the_read_model(world: World, user_private_key: str) -> None:
    stored_job(world, version=2)
    key = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode().strip()
    response = await world.client.put("/api/v1/jobs/7", json=update_body(private_key=user_private_key, host_key=key))
    assert response.status_code == 200, response.text
    [command] = world.bus.sent
    assert isinstance(command, UpdateJob)
    assert command.payload.definition.settings.source.credential_ref != OLD_REF


@pytest.mark.parametrize("change", [{"host": "evil.example.com"}, {"port": 22}, {"user": "mallory"}])
async def test_a_new_login_needs_the_credential_again(world: World, change: dict[str, Any]) -> None:
    stored_job(world)
    response = await world.client.put("/api/v1/jobs/7", json=update_body(**change))
    assert response.status_code == 422
    assert response.json() == {
        "code": "validation_failed",
        "message": CREDENTIAL_AGAIN,
        "errors": [
            {"field": "source.private_key", "message": CREDENTIAL_AGAIN},
            {"field": "source.password", "message": CREDENTIAL_AGAIN},
        ],
        "reason": None,
    }
    assert world.bus.sent == [] and world.host_keys.asked == []


async def test_the_host_name_is_compared_without_case(world: World) -> None:
    stored_job(world)
    response = await world.client.put("/api/v1/jobs/7", json=update_body(host="SFTP.Example.COM"))
    assert response.status_code == 200, response.text
    [command] = world.bus.sent
    assert isinstance(command, UpdateJob)
    assert command.payload.definition.settings.source.credential_ref == OLD_REF
