"""A dry run makes the tables it lacks (a custom table, a list, a PET, or their new columns) only inside the
savepoint it rolls back: its counts are a real run's, and no table or column is left behind."""

from __future__ import annotations

import pytest

from connect_events import HostedLocation, ListSpec, PetSpec
from tests.integration.runner.runner_it import PEOPLE_HEADER, RunnerWorld, succeeded
from tests.unit.runner.runner_builders import column, mapping, profile_request

pytestmark = pytest.mark.integration

PEOPLE = PEOPLE_HEADER + "1,Ann,,,,\n2,Bob,,,,\n"


async def columns(world: RunnerWorld, schema: str, name: str) -> list[str]:
    """The table's columns, none when it does not exist."""
    query = """
    SELECT a.attname FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
    """
    return [r["attname"] for r in await world.pool.fetch(query, schema, name)]


async def test_a_dry_run_into_a_table_not_made_yet_counts_the_rows_and_leaves_no_table(world: RunnerWorld) -> None:
    table = world.table()

    dry = succeeded(await world.run(1, world.put("people.csv", PEOPLE), table, dry_run=True))

    assert dry.payload.counts.inserted == 2
    assert await columns(world, "custom", table.name) == []
    real = succeeded(await world.run(2, world.put("people.csv", PEOPLE), table))
    assert real.payload.counts == dry.payload.counts
    assert await world.names(table) == [(1, "Ann"), (2, "Bob")]


async def test_a_dry_run_adds_no_column_to_a_list_and_makes_no_pet(world: RunnerWorld) -> None:
    made = ListSpec(name=f"Members_{world.unique}", columns=(column("TIER", max_length=10),))
    path = world.host("upload/first.csv", "email\na@x.io\n")
    first = profile_request(
        world.job_id, 1, source=HostedLocation(path=path), list_spec=made, columns=mapping(("email", "EMAIL_ADDRESS_"))
    )
    succeeded(await world.execute(first))
    before = await columns(world, "lists", made.name)
    grown = ListSpec(name=made.name, columns=(*made.columns, column("SEGMENT", max_length=3)))
    pet = PetSpec(name=f"Loyalty_{world.unique}", list_name=made.name, columns=(column("LEVEL", max_length=5),))
    path = world.host("upload/second.csv", "email,segment,level\na@x.io,A,gold\nb@x.io,B,\n")
    dry = profile_request(
        world.job_id,
        2,
        source=HostedLocation(path=path),
        list_spec=grown,
        columns=mapping(("email", "EMAIL_ADDRESS_"), ("segment", "SEGMENT")),
        pets=[(pet, mapping(("level", "LEVEL")))],
        dry_run=True,
    )

    counts = succeeded(await world.execute(dry)).payload.counts

    assert (counts.inserted, counts.updated) == (1, 1)
    assert "SEGMENT" not in before and await columns(world, "lists", made.name) == before
    assert await columns(world, "pets", pet.name) == []
