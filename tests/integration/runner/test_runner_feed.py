"""Analytics feed imports run whole over the real sshd and PostgreSQL (spec §6, issue 11): generated deliveries of
every shape are loaded once, filtered, labelled, reconciled and remembered; every corrupt one fails the run with a
clear reason, nothing written, nothing remembered and its files left on the server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connect_events import ColumnMapping, ColumnType, HostedLocation, Limits, ListSpec, PetSpec, RunFailed, TableSpec
from connect_runner.adapters.feed_deliveries import processed
from connect_runner.adapters.feed_files import hits, read_lookups
from connect_runner.adapters.tables import ensure_table
from connect_runner.domain.feed_manifest import FeedFile
from tests.feed_generator import BROWSERS, COUNTRIES, Generated, corrupt, generate
from tests.integration.runner.runner_it import RunnerWorld, failed, succeeded
from tests.unit.runner.runner_builders import column, feed_request, profile_request

pytestmark = pytest.mark.integration

MAPPING = (
    ColumnMapping(source="hitid_high", target="hit"),
    ColumnMapping(source="visit_num", target="visit"),
    ColumnMapping(source="date_time", target="at"),
    ColumnMapping(source="post_evar12", target="customer"),
    ColumnMapping(source="browser", target="browser"),
    ColumnMapping(source="country", target="country"),
    ColumnMapping(source="post_event_list", target="events"),
    ColumnMapping(source="post_pagename", target="page"),
)
LABELS = ("browser", "country", "post_event_list")


def hits_table(world: RunnerWorld, page_length: int = 100) -> TableSpec:
    return TableSpec(
        name=f"hits_{world.unique}",
        columns=(
            column("hit", max_length=30),
            column("visit", ColumnType.INTEGER),
            column("at", ColumnType.TIMESTAMP),
            column("customer", max_length=20),
            column("browser", max_length=60),
            column("country", max_length=40),
            column("events", max_length=200),
            column("page", max_length=page_length),
        ),
        primary_key=("hit",),
    )


async def run(world: RunnerWorld, run_id: int, folder: Path, table: TableSpec, **options: Any) -> Any:
    options = {"labels": LABELS, "drop_data_source_hits": True, **options}
    request = feed_request(
        world.job_id, run_id, source=world.source(str(folder)), table=table, columns=MAPPING, **options
    )
    return await world.execute(request)


def expected_rows(made: Generated, *, drop_data_sources: bool = True) -> int:
    dropped = made.excluded + (made.data_sources if drop_data_sources else 0)
    return made.total - dropped


async def stages(world: RunnerWorld, run_id: int) -> list[str]:
    return [entry.stage for entry in await world.log_entries(run_id)]


async def messages(world: RunnerWorld, run_id: int, stage: str) -> list[str]:
    return [entry.message for entry in await world.log_entries(run_id) if entry.stage == stage]


async def test_a_daily_delivery_is_loaded_filtered_labelled_reconciled_and_remembered(world: RunnerWorld) -> None:
    folder = world.remote_dir / "feed"
    made = generate(folder, hits=400, parts=2, seed=3)
    table = hits_table(world)

    ended = succeeded(await run(world, 1, folder, table))

    loaded = expected_rows(made)
    filtered = made.excluded + made.data_sources
    counts = ended.payload.counts
    assert (counts.rows_read, counts.filtered, counts.inserted, counts.rejected) == (400, filtered, loaded, 0)
    rows = await world.rows(table)
    assert len(rows) == loaded
    assert {r["browser"] for r in rows} <= set(BROWSERS.values())  # labels, not ids
    assert {r["country"] for r in rows} <= set(COUNTRIES.values())
    assert "Café\tMenü" in {r["page"] for r in rows} and "Größentabelle" in {r["page"] for r in rows}
    assert "Line one\nline two" in {r["page"] for r in rows}
    customers = {r["customer"] for r in rows if r["customer"]}
    assert customers <= made.customers and len(customers) > len(made.customers) * 0.8  # less data-source hits
    assert all(
        set(r["events"].split(",")) <= {"Purchase", "Product View", "Instance of eVar12", "Custom Event 1"}
        for r in rows
        if r["events"]
    )
    assert await stages(world, 1) == [
        "delivery_found",
        "verified",
        "read",
        "read",
        "filtered",
        "validated",
        "loaded",
        "reconciled",
    ]
    [found] = await messages(world, 1, "delivery_found")
    assert found == "delivery shop_2026-11-28 found (shop_2026-11-28.txt, 3 files)"
    assert await messages(world, 1, "verified") == [
        "delivery shop_2026-11-28: 3 files match the manifest's sizes and MD5 digests"
    ]
    assert await messages(world, 1, "read") == [
        f"read 200 hits from {made.parts[0]} (hits 1-200 of the run)",
        f"read 200 hits from {made.parts[1]} (hits 201-400 of the run)",
    ]
    [reconciled] = await messages(world, 1, "reconciled")
    assert reconciled == (
        f"delivery shop_2026-11-28 reconciled: {loaded:,} loaded + {filtered:,} filtered + 0 rejected = 400,"
        " the manifest's total"
    )
    assert list(await processed(world.pool, world.job_id)) == ["shop_2026-11-28"]
    assert await world.staging() == []

    again = succeeded(await run(world, 2, folder, table))  # nothing new: nothing loaded twice
    assert again.payload.counts.rows_read == 0 and len(await world.rows(table)) == loaded
    assert await messages(world, 2, "no_delivery") == [
        "no new complete delivery of report suite shop in '" + str(folder) + "'"
    ]


async def test_data_source_hits_are_kept_unless_the_job_drops_them(world: RunnerWorld) -> None:
    folder = world.remote_dir / "feed"
    made = generate(folder, hits=300, seed=5)
    assert made.data_sources > 0
    ended = succeeded(await run(world, 1, folder, hits_table(world), drop_data_source_hits=False))
    assert ended.payload.counts.inserted == expected_rows(made, drop_data_sources=False)
    [filtered] = await messages(world, 1, "filtered")
    assert filtered == f"{made.excluded} hits filtered: EXCLUDED_HIT {made.excluded}"


async def test_missed_hourly_deliveries_are_loaded_in_order_in_one_run(world: RunnerWorld) -> None:
    folder = world.remote_dir / "hourly"
    nine = generate(folder, hour=9, hits=50, parts=1, seed=1)
    ten = generate(folder, hour=10, hits=60, parts=2, archive="zip", seed=2)
    eleven = generate(folder, hour=11, hits=40, parts=2, marker="fin", seed=3)
    table = hits_table(world)

    ended = succeeded(await run(world, 1, folder, table, granularity="hourly"))

    assert ended.payload.counts.rows_read == 150
    assert ended.payload.counts.inserted == sum(expected_rows(m) for m in (nine, ten, eleven))
    found = await messages(world, 1, "delivery_found")
    assert [m.split(" ")[1] for m in found] == ["shop_2026-11-28-09", "shop_2026-11-28-10", "shop_2026-11-28-11"]
    verified = await messages(world, 1, "verified")
    assert verified[2] == (
        "delivery shop_2026-11-28-11 is marked complete by a .fin file, which lists no sizes or digests to check"
    )
    reconciled = await messages(world, 1, "reconciled")
    assert reconciled[0].endswith("= 50, the manifest's total") and reconciled[1].endswith("= 60, the manifest's total")
    assert reconciled[2].endswith("(a .fin delivery states no total)")
    assert sorted(await processed(world.pool, world.job_id)) == [
        "shop_2026-11-28-09",
        "shop_2026-11-28-10",
        "shop_2026-11-28-11",
    ]
    reads = await messages(world, 1, "read")
    assert reads[-1].endswith("(hits 131-150 of the run)")

    twelve = generate(folder, hour=12, hits=30, seed=4)  # the next hour arrives: the next run takes it alone
    later = succeeded(await run(world, 2, folder, table, granularity="hourly"))
    assert (later.payload.counts.rows_read, later.payload.counts.inserted) == (30, expected_rows(twelve))


async def test_a_redelivered_manifest_is_loaded_again_and_the_log_says_so(world: RunnerWorld) -> None:
    folder = world.remote_dir / "feed"
    generate(folder, hits=100, seed=1)
    table = hits_table(world)
    succeeded(await run(world, 1, folder, table))
    again = generate(folder, hits=120, seed=2)  # the same day, delivered again with other contents

    ended = succeeded(await run(world, 2, folder, table))

    assert ended.payload.counts.rows_read == 120
    [found] = await messages(world, 2, "delivery_found")
    assert found.endswith("it was delivered again with another manifest and replaces the version loaded before")
    assert await messages(world, 2, "redelivered") == [
        "delivery shop_2026-11-28 loaded again: its manifest changed since it was loaded"
    ]
    assert len(await world.rows(table)) >= expected_rows(again)


async def test_a_hit_that_does_not_fit_is_rejected_alone_with_its_number_and_text(world: RunnerWorld) -> None:
    folder = world.remote_dir / "feed"
    made = generate(folder, hits=200, parts=2, seed=7)
    table = hits_table(world, page_length=12)  # "Größentabelle" and the two-line page are longer

    ended = succeeded(await run(world, 1, folder, table))

    counts = ended.payload.counts
    assert counts.rejected > 0
    assert counts.inserted + counts.rejected + counts.filtered == made.total
    rejects = await world.rejects(1)
    assert {reason for _, reason, _ in rejects} == {"VALUE_TOO_LONG"}
    lookups = read_lookups(folder / made.lookup)
    texts = {}
    number = 0
    for name in made.parts:
        for _line, fields in hits(folder, FeedFile(name, "", 0, None), len(lookups.columns)):
            number += 1
            texts[number] = fields
    for number, _reason, raw in rejects:
        assert raw is not None and raw.split("\t")[0] == texts[number][0]  # the hit it names, by its number
        assert len(texts[number][12]) > 12
    [reconciled] = await messages(world, 1, "reconciled")
    assert f"+ {counts.rejected} rejected = 200" in reconciled


PART = "02-shop_2026-11-28.tar.gz"


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("md5", f"delivery shop_2026-11-28: {PART} does not match its MD5 digest in the manifest"),
        ("size", f"delivery shop_2026-11-28: {PART} has 8,177 bytes where the manifest says 8,176"),
        ("missing_part", f"delivery shop_2026-11-28: {PART} is listed in the manifest but was not delivered"),
        (
            "total",
            "the manifest cannot be trusted: shop_2026-11-28.txt line 4: Total-Records says 301, the data files"
            " hold 300",
        ),
        ("truncated", f"delivery shop_2026-11-28: {PART} is truncated or not a readable archive"),
    ],
)
async def test_a_corrupt_delivery_fails_the_run_with_nothing_written(world: RunnerWorld, how: str, reason: str) -> None:
    folder = world.remote_dir / "feed"
    made = generate(folder, hits=300, parts=2, seed=11)
    corrupt(made, how)
    before = sorted(p.name for p in folder.iterdir())
    table = hits_table(world)
    async with world.pool.acquire() as conn:
        await ensure_table(conn, table)  # so that "nothing written" is seen in it

    ended = failed(await run(world, 1, folder, table))

    assert isinstance(ended, RunFailed) and ended.payload.code == "FILE_INVALID"
    assert ended.payload.error == f"{reason}; nothing was loaded"
    assert await world.rows(table) == []
    assert await processed(world.pool, world.job_id) == {}
    assert sorted(p.name for p in folder.iterdir()) == before  # the files are kept
    assert await world.staging() == []
    assert "reconciled" not in await stages(world, 1)


async def test_a_delivery_lacking_a_mapped_column_fails_naming_it(world: RunnerWorld) -> None:
    folder = world.remote_dir / "feed"
    generate(folder, hits=20)
    mapping = (*MAPPING, ColumnMapping(source="post_evar99", target="customer"))
    table = hits_table(world)
    request = feed_request(
        world.job_id, 1, source=world.source(str(folder)), table=table, columns=mapping[1:], labels=LABELS
    )
    ended = failed(await world.execute(request))
    assert ended.payload.code == "BAD_HEADER" and "post_evar99" in ended.payload.error
    assert await processed(world.pool, world.job_id) == {}


async def test_reject_limits_count_the_hits_offered_to_the_table(world: RunnerWorld) -> None:
    folder = world.remote_dir / "feed"
    generate(folder, hits=200, seed=7)
    ended = failed(await run(world, 1, folder, hits_table(world, page_length=12), limits=Limits(max_rejected_rows=0)))
    assert ended.payload.code == "TOO_MANY_REJECTS"
    assert await processed(world.pool, world.job_id) == {}


async def test_a_mapping_format_reads_the_feeds_dates(world: RunnerWorld) -> None:
    folder = world.remote_dir / "feed"
    generate(folder, hits=50, seed=2)
    table = hits_table(world)
    wrong = tuple(
        ColumnMapping(source=m.source, target=m.target, format="DD/MM/YYYY HH24:MI:SS" if m.target == "at" else None)
        for m in MAPPING
    )
    request = feed_request(world.job_id, 1, source=world.source(str(folder)), table=table, columns=wrong)
    ended = succeeded(await world.execute(request))
    assert ended.payload.counts.inserted == 0  # every date_time is written YYYY-MM-DD, not as the format says
    assert {reason for _, reason, _ in await world.rejects(1)} == {"INVALID_DATA_FORMAT"}


async def test_a_feed_into_a_pet_attaches_each_hit_to_its_profile(world: RunnerWorld) -> None:
    folder = world.remote_dir / "feed"
    made = generate(folder, hits=400, parts=2, seed=13)
    members = ListSpec(name=f"Members_{world.unique}", columns=())
    visits = PetSpec(
        name=f"Visits_{world.unique}",
        list_name=members.name,
        columns=(
            column("LAST_PAGE", max_length=100),
            column("BROWSER", max_length=60),
            column("SEEN", ColumnType.TIMESTAMP),
        ),
    )
    known = sorted(made.customers)[: len(made.customers) // 2]  # half of the visitors are profiles
    csv = "customer,email\n" + "".join(f"{c},{c.lower()}@example.com\n" for c in known)
    seed = profile_request(
        world.job_id + 100_000,
        1,
        source=HostedLocation(path=world.host("upload/members.csv", csv)),
        list_spec=members,
        columns=(
            ColumnMapping(source="customer", target="CUSTOMER_ID_"),
            ColumnMapping(source="email", target="EMAIL_ADDRESS_"),
        ),
        match_column_1="CUSTOMER_ID_",
    )
    assert succeeded(await world.execute(seed)).payload.counts.inserted == len(known)
    mapping = (
        ColumnMapping(source="post_evar12", target="CUSTOMER_ID_"),
        ColumnMapping(source="post_pagename", target="LAST_PAGE"),
        ColumnMapping(source="browser", target="BROWSER"),
        ColumnMapping(source="date_time", target="SEEN"),
    )
    request = feed_request(
        world.job_id,
        1,
        source=world.source(str(folder)),
        table=members.as_table(),
        columns=mapping,
        pet=visits,
        list_spec=members,
        labels=("browser",),
        drop_data_source_hits=True,
    )

    ended = succeeded(await world.execute(request))

    counts = ended.payload.counts
    rows = [
        dict(r)
        for r in await world.pool.fetch(
            f'SELECT p.*, l."CUSTOMER_ID_" FROM pets."{visits.name}" p JOIN lists."{members.name}" l USING ("RIID_")'
        )
    ]
    assert {r["CUSTOMER_ID_"] for r in rows} <= set(known) and len(rows) > 0
    assert {r["BROWSER"] for r in rows} <= set(BROWSERS.values())
    assert len(await world.pool.fetch(f'SELECT 1 FROM lists."{members.name}"')) == len(known)  # no profile made
    filtered = await messages(world, 1, "filtered")
    assert "NO_MATCH_VALUE" in filtered[0] and "EXCLUDED_HIT" in filtered[0]
    rejects = await world.rejects(1)
    assert rejects and {reason for _, reason, _ in rejects} == {"NO_PARENT_RECORD"}  # visitors without a profile
    assert counts.duplicates > 0  # a profile's later hit replaced its earlier ones
    [reconciled] = await messages(world, 1, "reconciled")
    assert reconciled.endswith("= 400, the manifest's total")
    assert list(await processed(world.pool, world.job_id)) == ["shop_2026-11-28"]
