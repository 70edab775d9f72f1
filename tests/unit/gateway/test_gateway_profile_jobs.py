"""*Import profile data* jobs over `/api/v1/jobs` (spec §4.3, ADR 0011): the request's shape, the settings sent,
the scheduler's errors in the request's words, and the job and its runs as read."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from connect_events import (
    ColumnMapping,
    CreateJob,
    EmailFormatMapping,
    FieldError,
    HostedLocation,
    ImportProfileData,
    PermissionMapping,
    PetImport,
    RunCounts,
    UpdateJob,
)
from tests.unit.gateway.gateway_fakes import World, accepted, stored_job
from tests.unit.gateway.test_gateway_tables_and_reads import run

HOSTED = {"kind": "hosted", "path": "upload/customers.csv"}


def profile_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Import customers",
        "type": "import_profile_data",
        "source": dict(HOSTED),
        "target": {"list": "Customers"},
        "mapping": [{"source": "email", "target": "EMAIL_ADDRESS_"}],
    }
    body.update(changes)
    return body


FULL = profile_body(
    target={
        "list": "Customers",
        "match_column_1": "CUSTOMER_ID_",
        "match_column_2": "EMAIL_ADDRESS_",
        "insert_on_no_match": False,
        "update_on_match": True,
    },
    mapping=[
        {"source": "id", "target": "CUSTOMER_ID_"},
        {"source": "email", "target": "EMAIL_ADDRESS_"},
        {"source": "since", "target": "SINCE", "format": "DD/MM/YYYY"},
    ],
    pets=[{"pet": "Purchases", "mapping": [{"source": "last", "target": "LAST_ORDER"}]}],
    email_permission={"opt_in": ["1", "yes"], "opt_out": ["0"], "default": "I"},
    mobile_permission={"opt_in": ["Y"], "opt_out": ["N"]},
    email_format={"html": ["html"], "text": ["plain"], "default": "T"},
    reject_if_channel_empty=["E", "M"],
    email_check="basic",
    mobile_mode="local",
    mobile_country="GB",
    truncate_long_text=True,
    limits={"max_rejected_rows": 10},
)


def sent_settings(world: World) -> ImportProfileData:
    [command] = world.bus.sent
    assert isinstance(command, CreateJob | UpdateJob)
    settings = command.payload.definition.settings
    assert isinstance(settings, ImportProfileData)
    return settings


def store_profile_job(world: World) -> None:
    record = stored_job(world)
    body = FULL
    settings = ImportProfileData(
        source=HostedLocation(path="upload/customers.csv"),
        list_name="Customers",
        mapping=(ColumnMapping(source="email", target="EMAIL_ADDRESS_"),),
        pets=(PetImport(pet="Purchases", mapping=(ColumnMapping(source="last", target="LAST_ORDER"),)),),
        match_column_2="CUSTOMER_ID_",
        update_on_match=False,
        email_permission=PermissionMapping(opt_in=tuple(body["email_permission"]["opt_in"]), opt_out=("0",)),
        reject_if_channel_empty=("P",),
        mobile_mode="local",
        mobile_country="NL",
    )
    definition = record.definition.model_copy(update={"settings": settings})
    world.reads.jobs[-1] = replace(record, job_type="import_profile_data", definition=definition)


async def test_a_profile_job_sends_every_setting_of_the_request(world: World) -> None:
    world.bus.answer = lambda c: accepted(c, target_id="42")
    response = await world.client.post("/api/v1/jobs", json=FULL)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/api/v1/jobs/42"
    settings = sent_settings(world)
    assert settings.source == HostedLocation(path="upload/customers.csv")
    assert (settings.list_name, settings.match_column_1, settings.match_column_2) == (
        "Customers",
        "CUSTOMER_ID_",
        "EMAIL_ADDRESS_",
    )
    assert (settings.insert_on_no_match, settings.update_on_match) == (False, True)
    assert settings.mapping[2] == ColumnMapping(source="since", target="SINCE", format="DD/MM/YYYY")
    assert settings.pets == (PetImport(pet="Purchases", mapping=(ColumnMapping(source="last", target="LAST_ORDER"),)),)
    assert settings.email_permission == PermissionMapping(opt_in=("1", "yes"), opt_out=("0",), default="I")
    assert settings.mobile_permission == PermissionMapping(opt_in=("Y",), opt_out=("N",))
    assert settings.email_format == EmailFormatMapping(html=("html",), text=("plain",), default="T")
    assert settings.reject_if_channel_empty == ("E", "M")
    assert (settings.email_check, settings.mobile_mode, settings.mobile_country) == ("basic", "local", "GB")
    assert settings.truncate_long_text and settings.limits.max_rejected_rows == 10
    assert settings.files.archive_folder == "archive"  # hosted: archived unless the request says otherwise


async def test_a_minimal_profile_job_has_the_contracts_defaults(world: World) -> None:
    assert (await world.client.post("/api/v1/jobs", json=profile_body())).status_code == 201
    settings = sent_settings(world)
    defaults = ImportProfileData(source=settings.source, list_name="Customers", mapping=settings.mapping)
    assert settings.model_copy(update={"files": defaults.files}) == defaults


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"target": {"list": "Customers", "match_column_1": "CITY_"}}, "target.match_column_1"),
        ({"target": {"list": "Customers", "match_column_2": "email"}}, "target.match_column_2"),
        ({"target": {"list": "Customers", "table": "Stores"}}, "target.table"),
        ({"target": {"list": "1st"}}, "target.list"),
        ({"reject_if_channel_empty": ["X"]}, "reject_if_channel_empty[0]"),
        ({"mobile_country": "gb"}, "mobile_country"),
        ({"mobile_mode": "national"}, "mobile_mode"),
        ({"email_check": "none"}, "email_check"),
        ({"email_permission": {"opt_in": [""]}}, "email_permission.opt_in[0]"),
        ({"email_permission": {"default": "U"}}, "email_permission.default"),
        ({"email_format": {"default": "U"}}, "email_format.default"),
        ({"pets": [{"pet": "Purchases", "mapping": []}]}, "pets[0].mapping"),
        ({"pets": [{"pet": "Purchases"}]}, "pets[0].mapping"),
        ({"write_mode": "append"}, "write_mode"),
    ],
)
async def test_the_shapes_are_checked_before_sending(world: World, change: dict[str, Any], field: str) -> None:
    response = await world.client.post("/api/v1/jobs", json=profile_body(**change))
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert world.bus.sent == []


ONE_OF_JOB_TYPES = (
    "must be one of 'import_custom_table', 'import_profile_data', 'export_file', 'export_api' or"
    " 'import_analytics_feed'"
)


@pytest.mark.parametrize(
    ("job_type", "message"),
    [
        ("export", ONE_OF_JOB_TYPES),
        (5, ONE_OF_JOB_TYPES),
        (None, "is required"),
    ],
)
async def test_a_job_type_is_one_of_ours(world: World, job_type: object, message: str) -> None:
    body = profile_body(type=job_type)
    if job_type is None:
        del body["type"]
    response = await world.client.post("/api/v1/jobs", json=body)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "type", "message": message}]


async def test_the_schedulers_errors_name_the_requests_fields(world: World) -> None:
    errors = tuple(
        FieldError(field=path, message="wrong")
        for path in (
            "settings.list_name",
            "settings.match_column_2",
            "settings.insert_on_no_match",
            "settings.pets[0].pet",
            "settings.pets[0].mapping[1].target",
            "settings.email_permission.opt_out[0]",
            "settings.reject_if_channel_empty[1]",
            "settings.mobile_country",
        )
    )
    world.bus.answer = lambda c: accepted(c, target_id="42", errors=errors)
    response = await world.client.post("/api/v1/jobs", json=profile_body(activate=True))
    assert response.status_code == 201
    assert response.json()["state"] == "inactive"
    assert [e["field"] for e in response.json()["errors"]] == [
        "target.list",
        "target.match_column_2",
        "target.insert_on_no_match",
        "pets[0].pet",
        "pets[0].mapping[1].target",
        "email_permission.opt_out[0]",
        "reject_if_channel_empty[1]",
        "mobile_country",
    ]


async def test_a_profile_job_reads_back_with_its_settings(world: World) -> None:
    store_profile_job(world)
    response = await world.client.get("/api/v1/jobs/7")
    assert response.status_code == 200, response.text
    shown = response.json()
    assert shown["type"] == "import_profile_data"
    assert shown["source"]["kind"] == "hosted"
    assert shown["target"] == {
        "list": "Customers",
        "match_column_1": "EMAIL_ADDRESS_",
        "match_column_2": "CUSTOMER_ID_",
        "insert_on_no_match": True,
        "update_on_match": False,
    }
    last_order = {"source": "last", "target": "LAST_ORDER", "format": None}
    assert shown["pets"] == [{"pet": "Purchases", "mapping": [last_order]}]
    assert shown["email_permission"] == {"opt_in": ["1", "yes"], "opt_out": ["0"], "default": "O"}
    assert shown["email_format"] == {"html": ["H"], "text": ["T"], "default": "H"}
    assert (shown["reject_if_channel_empty"], shown["mobile_mode"], shown["mobile_country"]) == (["P"], "local", "NL")
    assert shown["email_check"] == "strict" and "table" not in shown["target"]


async def test_a_profile_job_is_edited_as_a_whole(world: World) -> None:
    store_profile_job(world)
    body = profile_body(expected_version=3, target={"list": "Customers", "match_column_1": "MOBILE_NUMBER_"})
    body["mapping"] = [{"source": "mobile", "target": "MOBILE_NUMBER_"}]
    response = await world.client.put("/api/v1/jobs/7", json=body)
    assert response.status_code == 200, response.text
    [command] = world.bus.sent
    assert isinstance(command, UpdateJob) and command.payload.expected_version == 3
    assert sent_settings(world).match_column_1 == "MOBILE_NUMBER_"


async def test_an_edit_keeps_the_profile_shape(world: World) -> None:
    store_profile_job(world)
    response = await world.client.put("/api/v1/jobs/7", json=profile_body(activate=True, expected_version=3))
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["activate"]


async def test_jobs_are_filtered_by_the_profile_type(world: World) -> None:
    stored_job(world, job_id=6)
    store_profile_job(world)
    response = await world.client.get("/api/v1/jobs?type=import_profile_data")
    assert [j["job_id"] for j in response.json()] == [7]


async def test_runs_show_skipped_and_duplicates(world: World) -> None:
    world.reads.runs.append(replace(run(7, 1, "succeeded", 0), counts=RunCounts(rows_read=9, skipped=2, duplicates=3)))
    counts = (await world.client.get("/api/v1/runs/7.1")).json()["counts"]
    assert (counts["rows_read"], counts["skipped"], counts["duplicates"]) == (9, 2, 3)
