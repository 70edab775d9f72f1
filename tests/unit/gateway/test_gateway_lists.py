"""Profile lists and PETs over `/api/v1/lists` and `/api/v1/pets` (spec §1, ADR 0011): definitions become
commands, reads come from the catalog, rows and counts from the audience database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from connect_events import (
    SYSTEM_COLUMNS,
    AddListColumn,
    AddPetColumn,
    ColumnSpec,
    ColumnType,
    DefineList,
    DefinePet,
    FieldError,
    ListSpec,
    PetSpec,
)
from connect_gateway.domain.profiles import column_kind, json_value, mappable_columns, table_name
from connect_gateway.read_models import CommandRecord, ListRecord, PetRecord
from tests.unit.gateway.gateway_fakes import NOW, World, accepted, rejected

TIER = ColumnSpec(name="LOYALTY_TIER", type=ColumnType.TEXT, max_length=20)
LAST_ORDER = ColumnSpec(name="LAST_ORDER", type=ColumnType.DATE)
LIST = {"name": "Customers", "columns": [{"name": "LOYALTY_TIER", "type": "text", "max_length": 20}]}
PET = {"name": "Purchases", "list_name": "Customers", "columns": [{"name": "LAST_ORDER", "type": "date"}]}


def stored_list(world: World, name: str = "Customers", *columns: ColumnSpec) -> ListRecord:
    record = ListRecord(ListSpec(name=name, columns=columns or (TIER,)), 2, NOW, "ann", NOW)
    world.reads.lists.append(record)
    return record


def stored_pet(world: World, name: str = "Purchases", list_name: str = "Customers") -> PetRecord:
    record = PetRecord(PetSpec(name=name, list_name=list_name, columns=(LAST_ORDER,)), 1, NOW, "ann", NOW)
    world.reads.pets.append(record)
    return record


async def test_defining_a_list_sends_its_custom_columns_and_answers_where_it_is_read(world: World) -> None:
    world.bus.answer = lambda c: accepted(c, target_id="Customers", target_type="list")
    response = await world.client.post("/api/v1/lists", json=LIST)
    assert response.status_code == 201, response.text
    assert response.json() == {"name": "Customers", "version": 1, "url": "/api/v1/lists/Customers"}
    assert response.headers["location"] == "/api/v1/lists/Customers"
    [command] = world.bus.sent
    assert isinstance(command, DefineList)
    assert command.payload.list == ListSpec(name="Customers", columns=(TIER,))


async def test_a_list_without_custom_columns_is_a_list(world: World) -> None:
    world.bus.answer = lambda c: accepted(c, target_id="Plain", target_type="list")
    assert (await world.client.post("/api/v1/lists", json={"name": "Plain"})).status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "1st"}, "name"),
        ({"name": "Customers", "columns": [{"name": "a b", "type": "text"}]}, "columns[0].name"),
        ({"name": "Customers", "columns": [{"name": "X", "type": "money"}]}, "columns[0].type"),
        ({"name": "Customers", "primary_key": ["RIID_"]}, "primary_key"),
    ],
)
async def test_a_list_of_the_wrong_shape_is_refused_before_sending(
    world: World, body: dict[str, Any], field: str
) -> None:
    response = await world.client.post("/api/v1/lists", json=body)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert world.bus.sent == []


async def test_the_schedulers_refusals_of_a_list_name_the_requests_fields(world: World) -> None:
    errors = (FieldError(field="list.columns[0].name", message="EMAIL_ADDRESS_ is a system column"),)
    world.bus.answer = lambda c: rejected(c, "validation", "list Customers has 1 error(s)", errors)
    response = await world.client.post("/api/v1/lists", json=LIST)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "columns[0].name", "message": "EMAIL_ADDRESS_ is a system column"}]


async def test_a_list_name_in_use_is_409_list_exists(world: World) -> None:
    world.bus.answer = lambda c: rejected(c, "conflict", "a list named Customers already exists", reason="LIST_EXISTS")
    response = await world.client.post("/api/v1/lists", json=LIST)
    assert response.status_code == 409
    assert response.json()["reason"] == "LIST_EXISTS"


async def test_a_list_shows_every_column_with_its_kind_and_its_pets(world: World) -> None:
    stored_list(world)
    stored_pet(world)
    stored_pet(world, "Visits", "Other")
    response = await world.client.get("/api/v1/lists/customers")
    assert response.status_code == 200, response.text
    shown = response.json()
    columns = {c["name"]: c for c in shown["columns"]}
    assert [c["name"] for c in shown["columns"]] == [c.name for c in SYSTEM_COLUMNS] + ["LOYALTY_TIER"]
    assert (columns["RIID_"]["kind"], columns["RIID_"]["match_column"]) == ("assigned", True)
    assert (columns["EMAIL_SHA256_HASH_"]["kind"], columns["EMAIL_SHA256_HASH_"]["match_column"]) == ("derived", True)
    assert (columns["EMAIL_DOMAIN_"]["kind"], columns["EMAIL_DOMAIN_"]["match_column"]) == ("derived", False)
    assert columns["CITY_"]["kind"] == "system" and columns["CREATED_DATE_"]["kind"] == "assigned"
    assert columns["LOYALTY_TIER"] == {
        "name": "LOYALTY_TIER",
        "type": "text",
        "max_length": 20,
        "precision": None,
        "scale": None,
        "kind": "custom",
        "match_column": False,
    }
    assert shown["pets"] == [{"name": "Purchases", "url": "/api/v1/pets/Purchases"}]
    assert (shown["version"], shown["url"]) == (2, "/api/v1/lists/Customers")


async def test_all_lists_by_name_each_with_its_own_pets(world: World) -> None:
    stored_list(world, "Zebra")
    stored_list(world, "customers")
    stored_pet(world, "Purchases", "CUSTOMERS")
    response = await world.client.get("/api/v1/lists")
    assert [(item["name"], [p["name"] for p in item["pets"]]) for item in response.json()] == [
        ("customers", ["Purchases"]),
        ("Zebra", []),
    ]


@pytest.mark.parametrize("path", ["/api/v1/lists/Nope", "/api/v1/lists/Nope/rows", "/api/v1/lists/Nope/count"])
async def test_an_unknown_list_is_404_list_not_found(world: World, path: str) -> None:
    response = await world.client.get(path)
    assert response.status_code == 404
    assert response.json()["reason"] == "LIST_NOT_FOUND"


async def test_adding_a_column_names_the_list_of_the_path(world: World) -> None:
    world.bus.answer = lambda c: accepted(c, target_id="Customers", version=3, target_type="list")
    column = {"name": "SCORE", "type": "number", "precision": 9, "scale": 2}
    response = await world.client.post("/api/v1/lists/customers/columns", json=column)
    assert response.status_code == 200, response.text
    assert response.json() == {"name": "Customers", "version": 3, "url": "/api/v1/lists/Customers"}
    [command] = world.bus.sent
    assert isinstance(command, AddListColumn) and command.payload.name == "customers"
    assert command.payload.column == ColumnSpec(name="SCORE", type=ColumnType.NUMBER, precision=9, scale=2)


@pytest.mark.parametrize(
    ("reply", "status", "reason"),
    [
        (lambda c: rejected(c, "not_found", "no list Nope", reason="LIST_NOT_FOUND"), 404, "LIST_NOT_FOUND"),
        (lambda c: rejected(c, "conflict", "list has CITY_", reason="COLUMN_EXISTS"), 409, "COLUMN_EXISTS"),
    ],
)
async def test_a_refused_column_answers_with_its_reason(world: World, reply: Any, status: int, reason: str) -> None:
    world.bus.answer = reply
    response = await world.client.post("/api/v1/lists/Nope/columns", json={"name": "X", "type": "boolean"})
    assert (response.status_code, response.json()["reason"]) == (status, reason)


async def test_a_columns_field_errors_name_the_body(world: World) -> None:
    errors = (FieldError(field="column.name", message="must not end with _ (system column names do)"),)
    world.bus.answer = lambda c: rejected(c, "validation", "the column has 1 error(s)", errors)
    response = await world.client.post("/api/v1/lists/Customers/columns", json={"name": "TIER_", "type": "text"})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["name"]


async def test_a_preview_shows_the_first_rows_of_the_list_as_defined_in_json(world: World) -> None:
    stored_list(world)
    rows: list[dict[str, object]] = [
        {"RIID_": i, "EMAIL_ADDRESS_": f"a{i}@example.com", "SCORE": Decimal("12.50"), "SEEN": date(2025, 1, i)}
        for i in range(1, 4)
    ]
    world.profiles.tables[("list", "Customers")] = rows
    response = await world.client.get("/api/v1/lists/CUSTOMERS/rows?limit=2")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "name": "Customers",
        "rows": [
            {"RIID_": 1, "EMAIL_ADDRESS_": "a1@example.com", "SCORE": "12.50", "SEEN": "2025-01-01"},
            {"RIID_": 2, "EMAIL_ADDRESS_": "a2@example.com", "SCORE": "12.50", "SEEN": "2025-01-02"},
        ],
    }
    assert (await world.client.get("/api/v1/lists/Customers/count")).json() == {"name": "Customers", "count": 3}


async def test_a_list_the_runner_has_not_created_yet_is_empty(world: World) -> None:
    stored_list(world)
    assert (await world.client.get("/api/v1/lists/Customers/rows")).json() == {"name": "Customers", "rows": []}
    assert (await world.client.get("/api/v1/lists/Customers/count")).json()["count"] == 0


@pytest.mark.parametrize("limit", ["0", "101", "x"])
async def test_a_preview_shows_1_to_100_rows(world: World, limit: str) -> None:
    stored_list(world)
    response = await world.client.get(f"/api/v1/lists/Customers/rows?limit={limit}")
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["limit"]


async def test_a_lost_audience_database_is_503_in_our_words(world: World) -> None:
    stored_list(world)
    world.profiles.down = True
    response = await world.client.get("/api/v1/lists/Customers/count")
    assert response.status_code == 503
    assert response.json()["message"] == "the audience store cannot be reached; retry later"


async def test_auto_mapping_offers_the_columns_a_file_fills_or_matches_on(world: World) -> None:
    stored_list(world)
    stored_pet(world)
    header = ["email_address_", "Loyalty_Tier", "EMAIL_DOMAIN_", "RIID_", "LAST_ORDER", "modified_date_"]
    response = await world.client.post("/api/v1/lists/Customers/auto-mapping", json={"header": header})
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["mapping"] == [
        {"source": "email_address_", "target": "EMAIL_ADDRESS_"},
        {"source": "Loyalty_Tier", "target": "LOYALTY_TIER"},
        {"source": "RIID_", "target": "RIID_"},
    ]
    assert found["unmatched_sources"] == ["EMAIL_DOMAIN_", "LAST_ORDER", "modified_date_"]
    assert "CREATED_DATE_" not in found["unmapped_columns"] and "EMAIL_MD5_HASH_" in found["unmapped_columns"]


async def test_defining_a_pet_sends_it_with_its_list(world: World) -> None:
    world.bus.answer = lambda c: accepted(c, target_id="Purchases", target_type="pet")
    response = await world.client.post("/api/v1/pets", json=PET)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/api/v1/pets/Purchases"
    [command] = world.bus.sent
    assert isinstance(command, DefinePet)
    assert command.payload.pet == PetSpec(name="Purchases", list_name="Customers", columns=(LAST_ORDER,))


async def test_a_pet_needs_a_column(world: World) -> None:
    response = await world.client.post("/api/v1/pets", json={**PET, "columns": []})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["columns"]


async def test_a_pet_of_a_missing_list_is_404_naming_list_name(world: World) -> None:
    errors = (FieldError(field="pet.list_name", message="list Customers does not exist"),)
    world.bus.answer = lambda c: rejected(c, "validation", "PET Purchases has 1 error(s)", errors, "LIST_NOT_FOUND")
    response = await world.client.post("/api/v1/pets", json=PET)
    assert response.status_code == 404
    assert response.json()["reason"] == "LIST_NOT_FOUND"
    assert response.json()["errors"] == [{"field": "list_name", "message": "list Customers does not exist"}]


async def test_a_pet_shows_riid_then_its_own_columns(world: World) -> None:
    stored_pet(world)
    shown = (await world.client.get("/api/v1/pets/purchases")).json()
    assert [(c["name"], c["kind"]) for c in shown["columns"]] == [("RIID_", "assigned"), ("LAST_ORDER", "custom")]
    assert (shown["list_name"], shown["list_url"]) == ("Customers", "/api/v1/lists/Customers")


async def test_pets_are_listed_by_name_and_filtered_by_list(world: World) -> None:
    stored_pet(world, "Visits", "Other")
    stored_pet(world)
    assert [p["name"] for p in (await world.client.get("/api/v1/pets")).json()] == ["Purchases", "Visits"]
    assert [p["name"] for p in (await world.client.get("/api/v1/pets?list=customers")).json()] == ["Purchases"]


async def test_a_pets_column_rows_and_count(world: World) -> None:
    stored_pet(world)
    world.bus.answer = lambda c: accepted(c, target_id="Purchases", version=2, target_type="pet")
    response = await world.client.post("/api/v1/pets/Purchases/columns", json={"name": "TOTAL", "type": "integer"})
    assert response.status_code == 200 and response.json()["version"] == 2
    [command] = world.bus.sent
    assert isinstance(command, AddPetColumn) and command.payload.name == "Purchases"
    world.profiles.tables[("pet", "Purchases")] = [{"RIID_": 7, "LAST_ORDER": date(2025, 3, 1), "TOTAL": None}]
    assert (await world.client.get("/api/v1/pets/Purchases/rows")).json()["rows"] == [
        {"RIID_": 7, "LAST_ORDER": "2025-03-01", "TOTAL": None}
    ]
    assert (await world.client.get("/api/v1/pets/purchases/count")).json() == {"name": "Purchases", "count": 1}
    missing = await world.client.get("/api/v1/pets/Nope/count")
    assert (missing.status_code, missing.json()["reason"]) == (404, "PET_NOT_FOUND")


async def test_a_decided_list_command_reads_in_the_requests_vocabulary(world: World) -> None:
    command_id = uuid4()
    errors = (FieldError(field="pet.columns[0].name", message="LAST_ORDER_ must not end with _"),)
    world.reads.commands[command_id] = CommandRecord(
        command_id, "pet.define", "rejected", "pet", "Purchases", None, None, "validation", "bad", errors, NOW
    )
    shown = (await world.client.get(f"/api/v1/commands/{command_id}")).json()
    assert shown["errors"] == [{"field": "columns[0].name", "message": "LAST_ORDER_ must not end with _"}]
    accepted_id = uuid4()
    world.reads.commands[accepted_id] = CommandRecord(
        accepted_id, "list.define", "accepted", "list", "Customers", 1, None, None, None, (), NOW
    )
    assert (await world.client.get(f"/api/v1/commands/{accepted_id}")).json()["url"] == "/api/v1/lists/Customers"


def test_each_column_has_one_kind() -> None:
    kinds = {column.name: column_kind(column.name) for column in SYSTEM_COLUMNS}
    assert {name for name, kind in kinds.items() if kind == "assigned"} == {"RIID_", "CREATED_DATE_", "MODIFIED_DATE_"}
    assert {name for name, kind in kinds.items() if kind == "derived"} == {
        "EMAIL_DOMAIN_",
        "EMAIL_MD5_HASH_",
        "EMAIL_SHA256_HASH_",
    }
    assert column_kind("LOYALTY_TIER") == "custom"
    offered = mappable_columns(ListSpec(name="L", columns=(TIER,)))
    assert offered[:3] == ["RIID_", "CUSTOMER_ID_", "EMAIL_ADDRESS_"] and offered[-1] == "LOYALTY_TIER"
    assert not {"EMAIL_DOMAIN_", "CREATED_DATE_", "MODIFIED_DATE_"} & set(offered)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, None),
        (True, True),
        (9007199254740993, 9007199254740993),
        (Decimal("0.10"), "0.10"),
        (1.5, 1.5),
        (date(2025, 1, 31), "2025-01-31"),
        (datetime(2025, 1, 31, 6, 30, tzinfo=UTC), "2025-01-31T06:30:00+00:00"),
        ("x", "x"),
    ],
)
def test_values_are_json_without_losing_digits(value: object, shown: object) -> None:
    assert json_value(value) == shown


def test_only_an_identifier_is_quoted_into_a_table_name() -> None:
    assert table_name("list", "Customers") == '"lists"."Customers"'
    assert table_name("pet", "Purchases") == '"pets"."Purchases"'
    for unfit in ('a"; DROP TABLE x; --', "", "a b"):
        with pytest.raises(ValueError, match="pet name"):
            table_name("pet", unfit)
