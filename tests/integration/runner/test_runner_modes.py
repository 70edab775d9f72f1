"""Write modes (merge switches, append, overwrite), file patterns, compressed files, table definitions."""

from __future__ import annotations

import gzip
import io
import os
import zipfile
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import asyncpg

from connect_events import TableDefined, TableDefinedPayload
from connect_runner.handlers import table_defined
from tests.integration.runner.runner_it import RunnerWorld, succeeded
from tests.unit.runner.runner_builders import mapping, people_table

NAMES = mapping("id", "name")


async def _load(
    world: RunnerWorld, run_id: int, table_name: str, content: str, **options: Any
) -> tuple[int, int, int, int]:
    """Load `id,name` rows into the people table `table_name`: (inserted, updated, unchanged, rejected)."""
    path = world.put(f"run{run_id}.csv", "id,name\n" + content)
    event = await world.run(run_id, path, people_table(table_name), columns=NAMES, **options)
    counts = succeeded(event).payload.counts
    return counts.inserted, counts.updated, counts.unchanged, counts.rejected


async def test_merge_switches(world: RunnerWorld) -> None:
    table = f"t_{world.unique}"
    assert await _load(world, 1, table, "1,a\n2,b\n") == (2, 0, 0, 0)

    assert await _load(world, 2, table, "1,A\n3,c\n", insert_on_no_match=False) == (0, 1, 1, 0)
    assert await world.names(table) == [(1, "A"), (2, "b")]

    assert await _load(world, 3, table, "2,B\n3,c\n", update_on_match=False) == (1, 0, 1, 0)
    assert await world.names(table) == [(1, "A"), (2, "b"), (3, "c")]

    assert await _load(world, 4, table, "1,x\n9,y\n", insert_on_no_match=False, update_on_match=False) == (0, 0, 2, 0)
    assert await world.names(table) == [(1, "A"), (2, "b"), (3, "c")]


async def test_merge_with_only_key_columns_mapped(world: RunnerWorld) -> None:
    table = world.table("k")
    path = world.put("ids.csv", "id\n1\n2\n")

    assert succeeded(await world.run(1, path, table, columns=mapping("id"))).payload.counts.inserted == 2
    counts = succeeded(await world.run(2, path, table, columns=mapping("id"))).payload.counts
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 0, 2)


async def test_append_rejects_keys_that_already_exist(world: RunnerWorld) -> None:
    table = f"t_{world.unique}"
    assert await _load(world, 1, table, "1,a\n2,b\n", write_mode="append") == (2, 0, 0, 0)

    counts = await _load(world, 2, table, "2,B\n3,c\n1,A\n", write_mode="append")

    assert counts == (1, 0, 0, 2)
    assert await world.rejects(2) == [(2, "DUPLICATE_KEY", "2,B"), (4, "DUPLICATE_KEY", "1,A")]
    assert await world.names(table) == [(1, "a"), (2, "b"), (3, "c")]


async def test_overwrite_replaces_the_whole_table(world: RunnerWorld) -> None:
    table = f"t_{world.unique}"
    await _load(world, 1, table, "1,a\n2,b\n3,c\n")

    counts = await _load(world, 2, table, "3,C\n4,d\nx,bad\n", write_mode="overwrite")

    assert counts == (2, 0, 0, 1)
    assert await world.names(table) == [(3, "C"), (4, "d")]


async def test_failed_overwrite_leaves_the_old_rows(world: RunnerWorld) -> None:
    table = f"t_{world.unique}"
    await _load(world, 1, table, "1,a\n")
    path = world.put("broken.csv", "wrong,header\n1,x\n")

    event = await world.run(2, path, people_table(table), columns=NAMES, write_mode="overwrite")

    assert event.type == "run.failed"
    assert await world.names(table) == [(1, "a")]


async def test_wildcard_takes_the_oldest_match_and_tokens_use_the_request_time(world: RunnerWorld) -> None:
    newer = world.put("export_20250314_b.csv", "id,name\n2,newer\n")
    older = world.put("export_20250314_a.csv", "id,name\n1,older\n")
    world.put("export_20250313_z.csv", "id,name\n3,other day\n")
    os.utime(older, (1_700_000_000, 1_700_000_000))
    os.utime(newer, (1_700_000_100, 1_700_000_100))
    folder = os.path.dirname(older)

    event = await world.run(
        1,
        f"{folder}/export_%YYYY%%MM%%DD%_*.csv",
        world.table("t"),
        columns=NAMES,
        requested_at=datetime(2025, 3, 14, 23, 0, tzinfo=UTC),
    )

    succeeded(event)
    assert await world.names(f"t_{world.unique}") == [(1, "older")]


async def test_gzip_and_zip_files_are_read_transparently(world: RunnerWorld) -> None:
    table = world.table("t")
    gz = world.put("a.csv.gz", gzip.compress(b"id,name\n1,gz\n"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inner.csv", "id,name\n2,zip\n")
    zipped = world.put("b.zip", buffer.getvalue())

    for run_id, path in enumerate([gz, zipped], start=1):
        succeeded(await world.run(run_id, path, table, columns=NAMES))

    assert await world.names(table.name) == [(1, "gz"), (2, "zip")]


async def test_a_defined_table_is_created_right_away(audience_pool: asyncpg.Pool, unique: str) -> None:
    table = people_table(f'Defined "{unique}"')
    event = TableDefined(
        event_id=uuid4(),
        aggregate_id=table.name.lower(),
        aggregate_version=1,
        occurred_at=datetime.now(UTC),
        actor="tester",
        correlation_id=uuid4(),
        payload=TableDefinedPayload(table=table),
    )
    async with audience_pool.acquire() as conn, conn.transaction():
        await table_defined(conn, event)
        await table_defined(conn, event)  # idempotent

    columns = await audience_pool.fetch(
        "SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale"
        " FROM information_schema.columns WHERE table_schema = 'custom' AND table_name = $1 ORDER BY ordinal_position",
        table.name,
    )
    assert [tuple(r) for r in columns] == [
        ("id", "bigint", None, 64, 0),
        ("name", "character varying", 10, None, None),
        ("score", "numeric", None, 6, 2),
        ("active", "boolean", None, None, None),
        ("born", "date", None, None, None),
        ("seen", "timestamp without time zone", None, None, None),
    ]
    key = await audience_pool.fetchval(
        "SELECT string_agg(a.attname, ',') FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
        " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = $1::regclass AND i.indisprimary",
        f'custom."{table.name.replace(chr(34), chr(34) * 2)}"',
    )
    assert key == "id"
