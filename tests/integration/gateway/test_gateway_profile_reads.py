"""Lists and PETs as the gateway reads them from real PostgreSQL: their definitions from the catalog service's own
schema, their rows and counts from tables shaped as the runner makes them, and profile run counts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest

from connect_events import ColumnSpec, ColumnType, ListSpec, PetSpec
from connect_gateway.adapters.catalog import PgReadStore
from connect_gateway.adapters.profiles import PgProfileRows
from connect_gateway.ports import AudienceUnavailableError
from connect_runtime.db import ensure_database
from tests.databases import drop_databases

pytestmark = pytest.mark.integration

SCHEMA = Path(__file__).parents[3] / "services/catalog/src/connect_catalog/adapters/schema.sql"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TIER = ColumnSpec(name="TIER", type=ColumnType.TEXT, max_length=10)
POINTS = ColumnSpec(name="POINTS", type=ColumnType.NUMBER, precision=9, scale=2)


@pytest.fixture(scope="module")
async def pools(database_url: str) -> AsyncIterator[tuple[asyncpg.Pool, asyncpg.Pool]]:
    """(catalog, audience) pools on databases of this module's own."""
    suffix = uuid4().hex[:8]
    names = (f"gwcat_{suffix}", f"gwaud_{suffix}")
    catalog, audience = [
        await asyncpg.create_pool(await ensure_database(database_url, name), min_size=1, max_size=2) for name in names
    ]
    await catalog.execute(SCHEMA.read_text())
    yield catalog, audience
    await catalog.close()
    await audience.close()
    await drop_databases(database_url, *names)


async def test_lists_and_pets_from_the_catalog(pools: tuple[asyncpg.Pool, asyncpg.Pool]) -> None:
    catalog, _ = pools
    for name, columns in (("Members", [TIER]), ("archive", [])):
        await catalog.execute(
            "INSERT INTO lists VALUES ($1, $2::jsonb, 2, $3, 'ann', $3)",
            name,
            json.dumps([c.model_dump(mode="json") for c in columns]),
            T0,
        )
    for name, list_name in (("Loyalty", "Members"), ("Visits", "archive")):
        await catalog.execute(
            "INSERT INTO pets VALUES ($1, $2, $3::jsonb, 1, $4, 'ann', $4)",
            name,
            list_name,
            json.dumps([POINTS.model_dump(mode="json")]),
            T0,
        )
    reads = PgReadStore(catalog)
    assert [r.spec.name for r in await reads.list_lists()] == ["archive", "Members"]
    members = await reads.get_list("MEMBERS")
    assert members is not None
    assert (members.spec, members.version, members.defined_by) == (ListSpec(name="Members", columns=(TIER,)), 2, "ann")
    assert [p.spec.name for p in await reads.list_pets(None)] == ["Loyalty", "Visits"]
    assert [p.spec for p in await reads.list_pets("members")] == [
        PetSpec(name="Loyalty", list_name="Members", columns=(POINTS,))
    ]
    assert await reads.get_pet("nope") is None and await reads.get_list("nope") is None


async def test_profile_run_counts(pools: tuple[asyncpg.Pool, asyncpg.Pool]) -> None:
    catalog, _ = pools
    await catalog.execute(
        """INSERT INTO runs (job_id, run_id, job_name, status, trigger, requested_at, skipped, duplicates)
           VALUES (77, 1, 'profiles', 'succeeded', 'manual', $1, 4, 2)""",
        T0,
    )
    run = await PgReadStore(catalog).get_run(77, 1)
    assert run is not None and (run.counts.skipped, run.counts.duplicates) == (4, 2)


async def test_rows_and_counts_of_the_runners_tables(pools: tuple[asyncpg.Pool, asyncpg.Pool]) -> None:
    _, audience = pools
    rows = PgProfileRows(audience)
    # Defined in the catalog but not created by the runner yet: no schema, then no table.
    assert (await rows.preview("list", "Members", 10), await rows.count("list", "Members")) == ([], 0)
    await audience.execute(
        """CREATE SCHEMA lists;
           CREATE TABLE lists."Members" ("RIID_" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
               "EMAIL_ADDRESS_" text, "SINCE" date, "POINTS" numeric(9, 2));
           INSERT INTO lists."Members" ("EMAIL_ADDRESS_", "SINCE", "POINTS")
           VALUES ('a@x.io', '2025-01-31', 1.50), ('b@x.io', NULL, NULL), ('c@x.io', NULL, 3)"""
    )
    assert await rows.preview("pet", "Members", 10) == []
    assert await rows.preview("list", "Members", 2) == [
        {"RIID_": 1, "EMAIL_ADDRESS_": "a@x.io", "SINCE": date(2025, 1, 31), "POINTS": Decimal("1.50")},
        {"RIID_": 2, "EMAIL_ADDRESS_": "b@x.io", "SINCE": None, "POINTS": None},
    ]
    assert await rows.count("list", "Members") == 3
    assert await rows.count("list", "members") == 0  # the name as defined: the catalog's, never the request's


async def test_an_unreachable_audience_database_is_unavailable(database_url: str) -> None:
    pool = await asyncpg.create_pool(await ensure_database(database_url, "postgres"), min_size=1, max_size=1)
    await pool.close()
    with pytest.raises(AudienceUnavailableError):
        await PgProfileRows(pool).count("list", "Members")
