"""*Import analytics feed* jobs over `/api/v1/jobs` (spec §6): the request's shape, the settings sent (the SFTP
folder's host key pinned and its secret vaulted, as for any external source), the scheduler's errors in the
request's words, the job as read (never its secret), and the partner refusals answered with their codes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID

from connect_cli import definitions
from connect_events import ColumnMapping, CreateJob, FieldError, ImportAnalyticsFeed, Limits, UpdateJob
from tests.unit.gateway.gateway_fakes import World, accepted, stored_job

SFTP = {"host": "sftp.example.com", "port": 2222, "user": "acme", "path": "feeds/shop", "password": "pw"}


def feed_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Shop feed",
        "type": "import_analytics_feed",
        "source": SFTP,
        "report_suite": "shop",
        "target": {"table": "Hits"},
        "mapping": [{"source": "hitid_high", "target": "hit"}, {"source": "browser", "target": "browser"}],
        "schedule": {"kind": "daily", "time": "06:00", "time_zone": "Europe/Berlin"},
    }
    body.update(changes)
    return body


def sent(world: World) -> ImportAnalyticsFeed:
    [command] = world.bus.sent
    assert isinstance(command, CreateJob | UpdateJob)
    settings = command.payload.definition.settings
    assert isinstance(settings, ImportAnalyticsFeed)
    return settings


async def test_a_feed_job_pins_the_servers_key_and_vaults_its_secret(world: World) -> None:
    body = feed_body(
        granularity="hourly",
        labels=["browser"],
        drop_data_source_hits=True,
        target={"table": "Hits", "write_mode": "append"},
        limits={"max_rejected_percent": 5},
    )
    response = await world.client.post("/api/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    settings = sent(world)
    assert (settings.report_suite, settings.granularity, settings.table, settings.write_mode) == (
        "shop",
        "hourly",
        "Hits",
        "append",
    )
    assert settings.mapping == (
        ColumnMapping(source="hitid_high", target="hit"),
        ColumnMapping(source="browser", target="browser"),
    )
    assert (settings.labels, settings.drop_data_source_hits, settings.limits) == (
        ("browser",),
        True,
        Limits(max_rejected_percent=5),
    )
    assert (settings.source.host, settings.source.path, settings.source.host_key) == (
        "sftp.example.com",
        "feeds/shop",
        world.host_keys.key,
    )
    assert [(s.kind, s.value) for s in world.credentials.stored.values()] == [("password", "pw")]
    assert '"pw"' not in sent(world).model_dump_json()


async def test_a_feed_job_reads_from_an_external_server_only(world: World) -> None:
    response = await world.client.post("/api/v1/jobs", json=feed_body(source={"kind": "hosted", "path": "upload/"}))
    assert response.status_code == 422
    assert world.bus.sent == []


async def test_the_schedulers_errors_name_the_requests_fields(world: World) -> None:
    errors = (
        FieldError(field="settings.report_suite", message="a report suite id"),
        FieldError(field="settings.labels[0]", message="map browser to load its names"),
        FieldError(field="settings.table", message="no table named Hits"),
    )
    world.bus.answer = lambda c: accepted(c, target_id="9", errors=errors, state="inactive")
    response = await world.client.post("/api/v1/jobs", json=feed_body())
    assert response.status_code == 201, response.text
    assert response.json()["errors"] == [
        {"field": "report_suite", "message": "a report suite id"},
        {"field": "labels[0]", "message": "map browser to load its names"},
        {"field": "target.table", "message": "no table named Hits"},
    ]


async def test_a_feed_job_is_read_back_without_its_secret_and_edited_keeping_it(world: World) -> None:
    record = stored_job(world)
    location = record.definition.settings.source  # type: ignore[union-attr]
    settings = ImportAnalyticsFeed(
        source=location.model_copy(update={"path": "feeds/shop"}),
        report_suite="shop",
        table="Hits",
        mapping=(ColumnMapping(source="post_evar12", target="customer"),),
        labels=(),
    )
    definition = record.definition.model_copy(update={"settings": settings})
    world.reads.jobs[-1] = replace(record, job_type="import_analytics_feed", definition=definition)

    shown = (await world.client.get(f"/api/v1/jobs/{record.job_id}")).json()
    assert shown["type"] == "import_analytics_feed" and shown["report_suite"] == "shop"
    assert shown["granularity"] == "daily" and shown["labels"] == [] and shown["target"]["table"] == "Hits"
    assert shown["source"]["path"] == "feeds/shop" and "credential_ref" not in str(shown)
    assert shown["mapping"] == [{"source": "post_evar12", "target": "customer", "format": None}]

    source = {k: v for k, v in SFTP.items() if k != "password"} | {"port": 2222}
    edited = await world.client.put(
        f"/api/v1/jobs/{record.job_id}",
        json=feed_body(source=source, expected_version=record.version, report_suite="shop2"),
    )
    assert edited.status_code == 200, edited.text
    assert sent(world).source.credential_ref == UUID("00000000-0000-0000-0000-00000000000a")
    assert sent(world).report_suite == "shop2"


async def test_jobs_are_listed_by_the_feed_type(world: World) -> None:
    response = await world.client.get("/api/v1/jobs", params={"type": "import_analytics_feed"})
    assert response.status_code == 200, response.text


async def test_a_feed_job_may_load_a_pet_found_by_its_match_column(world: World) -> None:
    mapping = [{"source": "post_evar12", "target": "CUSTOMER_ID_"}, {"source": "post_pagename", "target": "PAGE"}]
    body = feed_body(target={"pet": "Visits", "match_column": "EMAIL_ADDRESS_"}, mapping=mapping)
    response = await world.client.post("/api/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    settings = sent(world)
    assert (settings.pet, settings.match_column, settings.table) == ("Visits", "EMAIL_ADDRESS_", "")


async def test_a_pet_target_takes_only_its_own_fields(world: World) -> None:
    response = await world.client.post("/api/v1/jobs", json=feed_body(target={"pet": "Visits", "write_mode": "merge"}))
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["target.write_mode"]
    assert world.bus.sent == []


async def test_a_pet_target_is_read_back(world: World) -> None:
    record = stored_job(world)
    location = record.definition.settings.source  # type: ignore[union-attr]
    settings = ImportAnalyticsFeed(
        source=location, report_suite="shop", pet="Visits", mapping=(ColumnMapping(source="a", target="B"),)
    )
    definition = record.definition.model_copy(update={"settings": settings})
    world.reads.jobs[-1] = replace(record, job_type="import_analytics_feed", definition=definition)
    shown = (await world.client.get(f"/api/v1/jobs/{record.job_id}")).json()
    assert shown["target"] == {"pet": "Visits", "match_column": "CUSTOMER_ID_"}


async def test_the_clis_yaml_definition_of_a_feed_job_is_accepted_back(world: World) -> None:
    """`connect jobs export` projects the job onto the API's update schema; `apply` sends that back unchanged."""
    record = stored_job(world)
    stored = record.definition.settings.source  # type: ignore[union-attr]
    location = stored.model_copy(update={"host_key": world.host_keys.key})
    for target in ({"pet": "Visits"}, {"table": "Hits", "write_mode": "append"}):
        settings = ImportAnalyticsFeed(
            source=location,
            report_suite="shop",
            mapping=(ColumnMapping(source="post_evar12", target="CUSTOMER_ID_"),),
            labels=(),
            **target,  # type: ignore[arg-type]
        )
        definition = record.definition.model_copy(update={"settings": settings})
        world.reads.jobs[-1] = replace(record, job_type="import_analytics_feed", definition=definition)
        document = (await world.client.get("/openapi.json")).json()
        shown = (await world.client.get(f"/api/v1/jobs/{record.job_id}")).json()
        body = definitions.definition_of(shown, document) | {"expected_version": record.version}
        world.bus.sent.clear()
        answer = await world.client.put(f"/api/v1/jobs/{record.job_id}", json=body)
        assert answer.status_code == 200, answer.text
        assert sent(world).model_dump(exclude={"source"}) == settings.model_dump(exclude={"source"})
        assert sent(world).source.credential_ref == location.credential_ref  # the secret kept
