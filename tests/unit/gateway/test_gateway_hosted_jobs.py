"""Jobs reading from the hosted file server, and the import rules of issue 8 on create, edit and read."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from connect_events import (
    CreateJob,
    FieldError,
    FileRules,
    HostedLocation,
    ImportCustomTable,
    Limits,
    SftpLocation,
    UpdateJob,
)
from connect_gateway.domain.edits import CREDENTIAL_FOR_EXTERNAL
from tests.unit.gateway.gateway_fakes import World, accepted, job_body, stored_job

HOSTED = {"kind": "hosted", "path": "upload/customers_%YYYY%%MM%%DD%.csv"}


def hosted_body(**changes: Any) -> dict[str, Any]:
    return job_body(source=dict(HOSTED), **changes)


def sent_settings(world: World) -> ImportCustomTable:
    [command] = world.bus.sent
    assert isinstance(command, CreateJob | UpdateJob)
    settings = command.payload.definition.settings
    assert isinstance(settings, ImportCustomTable)
    return settings


def store_hosted_job(world: World, **settings: Any) -> None:
    record = stored_job(world)
    hosted = record.definition.settings.model_copy(update={"source": HostedLocation(path="upload/a.csv"), **settings})
    world.reads.jobs[-1] = replace(record, definition=record.definition.model_copy(update={"settings": hosted}))


async def test_a_hosted_job_needs_no_secret_and_pins_no_key(world: World) -> None:
    response = await world.client.post("/api/v1/jobs", json=hosted_body())
    assert response.status_code == 201, response.text
    settings = sent_settings(world)
    assert settings.source == HostedLocation(path="upload/customers_%YYYY%%MM%%DD%.csv")
    assert settings.files.archive_folder == "archive"  # spec §4.1: a hosted file goes to archive/ by default
    assert world.credentials.stored == {} and world.host_keys.asked == []


@pytest.mark.parametrize(
    ("archive", "sent"), [({}, "archive"), ({"archive_folder": None}, None), ({"archive_folder": "done/"}, "done/")]
)
async def test_a_hosted_job_archives_where_the_request_says(
    world: World, archive: dict[str, Any], sent: str | None
) -> None:
    response = await world.client.post("/api/v1/jobs", json=hosted_body(files=archive))
    assert response.status_code == 201, response.text
    assert sent_settings(world).files.archive_folder == sent


async def test_an_external_job_archives_only_when_asked(world: World, user_private_key: str) -> None:
    response = await world.client.post("/api/v1/jobs", json=job_body(user_private_key))
    assert response.status_code == 201, response.text
    assert sent_settings(world).files.archive_folder is None


async def test_a_hosted_source_refuses_the_fields_of_an_external_one(world: World) -> None:
    body = hosted_body()
    body["source"] |= {"host": "sftp.example.com", "password": "s3cret!", "host_key": "ssh-ed25519 AAAA"}
    response = await world.client.post("/api/v1/jobs", json=body)
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"source.host", "source.password", "source.host_key"}
    assert "s3cret!" not in response.text
    assert world.bus.sent == [] and world.credentials.stored == {}


@pytest.mark.parametrize("path", ["/upload/a.csv", "upload/../a.csv", "upload//a.csv", "upload\\a.csv", "a\nb", ""])
async def test_a_hosted_path_must_stay_in_the_tree(world: World, path: str) -> None:
    response = await world.client.post("/api/v1/jobs", json=job_body(source={"kind": "hosted", "path": path}))
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["source.path"]
    assert world.bus.sent == []


@pytest.mark.parametrize("kind", ["ftp", 5, None])
async def test_an_unknown_source_kind_is_refused(world: World, kind: object) -> None:
    response = await world.client.post("/api/v1/jobs", json=job_body(source={"kind": kind, "path": "a.csv"}))
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "source", "message": "kind must be sftp or hosted"}]


async def test_an_explicit_sftp_kind_is_the_external_shape(world: World) -> None:
    body = job_body()
    body["source"] |= {"kind": "sftp", "password": "s3cret!"}
    response = await world.client.post("/api/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    assert isinstance(sent_settings(world).source, SftpLocation)


async def test_an_edit_to_hosted_drops_the_credential_reference(world: World) -> None:
    update = hosted_body(expected_version=3)
    del update["activate"]
    response = await world.client.put("/api/v1/jobs/7", json=update)  # no catalog copy needed: nothing is kept
    assert response.status_code == 200, response.text
    [command] = world.bus.sent
    assert isinstance(command, UpdateJob) and command.payload.expected_version == 3
    assert command.payload.definition.settings.source == HostedLocation(path=HOSTED["path"])
    assert "credential_ref" not in command.model_dump_json()


async def test_an_edit_from_hosted_to_external_needs_a_secret(world: World) -> None:
    store_hosted_job(world)
    update = job_body(expected_version=3)
    del update["activate"]
    response = await world.client.put("/api/v1/jobs/7", json=update)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "source.private_key", "message": CREDENTIAL_FOR_EXTERNAL},
        {"field": "source.password", "message": CREDENTIAL_FOR_EXTERNAL},
    ]
    assert world.bus.sent == []

    update["source"]["password"] = "s3cret!"
    response = await world.client.put("/api/v1/jobs/7", json=update)
    assert response.status_code == 200, response.text
    source = sent_settings(world).source
    assert isinstance(source, SftpLocation) and world.credentials.stored[source.credential_ref].value == "s3cret!"
    assert world.host_keys.asked == [("sftp.example.com", 2222)]  # a new server: its key is read and pinned


async def test_a_hosted_job_reads_back_with_its_kind(world: World) -> None:
    store_hosted_job(world)
    job = (await world.client.get("/api/v1/jobs/7")).json()
    assert job["source"] == {
        "kind": "hosted",
        "path": "upload/a.csv",
        "host": None,
        "port": None,
        "user": None,
        "host_key": None,
        "host_key_fingerprint": None,
    }


def with_rules(body: dict[str, Any]) -> dict[str, Any]:
    body["file"]["decimal_separator"] = ","
    body["mapping"][1]["format"] = "DD/MM/YYYY"
    return body | {
        "truncate_long_text": True,
        "files": {"count_file": "cnt", "ready_file": "ready", "ready_timeout_s": 600, "archive_folder": "archive/old"},
        "limits": {"max_rejected_rows": 10, "max_rejected_percent": 2.5, "min_rows": 1, "max_rows": 1000000},
    }


async def test_the_file_rules_go_into_the_definition(world: World) -> None:
    response = await world.client.post("/api/v1/jobs", json=with_rules(hosted_body()))
    assert response.status_code == 201, response.text
    settings = sent_settings(world)
    assert settings.file.decimal_separator == ","
    assert [m.format for m in settings.mapping] == [None, "DD/MM/YYYY"]
    assert settings.truncate_long_text is True
    assert settings.files == FileRules(
        count_file="cnt", ready_file="ready", ready_timeout_s=600, archive_folder="archive/old"
    )
    assert settings.limits == Limits(max_rejected_rows=10, max_rejected_percent=2.5, min_rows=1, max_rows=1000000)


async def test_without_rules_a_job_has_the_contracts_defaults(world: World) -> None:
    response = await world.client.post("/api/v1/jobs", json=hosted_body())
    assert response.status_code == 201, response.text
    settings = sent_settings(world)
    assert settings.file.decimal_separator == "." and settings.truncate_long_text is False
    assert settings.limits == Limits() and settings.files.ready_timeout_s == 3600


async def test_the_file_rules_read_back(world: World) -> None:
    files = FileRules(count_file="cnt", ready_timeout_s=60, archive_folder="archive")
    limits = Limits(max_rejected_percent=5.0, min_rows=10)
    store_hosted_job(world, truncate_long_text=True, files=files, limits=limits)
    job = (await world.client.get("/api/v1/jobs/7")).json()
    assert job["truncate_long_text"] is True
    assert job["files"] == {"count_file": "cnt", "ready_file": None, "ready_timeout_s": 60, "archive_folder": "archive"}
    assert job["limits"] == {"max_rejected_rows": None, "max_rejected_percent": 5.0, "min_rows": 10, "max_rows": None}
    assert job["file"]["decimal_separator"] == "."


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"files": {"ready_timeout_s": 0}}, "files.ready_timeout_s"),
        ({"files": {"ready_timeout_s": 86401}}, "files.ready_timeout_s"),
        ({"files": {"count_file": ".cnt"}}, "files.count_file"),
        ({"files": {"ready_file": "a/b"}}, "files.ready_file"),
        ({"files": {"archive_folder": "../elsewhere"}}, "files.archive_folder"),
        ({"files": {"archive_folder": "/archive"}}, "files.archive_folder"),
        ({"limits": {"max_rejected_percent": 100.5}}, "limits.max_rejected_percent"),
        ({"limits": {"max_rejected_percent": "5"}}, "limits.max_rejected_percent"),
        ({"limits": {"min_rows": -1}}, "limits.min_rows"),
        ({"limits": {"max_rejected_rows": 1.5}}, "limits.max_rejected_rows"),
        ({"truncate_long_text": "yes"}, "truncate_long_text"),
        ({"file": {"decimal_separator": "'"}}, "file.decimal_separator"),
        ({"mapping": [{"source": "d", "target": "D", "format": "DD/MM\nYYYY"}]}, "mapping[0].format"),
        ({"mapping": [{"source": "d", "target": "D", "format": "D" * 41}]}, "mapping[0].format"),
        ({"mapping": [{"source": "d", "target": "D", "format": ""}]}, "mapping[0].format"),
    ],
)
async def test_the_shapes_of_the_rules_are_checked_before_sending(
    world: World, change: dict[str, Any], field: str
) -> None:
    response = await world.client.post("/api/v1/jobs", json=hosted_body(**change))
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert world.bus.sent == []


async def test_the_schedulers_errors_name_the_requests_fields(world: World) -> None:
    errors = tuple(
        FieldError(field=f"settings.{path}", message="not so")
        for path in ("files.count_file", "limits.min_rows", "truncate_long_text", "mapping[0].format", "source.path")
    )
    world.bus.answer = lambda c: accepted(c, target_id="9", errors=errors, state="inactive")
    response = await world.client.post("/api/v1/jobs", json=hosted_body())
    assert response.status_code == 201, response.text
    fields = [e["field"] for e in response.json()["errors"]]
    assert fields == ["files.count_file", "limits.min_rows", "truncate_long_text", "mapping[0].format", "source.path"]
