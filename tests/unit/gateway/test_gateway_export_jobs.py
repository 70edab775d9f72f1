"""*Export* jobs over `/api/v1/jobs` (spec §5.1-5.2): the request's shape, the settings sent (an external
destination's host key pinned and secret vaulted, as for an import's source), the scheduler's errors in the
request's words, and the job as read (never its secret)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID

import pytest

from connect_events import (
    ApiEndpoint,
    AudienceExport,
    CreateJob,
    CsvOutput,
    ExportApi,
    ExportFile,
    ExportFileRules,
    FieldError,
    HostedLocation,
    ListExport,
    MergeRule,
    PetExport,
    SftpLocation,
    TableExport,
    UpdateJob,
)
from tests.unit.gateway.gateway_fakes import World, accepted, stored_job

SFTP = {"host": "sftp.example.com", "port": 2222, "user": "acme", "path": "out/gold_%YYYY%.csv.gz", "password": "pw"}


def export_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Export gold",
        "type": "export_file",
        "source": {"kind": "audience", "audience": "Gold"},
        "destination": {"kind": "hosted", "path": "download/gold.csv"},
    }
    body.update(changes)
    return body


def sent(world: World) -> ExportFile:
    [command] = world.bus.sent
    assert isinstance(command, CreateJob | UpdateJob)
    settings = command.payload.definition.settings
    assert isinstance(settings, ExportFile)
    return settings


async def test_an_export_to_an_external_server_pins_its_key_and_vaults_its_secret(world: World) -> None:
    body = export_body(
        source={"kind": "list", "list": "Members", "columns": ["EMAIL_ADDRESS_", "CITY_"]},
        destination=SFTP,
        file={
            "delimiter": ";",
            "quote": "always",
            "encoding": "windows-1252",
            "line_ending": "crlf",
            "compression": "gzip",
            "escape_formulas": True,
        },
        files={"count_file": "cnt", "ready_file": "done"},
        incremental=True,
    )
    response = await world.client.post("/api/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    settings = sent(world)
    assert settings.source == ListExport(list_name="Members", columns=("EMAIL_ADDRESS_", "CITY_"))
    assert isinstance(settings.destination, SftpLocation)
    assert (settings.destination.host, settings.destination.path) == ("sftp.example.com", "out/gold_%YYYY%.csv.gz")
    assert settings.destination.host_key == world.host_keys.key
    assert [secret.value for secret in world.credentials.stored.values()] == ["pw"]
    assert settings.file == CsvOutput(
        delimiter=";", quote="always", encoding="windows-1252", line_ending="crlf", compression="gzip",
        escape_formulas=True,
    )  # fmt: skip
    assert (settings.files, settings.incremental) == (ExportFileRules(count_file="cnt", ready_file="done"), True)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({"kind": "audience", "audience": "Gold"}, AudienceExport(audience="Gold")),
        ({"kind": "pet", "pet": "Orders"}, PetExport(pet="Orders", key_columns=("RIID_",))),
        ({"kind": "table", "table": "Stores", "columns": ["ID"]}, TableExport(table="Stores", columns=("ID",))),
    ],
)
async def test_each_source_is_sent_as_the_contract_has_it(world: World, source: dict[str, Any], expected: Any) -> None:
    assert (await world.client.post("/api/v1/jobs", json=export_body(source=source))).status_code == 201
    settings = sent(world)
    assert settings.source == expected
    assert settings.destination == HostedLocation(path="download/gold.csv")
    assert (settings.file, settings.files, settings.incremental) == (CsvOutput(), ExportFileRules(), False)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"source": {"kind": "view", "view": "x"}}, "source"),
        ({"source": {"kind": "table", "table": 'x"; DROP TABLE y'}}, "source.table"),
        ({"source": {"kind": "list", "list": "L", "columns": ["a;b"]}}, "source.columns[0]"),
        ({"destination": {"kind": "hosted", "path": "../etc/passwd"}}, "destination.path"),
        ({"file": {"compression": "bzip2"}}, "file.compression"),
        ({"file": {"line_ending": "cr"}}, "file.line_ending"),
        ({"files": {"count_file": ".cnt"}}, "files.count_file"),
        ({"mapping": []}, "mapping"),
    ],
)
async def test_the_shapes_are_checked_before_sending(world: World, change: dict[str, Any], field: str) -> None:
    response = await world.client.post("/api/v1/jobs", json=export_body(**change))
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert world.bus.sent == []


async def test_the_schedulers_errors_name_the_requests_fields(world: World) -> None:
    errors = (
        FieldError(field="definition.settings.source.audience", message="no audience named Gold"),
        FieldError(field="definition.settings.destination.path", message="wrong"),
        FieldError(field="definition.settings.destination.credential_ref", message="gone"),
        FieldError(field="definition.settings.incremental", message="no"),
        FieldError(field="definition.settings.files.ready_file", message="same"),
    )
    world.bus.answer = lambda c: accepted(c, target_id="9", errors=errors, state="inactive")
    response = await world.client.post("/api/v1/jobs", json=export_body())
    assert response.status_code == 201
    assert [e["field"] for e in response.json()["errors"]] == [
        "source.audience",
        "destination.path",
        "destination.private_key",
        "incremental",
        "files.ready_file",
    ]


async def test_an_export_job_reads_back_without_its_secret(world: World) -> None:
    record = stored_job(world)
    location = record.definition.settings.source  # type: ignore[union-attr]
    settings = ExportFile(
        source=PetExport(pet="Orders", key_columns=("EMAIL_ADDRESS_",)),
        destination=location,
        file=CsvOutput(compression="zip"),
        files=ExportFileRules(count_file="cnt"),
    )
    definition = record.definition.model_copy(update={"settings": settings})
    world.reads.jobs[-1] = replace(record, job_type="export_file", definition=definition)
    shown = (await world.client.get(f"/api/v1/jobs/{record.job_id}")).json()
    assert shown["source"] == {
        "kind": "pet", "pet": "Orders", "key_columns": ["EMAIL_ADDRESS_"], "columns": [],
        "list": None, "audience": None, "table": None,
    }  # fmt: skip
    assert shown["destination"]["host"] == "sftp.example.com"
    assert "credential_ref" not in str(shown) and "00000000-0000-0000-0000-00000000000a" not in str(shown)
    assert (shown["file"]["compression"], shown["files"], shown["incremental"]) == (
        "zip", {"count_file": "cnt", "ready_file": None}, False,
    )  # fmt: skip


async def test_an_edit_without_a_secret_keeps_the_stored_one(world: World) -> None:
    record = stored_job(world)
    location = record.definition.settings.source  # type: ignore[union-attr]
    settings = ExportFile(source=TableExport(table="Stores"), destination=location)
    definition = record.definition.model_copy(update={"settings": settings})
    world.reads.jobs[-1] = replace(record, job_type="export_file", definition=definition)
    destination = {"host": "sftp.example.com", "port": 2222, "user": "acme", "path": "out/new.csv"}
    body = export_body(destination=destination, expected_version=record.version)
    response = await world.client.put(f"/api/v1/jobs/{record.job_id}", json=body)
    assert response.status_code == 200, response.text
    kept = sent(world).destination
    assert isinstance(kept, SftpLocation) and isinstance(location, SftpLocation)
    assert (kept.credential_ref, kept.host_key, kept.path) == (
        location.credential_ref,
        location.host_key,
        "out/new.csv",
    )
    assert world.credentials.stored == {}


def api_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Push gold",
        "type": "export_api",
        "source": {"kind": "audience", "audience": "Gold"},
        "endpoint": {"url": "https://login.example.com", "user": "api-user", "password": "s3cret"},
        "remote_list": "CONTACTS",
    }
    body.update(changes)
    return body


async def test_an_export_to_a_marketing_api_vaults_its_password(world: World) -> None:
    merge = {"match_column_1": "CUSTOMER_ID_", "update_on_match": "NO_UPDATE", "reject_if_channel_empty": ["E"]}
    response = await world.client.post("/api/v1/jobs", json=api_body(merge=merge, incremental=True))
    assert response.status_code == 201, response.text
    [command] = world.bus.sent
    assert isinstance(command, CreateJob)
    settings = command.payload.definition.settings
    assert isinstance(settings, ExportApi)
    assert (settings.source, settings.remote_list, settings.incremental) == (
        AudienceExport(audience="Gold"),
        "CONTACTS",
        True,
    )
    assert settings.merge == MergeRule(
        match_column_1="CUSTOMER_ID_", update_on_match="NO_UPDATE", reject_if_channel_empty=("E",)
    )
    assert (settings.endpoint.url, settings.endpoint.user) == ("https://login.example.com", "api-user")
    assert [(s.kind, s.value) for s in world.credentials.stored.values()] == [("password", "s3cret")]
    assert "s3cret" not in command.model_dump_json()


async def test_a_new_api_export_needs_its_password_and_an_edit_keeps_it(world: World) -> None:
    missing = await world.client.post("/api/v1/jobs", json=api_body(endpoint={"url": "https://x.example", "user": "u"}))
    assert missing.status_code == 422
    assert [e["field"] for e in missing.json()["errors"]] == ["endpoint.password"]
    record = stored_job(world)
    endpoint = ApiEndpoint(url="https://login.example.com", user="api-user", credential_ref=UUID(int=5))
    settings = ExportApi(source=ListExport(list_name="Members"), endpoint=endpoint, remote_list="CONTACTS")
    definition = record.definition.model_copy(update={"settings": settings})
    world.reads.jobs[-1] = replace(record, job_type="export_api", definition=definition)
    same = {"url": "https://login.example.com/", "user": "api-user"}
    kept = await world.client.put(
        f"/api/v1/jobs/{record.job_id}", json=api_body(endpoint=same, expected_version=record.version)
    )
    assert kept.status_code == 200, kept.text
    [command] = world.bus.sent
    assert isinstance(command, UpdateJob) and isinstance(command.payload.definition.settings, ExportApi)
    assert command.payload.definition.settings.endpoint.credential_ref == UUID(int=5)
    other = {"url": "https://other.example.com", "user": "api-user"}
    moved = await world.client.put(
        f"/api/v1/jobs/{record.job_id}", json=api_body(endpoint=other, expected_version=record.version)
    )
    assert moved.status_code == 422
    assert moved.json()["errors"] == [
        {"field": "endpoint.password", "message": "give the password again when the URL or user changes"}
    ]
    shown = (await world.client.get(f"/api/v1/jobs/{record.job_id}")).json()
    assert shown["endpoint"] == {"url": "https://login.example.com", "user": "api-user", "calls_per_minute": 60}
    assert shown["merge"]["match_column_1"] == "EMAIL_ADDRESS_" and "credential_ref" not in str(shown)


async def test_an_api_export_turned_into_a_file_export_needs_a_secret_and_gets_one(world: World) -> None:
    record = stored_job(world)
    endpoint = ApiEndpoint(url="https://login.example.com", user="api-user", credential_ref=UUID(int=5))
    settings = ExportApi(source=ListExport(list_name="Members"), endpoint=endpoint, remote_list="CONTACTS")
    definition = record.definition.model_copy(update={"settings": settings})
    world.reads.jobs[-1] = replace(record, job_type="export_api", definition=definition)
    destination = {"host": "sftp.example.com", "port": 2222, "user": "acme", "path": "out/p.csv"}
    body = export_body(destination=destination, expected_version=record.version)
    without = await world.client.put(f"/api/v1/jobs/{record.job_id}", json=body)
    assert without.status_code == 422
    assert [e["field"] for e in without.json()["errors"]] == ["destination.private_key", "destination.password"]
    with_secret = {**body, "destination": {**destination, "password": "pw"}}
    answer = await world.client.put(f"/api/v1/jobs/{record.job_id}", json=with_secret)
    assert answer.status_code == 200, answer.text
    assert isinstance(sent(world).destination, SftpLocation)
