"""Profile imports (ADR 0011) run whole against the real database: lists and PETs created from their events,
the merge rules, derived columns, RIIDs, duplicates, PET rows and their rejects, dry runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import uuid4

import pytest

from connect_events import (
    ColumnMapping,
    ColumnType,
    HostedLocation,
    ListColumnAdded,
    ListDefined,
    ListSpec,
    PetColumnAdded,
    PetDefined,
    PetSpec,
    RunLogged,
    RunRequested,
)
from connect_events.tables import ColumnAddedPayload, ListDefinedPayload, PetDefinedPayload
from connect_runner.handlers import TABLE_HANDLERS
from tests.integration.runner.runner_it import RunnerWorld, succeeded
from tests.unit.runner.runner_builders import REQUESTED_AT, column, mapping, profile_request

pytestmark = pytest.mark.integration

EMAIL = ("email", "EMAIL_ADDRESS_")
CUSTOMER = ("customer", "CUSTOMER_ID_")
CITY = ("city", "CITY_")


def _list(world: RunnerWorld) -> ListSpec:
    return ListSpec(name=f"Members_{world.unique}", columns=(column("TIER", max_length=10),))


def _pet(world: RunnerWorld, spec: ListSpec) -> PetSpec:
    columns = (column("POINTS", ColumnType.INTEGER), column("LEVEL", max_length=5))
    return PetSpec(name=f"Loyalty_{world.unique}", list_name=spec.name, columns=columns)


def _request(
    world: RunnerWorld,
    run_id: int,
    content: str,
    spec: ListSpec,
    columns: Sequence[ColumnMapping],
    **options: Any,
) -> RunRequested:
    path = world.host(f"upload/profiles_{run_id}.csv", content)
    return profile_request(
        world.job_id, run_id, source=HostedLocation(path=path), list_spec=spec, columns=columns, **options
    )


async def _rows(world: RunnerWorld, spec: ListSpec | PetSpec) -> list[dict[str, Any]]:
    schema = "lists" if isinstance(spec, ListSpec) else "pets"
    return [dict(r) for r in await world.pool.fetch(f'SELECT * FROM {schema}."{spec.name}" ORDER BY "RIID_"')]


async def _run(world: RunnerWorld, request: RunRequested) -> Any:
    return succeeded(await world.execute(request)).payload.counts


async def _logged(world: RunnerWorld, run_id: int, stage: str) -> RunLogged:
    return next(e for e in await world.events(run_id) if isinstance(e, RunLogged) and e.payload.stage == stage)


async def test_inserts_with_derived_columns_codes_and_the_profile_rejects(world: RunnerWorld) -> None:
    spec = _list(world)
    content = (
        "email,customer,mobile,perm,street\n"
        " Ann@Example.COM ,c1,+44 7700 900123,yes,1 Main St\n"
        "not-an-address,c2,,,2 Main St\n"
        ",c3,,,3 Main St\n"
        "bob@example.com,c4,12,,4 Main St\n"
        "dee@example.com,c6,,,\n"
        "cy@example.com,c5,,,5 Main St\n"
    )
    mobile, perm, street = (
        ("mobile", "MOBILE_NUMBER_"),
        ("perm", "EMAIL_PERMISSION_STATUS_"),
        ("street", "POSTAL_STREET_1_"),
    )
    request = _request(
        world,
        1,
        content,
        spec,
        mapping(EMAIL, CUSTOMER, mobile, perm, street),
        email_permission={"opt_in": ["yes"], "opt_out": ["no"], "default": "O"},
        reject_if_channel_empty=["P"],
    )

    counts = await _run(world, request)

    assert (counts.rows_read, counts.inserted, counts.rejected, counts.skipped) == (6, 2, 4, 0)
    assert [(line, reason) for line, reason, _ in await world.rejects(1)] == [
        (3, "INVALID_EMAIL"),
        (4, "MATCH_FIELD_EMPTY"),
        (5, "INVALID_MOBILE_NUMBER"),
        (6, "CHANNEL_EMPTY"),
    ]
    ann, cy = await _rows(world, spec)
    assert ann["EMAIL_ADDRESS_"] == "ann@example.com" and ann["EMAIL_DOMAIN_"] == "example.com"
    expected = await world.pool.fetchrow(
        "SELECT md5(lower(trim($1))) AS md5, encode(sha256(convert_to(lower(trim($1)), 'UTF8')), 'hex') AS sha256",
        " Ann@Example.COM ",
    )
    assert expected is not None
    assert (ann["EMAIL_MD5_HASH_"], ann["EMAIL_SHA256_HASH_"]) == (expected["md5"], expected["sha256"])
    assert (ann["MOBILE_NUMBER_"], ann["MOBILE_COUNTRY_"]) == ("+447700900123", "GB")
    assert (ann["EMAIL_PERMISSION_STATUS_"], cy["EMAIL_PERMISSION_STATUS_"]) == ("I", "O")
    assert (ann["MOBILE_PERMISSION_STATUS_"], ann["EMAIL_FORMAT_"]) == ("O", "H")  # unmapped: the defaults
    assert ann["CREATED_DATE_"] is not None and ann["CREATED_DATE_"] == ann["MODIFIED_DATE_"]
    assert cy["RIID_"] > ann["RIID_"]


async def test_skip_keep_and_replace_count_each_line_once(world: RunnerWorld) -> None:
    spec = _list(world)
    columns = mapping(EMAIL, CITY)
    await _run(world, _request(world, 1, "email,city\na@x.io,Leeds\nb@x.io,York\n", spec, columns))
    before = await _rows(world, spec)

    content = "email,city\na@x.io,Hull\nb@x.io,York\nc@x.io,Bath\n"
    skip_keep = _request(world, 2, content, spec, columns, insert_on_no_match=False, update_on_match=False)
    counts = await _run(world, skip_keep)

    assert (counts.inserted, counts.updated, counts.unchanged, counts.skipped) == (0, 0, 2, 1)
    assert await _rows(world, spec) == before

    counts = await _run(world, _request(world, 3, content, spec, columns, insert_on_no_match=False))

    assert (counts.inserted, counts.updated, counts.unchanged, counts.skipped) == (0, 1, 1, 1)
    a, b = await _rows(world, spec)
    assert a["CITY_"] == "Hull" and a["MODIFIED_DATE_"] > before[0]["MODIFIED_DATE_"]
    assert b == before[1]  # nothing changed: MODIFIED_DATE_ kept


async def test_two_match_columns_must_both_match(world: RunnerWorld) -> None:
    spec = _list(world)
    columns = mapping(EMAIL, CUSTOMER, CITY)
    await _run(world, _request(world, 1, "email,customer,city\na@x.io,c1,Leeds\n", spec, columns))

    content = "email,customer,city\na@x.io,c1,York\nb@x.io,c1,Hull\n"
    options = {"match_column_1": "EMAIL_ADDRESS_", "match_column_2": "CUSTOMER_ID_"}
    counts = await _run(world, _request(world, 2, content, spec, columns, insert_on_no_match=False, **options))

    assert (counts.updated, counts.skipped) == (1, 1)
    assert [r["CITY_"] for r in await _rows(world, spec)] == ["York"]


async def test_a_hash_match_updates_and_never_inserts(world: RunnerWorld) -> None:
    spec = _list(world)
    await _run(world, _request(world, 1, "email,city\na@x.io,Leeds\n", spec, mapping(EMAIL, CITY)))
    digest = await world.pool.fetchval("SELECT upper(md5('a@x.io'))")

    content = f"hash,city\n{digest},York\n{'0' * 32},Hull\nnot-a-hash,Bath\n"
    columns = mapping(("hash", "EMAIL_MD5_HASH_"), CITY)
    counts = await _run(world, _request(world, 2, content, spec, columns, match_column_1="EMAIL_MD5_HASH_"))

    assert (counts.updated, counts.inserted, counts.skipped, counts.rejected) == (1, 0, 1, 1)
    assert [r["CITY_"] for r in await _rows(world, spec)] == ["York"]
    assert [reason for _, reason, _ in await world.rejects(2)] == ["INVALID_DATA_FORMAT"]


async def test_riids_are_never_reused(world: RunnerWorld) -> None:
    spec = _list(world)
    await _run(world, _request(world, 1, "email\na@x.io\nb@x.io\n", spec, mapping(EMAIL)))
    last = max(r["RIID_"] for r in await _rows(world, spec))
    await world.pool.execute(f'DELETE FROM lists."{spec.name}" WHERE "EMAIL_ADDRESS_" = $1', "b@x.io")

    await _run(world, _request(world, 2, "email\nb@x.io\n", spec, mapping(EMAIL)))

    assert [r["RIID_"] > last for r in await _rows(world, spec)] == [False, True]


async def test_duplicate_keys_last_line_wins_and_are_logged(world: RunnerWorld) -> None:
    spec = _list(world)
    content = "email,city\na@x.io,One\nA@x.io,Two\nb@x.io,Bee\na@x.io ,Three\n"

    counts = await _run(world, _request(world, 1, content, spec, mapping(EMAIL, CITY)))

    assert (counts.rows_read, counts.inserted, counts.duplicates, counts.rejected) == (4, 2, 2, 0)
    assert sorted((r["EMAIL_ADDRESS_"], r["CITY_"]) for r in await _rows(world, spec)) == [
        ("a@x.io", "Three"),
        ("b@x.io", "Bee"),
    ]
    logged = await _logged(world, 1, "duplicates")
    assert logged.payload.details == {"duplicates": 2, "lines": "2, 3"}


async def test_an_address_another_row_holds_rejects_the_line(world: RunnerWorld) -> None:
    spec = _list(world)
    columns = mapping(CUSTOMER, EMAIL)
    await _run(world, _request(world, 1, "customer,email\nc1,a@x.io\n", spec, columns))

    content = "customer,email\nc2,a@x.io\nc3,b@x.io\nc4,b@x.io\n"
    counts = await _run(world, _request(world, 2, content, spec, columns, match_column_1="CUSTOMER_ID_"))

    assert (counts.inserted, counts.rejected) == (1, 2)
    assert [(line, reason) for line, reason, _ in await world.rejects(2)] == [
        (2, "DUPLICATE_KEY"),
        (3, "DUPLICATE_KEY"),
    ]
    assert [r["CUSTOMER_ID_"] for r in await _rows(world, spec)] == ["c1", "c4"]


async def test_a_line_matching_several_rows_cannot_give_them_one_customer_id(world: RunnerWorld) -> None:
    spec = _list(world)
    mobile = ("mobile", "MOBILE_NUMBER_")
    seed = "email,mobile\na@x.io,+447700900123\nb@x.io,+447700900123\nc@x.io,+447700900124\n"
    await _run(world, _request(world, 1, seed, spec, mapping(EMAIL, mobile)))

    content = "mobile,customer\n+447700900123,c1\n+447700900124,c2\n"
    request = _request(world, 2, content, spec, mapping(mobile, CUSTOMER), match_column_1="MOBILE_NUMBER_")
    counts = await _run(world, request)

    assert (counts.updated, counts.rejected) == (1, 1)
    assert [(line, reason) for line, reason, _ in await world.rejects(2)] == [(2, "DUPLICATE_KEY")]
    assert [(r["EMAIL_ADDRESS_"], r["CUSTOMER_ID_"]) for r in await _rows(world, spec)] == [
        ("a@x.io", None),
        ("b@x.io", None),
        ("c@x.io", "c2"),
    ]


async def test_pet_rows_attach_to_their_list_rows_or_are_rejected(world: RunnerWorld) -> None:
    spec = _list(world)
    pet = _pet(world, spec)
    await _run(world, _request(world, 1, "email\na@x.io\n", spec, mapping(EMAIL)))
    pet_columns = mapping(("points", "POINTS"), ("level", "LEVEL"))
    content = "email,points,level\na@x.io,10,gold\nb@x.io,5,\nc@x.io,,\n"

    request = _request(world, 2, content, spec, mapping(EMAIL), pets=[(pet, pet_columns)], insert_on_no_match=False)
    counts = await _run(world, request)

    assert (counts.updated, counts.unchanged, counts.skipped, counts.rejected) == (0, 1, 2, 0)
    [a] = await _rows(world, spec)
    assert await _rows(world, pet) == [{"RIID_": a["RIID_"], "POINTS": 10, "LEVEL": "gold"}]
    assert [(line, reason) for line, reason, _ in await world.rejects(2)] == [(3, "NO_PARENT_RECORD")]
    loaded = await _logged(world, 2, "loaded")
    assert (loaded.payload.details["pet_inserted"], loaded.payload.details["pet_rejected"]) == (1, 1)

    again = _request(
        world, 3, "email,points,level\na@x.io,11,gold\nb@x.io,6,\n", spec, mapping(EMAIL), pets=[(pet, pet_columns)]
    )
    counts = await _run(world, again)

    assert (counts.inserted, counts.unchanged) == (1, 1)
    assert [(r["POINTS"], r["LEVEL"]) for r in await _rows(world, pet)] == [(11, "gold"), (6, None)]


async def test_a_dry_run_writes_nothing(world: RunnerWorld) -> None:
    spec = _list(world)
    pet = _pet(world, spec)
    request = _request(
        world,
        1,
        "email,points\na@x.io,1\n",
        spec,
        mapping(EMAIL),
        pets=[(pet, mapping(("points", "POINTS")))],
        dry_run=True,
    )

    counts = await _run(world, request)

    assert counts.inserted == 1
    made = "SELECT to_regclass($1), to_regclass($2)"  # nor their tables: made in the rolled-back savepoint only
    assert tuple(await world.pool.fetchrow(made, f'lists."{spec.name}"', f'pets."{pet.name}"')) == (None, None)


async def test_list_and_pet_events_create_and_extend_their_tables(world: RunnerWorld) -> None:
    spec = _list(world)
    pet = _pet(world, spec)
    envelope = {"aggregate_version": 1, "occurred_at": REQUESTED_AT, "actor": "ada"}
    ids = {"event_id": uuid4(), "correlation_id": uuid4()}
    events = [
        PetDefined(aggregate_id=pet.name.lower(), payload=PetDefinedPayload(pet=pet), **envelope, **ids),
        ListDefined(aggregate_id=spec.name.lower(), payload=ListDefinedPayload(list=spec), **envelope, **ids),
        ListColumnAdded(
            aggregate_id=spec.name.lower(),
            payload=ColumnAddedPayload(name=spec.name.lower(), column=column("SEGMENT", max_length=3)),
            **envelope,
            **ids,
        ),
        PetColumnAdded(
            aggregate_id=pet.name.lower(),
            payload=ColumnAddedPayload(name=pet.name, column=column("SINCE", ColumnType.DATE)),
            **envelope,
            **ids,
        ),
    ]
    async with world.pool.acquire() as conn:
        for event in [*events, *events]:  # redelivered: nothing changes
            await TABLE_HANDLERS[type(event)](conn, event)

    columns = await world.pool.fetch(
        "SELECT table_schema, column_name FROM information_schema.columns WHERE table_name IN ($1, $2)"
        " ORDER BY table_schema, ordinal_position",
        spec.name,
        pet.name,
    )
    found = [(r["table_schema"], r["column_name"]) for r in columns]
    assert found[-6:] == [
        ("lists", "TIER"),
        ("lists", "SEGMENT"),
        ("pets", "RIID_"),
        ("pets", "POINTS"),
        ("pets", "LEVEL"),
        ("pets", "SINCE"),
    ]
    indexes = await world.pool.fetchval(
        "SELECT count(*) FROM pg_indexes WHERE schemaname = 'lists' AND tablename = $1", spec.name
    )
    assert indexes == 6  # RIID_ key, two unique, three plain
    extended = spec.model_copy(update={"columns": (*spec.columns, column("SEGMENT", max_length=3))})
    segment = mapping(EMAIL, ("segment", "SEGMENT"))
    assert (await _run(world, _request(world, 1, "email,segment\na@x.io,vip\n", extended, segment))).inserted == 1


async def test_executing_the_same_profile_run_again_is_a_no_op(world: RunnerWorld) -> None:
    spec = _list(world)
    pet = _pet(world, spec)
    pets = [(pet, mapping(("points", "POINTS")))]
    request = _request(world, 1, "email,points\na@x.io,1\n", spec, mapping(EMAIL), pets=pets)
    first = await world.execute(request)
    rows, pet_rows = await _rows(world, spec), await _rows(world, pet)

    assert await world.execute(request) == first
    assert await _rows(world, spec) == rows and await _rows(world, pet) == pet_rows
