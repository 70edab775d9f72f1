"""POST/PUT/... /api/v1/jobs: request body -> command, reply -> status, secrets -> vault only."""

from __future__ import annotations

from uuid import UUID

import asyncssh

from connect_events import (
    ActivateJob,
    CreateJob,
    DeactivateJob,
    DeleteJob,
    FieldError,
    Role,
    RunJobNow,
    UpdateJob,
)
from tests.unit.gateway.gateway_fakes import World, accepted, job_body, rejected, stored_job


async def test_create_job_maps_the_body_to_a_create_job_command(
    world: World, user_private_key: str, server_key: asyncssh.SSHKey
) -> None:
    world.bus.answer = lambda c: accepted(c, target_id="42", version=2)

    response = await world.client.post(
        "/api/v1/jobs", json=job_body(user_private_key), headers={"X-Connect-User": "ann"}
    )  # a forged actor header, ignored: the actor is the token's user

    assert response.status_code == 201, response.text
    assert response.json() == {
        "job_id": 42,
        "version": 2,
        "url": "/api/v1/jobs/42",
        "state": "active",
        "errors": [],
    }
    assert response.headers["location"] == "/api/v1/jobs/42"
    [command] = world.bus.sent
    assert isinstance(command, CreateJob)
    assert command.actor == "ada"
    assert command.partition_key == "new"
    assert command.payload.activate is True
    definition = command.payload.definition
    assert (definition.name, definition.description) == ("Import stores", "nightly")
    settings = definition.settings
    assert (settings.table, settings.write_mode) == ("Stores", "append")
    assert (settings.insert_on_no_match, settings.update_on_match) == (True, False)
    assert [(m.source, m.target) for m in settings.mapping] == [("id", "STORE_ID"), ("city", "CITY")]
    assert (settings.file.delimiter, settings.file.encoding) == (";", "iso-8859-1")
    source = settings.source
    assert (source.host, source.port, source.user, source.path) == (
        "sftp.example.com",
        2222,
        "acme",
        "upload/stores.csv",
    )
    assert source.host_key == server_key.export_public_key("openssh").decode().strip()
    assert source.host_key_fingerprint == server_key.get_fingerprint("sha256")
    assert world.host_keys.asked == [("sftp.example.com", 2222)]
    secret = world.credentials.stored[source.credential_ref]
    assert (secret.kind, secret.value) == ("private_key", user_private_key)
    assert user_private_key not in command.model_dump_json()
    assert user_private_key not in response.text


async def test_each_command_gets_fresh_ids_and_the_callers_name_as_actor(world: World) -> None:
    async with world.client_as(Role.DATA_DIRECTOR) as dora:
        await dora.post("/api/v1/jobs/3/activate")
        await dora.post("/api/v1/jobs/3/activate")
    first, second = world.bus.sent
    assert first.actor == second.actor == "dora"
    assert first.command_id != second.command_id
    assert first.correlation_id != second.correlation_id


async def test_a_password_is_vaulted_as_a_password(world: World) -> None:
    body = job_body()
    body["source"]["password"] = "s3cret!"
    response = await world.client.post("/api/v1/jobs", json=body)
    assert response.status_code == 201
    [secret] = world.credentials.stored.values()
    assert (secret.kind, secret.value) == ("password", "s3cret!")
    assert "s3cret!" not in world.bus.sent[0].model_dump_json()


async def test_both_key_and_password_is_refused_before_anything_is_stored(world: World, user_private_key: str) -> None:
    body = job_body(user_private_key)
    body["source"]["password"] = "s3cret!"
    response = await world.client.post("/api/v1/jobs", json=body)
    assert response.status_code == 422
    error = response.json()
    assert error["code"] == "validation_failed"
    assert {e["field"] for e in error["errors"]} == {"source.private_key", "source.password"}
    assert world.bus.sent == [] and world.credentials.stored == {} and world.host_keys.asked == []
    assert "s3cret!" not in response.text and user_private_key not in response.text


async def test_neither_key_nor_password_is_refused(world: World) -> None:
    response = await world.client.post("/api/v1/jobs", json=job_body())
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"source.private_key", "source.password"}


async def test_an_unusable_private_key_names_the_field(world: World) -> None:
    response = await world.client.post("/api/v1/jobs", json=job_body("-----BEGIN NONSENSE-----"))
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["source.private_key"]
    assert "BEGIN NONSENSE" not in response.text


async def test_an_unreachable_host_is_a_field_error(world: World, user_private_key: str) -> None:
    world.host_keys.unreachable = "Connection refused"
    response = await world.client.post("/api/v1/jobs", json=job_body(user_private_key))
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error == {"field": "source.host", "message": "cannot reach sftp.example.com:2222: Connection refused"}
    assert world.bus.sent == [] and world.credentials.stored == {}


async def test_a_given_host_key_is_pinned_without_asking_the_server(world: World, user_private_key: str) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    body = job_body(user_private_key)
    body["source"]["host_key"] = key.export_public_key("openssh").decode().strip() + " root@sftp"
    response = await world.client.post("/api/v1/jobs", json=body)
    assert response.status_code == 201
    source = world.bus.sent[0].payload.definition.settings.source  # type: ignore[attr-defined]
    assert source.host_key_fingerprint == key.get_fingerprint("sha256")
    assert "root@sftp" not in source.host_key
    assert world.host_keys.asked == []


async def test_a_malformed_host_key_is_refused(world: World, user_private_key: str) -> None:
    body = job_body(user_private_key)
    body["source"]["host_key"] = "ssh-ed25519 not-base64"
    response = await world.client.post("/api/v1/jobs", json=body)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["source.host_key"]


async def test_a_rejected_command_passes_the_field_errors_and_drops_the_credential(
    world: World, user_private_key: str
) -> None:
    errors = (
        FieldError(field="settings.mapping[1].target", message="no column CITY in table Stores"),
        FieldError(field="name", message="already used by job 3"),
        FieldError(field="settings.table", message="no such table"),
    )
    world.bus.answer = lambda c: rejected(c, "validation", "the job has 3 errors", errors)

    response = await world.client.post("/api/v1/jobs", json=job_body(user_private_key))

    assert response.status_code == 422
    assert response.json() == {
        "code": "validation_failed",
        "message": "the job has 3 errors",
        "errors": [
            {"field": "mapping[1].target", "message": "no column CITY in table Stores"},
            {"field": "name", "message": "already used by job 3"},
            {"field": "target.table", "message": "no such table"},
        ],
        "reason": None,
    }
    assert world.credentials.stored == {}
    assert len(world.credentials.deleted) == 1


async def test_no_reply_in_time_answers_pending_and_keeps_the_credential(world: World, user_private_key: str) -> None:
    world.bus.answer = lambda c: None
    response = await world.client.post("/api/v1/jobs", json=job_body(user_private_key))
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending"
    assert body["command_id"] == str(world.bus.sent[0].command_id)
    assert len(world.credentials.stored) == 1


async def test_update_keeps_the_stored_secret_and_pinned_key(world: World) -> None:
    current = stored_job(world)
    body = job_body(expected_version=3)
    del body["activate"]
    response = await world.client.put("/api/v1/jobs/7", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["job_id"] == 7
    [command] = world.bus.sent
    assert isinstance(command, UpdateJob)
    assert (command.payload.job_id, command.payload.expected_version) == (7, 3)
    assert command.partition_key == "7"
    new_source = command.payload.definition.settings.source
    old_source = current.definition.settings.source
    assert new_source.credential_ref == old_source.credential_ref
    assert (new_source.host_key, new_source.host_key_fingerprint) == (old_source.host_key, "SHA256:old")
    assert new_source.path == "upload/stores.csv"
    assert world.host_keys.asked == [] and world.credentials.stored == {}


async def test_update_to_another_server_pins_its_key(world: World, server_key: asyncssh.SSHKey) -> None:
    stored_job(world, host="old.example.com", version=2)  # lagging, but nothing is kept from it
    body = job_body(expected_version=3)
    body["source"]["password"] = "s3cret!"
    del body["activate"]
    response = await world.client.put("/api/v1/jobs/7", json=body)
    assert response.status_code == 200, response.text
    source = world.bus.sent[0].payload.definition.settings.source  # type: ignore[attr-defined]
    assert source.host_key_fingerprint == server_key.get_fingerprint("sha256")
    assert world.credentials.stored[source.credential_ref].value == "s3cret!"


async def test_update_with_a_new_secret_vaults_it_and_a_stale_version_is_a_conflict(
    world: World, user_private_key: str
) -> None:
    stored_job(world)
    world.bus.answer = lambda c: rejected(c, "conflict", "job 7 is at version 4, not 3")
    body = job_body(user_private_key, expected_version=3)
    del body["activate"]
    response = await world.client.put("/api/v1/jobs/7", json=body)
    assert response.status_code == 409
    assert response.json() == {
        "code": "conflict",
        "message": "job 7 is at version 4, not 3",
        "errors": [],
        "reason": None,
    }
    new_ref = world.bus.sent[0].payload.definition.settings.source.credential_ref  # type: ignore[attr-defined]
    assert new_ref != UUID("00000000-0000-0000-0000-00000000000a")
    assert world.credentials.deleted == [new_ref]


async def test_update_of_an_unknown_job_without_secret_is_not_found(world: World) -> None:
    body = job_body(expected_version=1)
    del body["activate"]
    response = await world.client.put("/api/v1/jobs/99", json=body)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert world.bus.sent == []


async def test_update_needs_expected_version(world: World) -> None:
    body = job_body()
    del body["activate"]
    response = await world.client.put("/api/v1/jobs/7", json=body)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["expected_version"]


async def test_lifecycle_commands(world: World) -> None:
    world.bus.answer = lambda c: accepted(c, target_id="5", version=9)
    assert (await world.client.post("/api/v1/jobs/5/activate?expected_version=8")).status_code == 200
    assert (await world.client.post("/api/v1/jobs/5/deactivate")).status_code == 200
    deleted = await world.client.delete("/api/v1/jobs/5")
    assert deleted.status_code == 200
    assert deleted.json() == {"job_id": 5, "version": 9, "url": "/api/v1/jobs/5", "state": None, "errors": []}
    activate, deactivate, delete = world.bus.sent
    assert isinstance(activate, ActivateJob) and activate.payload.expected_version == 8
    assert isinstance(deactivate, DeactivateJob) and deactivate.payload.expected_version is None
    assert isinstance(delete, DeleteJob) and delete.payload.job_id == 5


async def test_run_now_answers_202_with_the_run(world: World) -> None:
    world.bus.answer = lambda c: accepted(c, target_id="5", version=4, run_id=12)
    response = await world.client.post("/api/v1/jobs/5/run", headers={"Idempotency-Key": "nightly-2025-01-02"})
    assert response.status_code == 202
    assert response.json() == {"job_id": 5, "run_id": 12, "run": "5.12", "status_url": "/api/v1/runs/5.12"}
    [command] = world.bus.sent
    assert isinstance(command, RunJobNow)
    assert command.payload.idempotency_key == "nightly-2025-01-02"
    assert command.partition_key == "5"


async def test_run_of_an_inactive_job_is_invalid_state(world: World) -> None:
    world.bus.answer = lambda c: rejected(c, "invalid_state", "job 5 is inactive")
    response = await world.client.post("/api/v1/jobs/5/run")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"


async def test_unknown_job_is_not_found(world: World) -> None:
    world.bus.answer = lambda c: rejected(c, "not_found", "job 5 not found")
    response = await world.client.post("/api/v1/jobs/5/deactivate")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "job 5 not found", "errors": [], "reason": None}


async def test_pending_run(world: World) -> None:
    world.bus.answer = lambda c: None
    response = await world.client.post("/api/v1/jobs/5/run")
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
