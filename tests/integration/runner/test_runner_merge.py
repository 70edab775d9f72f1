"""Merge loads over real SFTP into real PostgreSQL: counts, values, the ledger and the outbox."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from connect_events import RunLogged, RunProgressed, RunStarted
from tests.integration.runner.runner_it import ANN, PEOPLE_HEADER, RunnerWorld, succeeded


async def test_merge_inserts_updates_and_counts_unchanged_rows(world: RunnerWorld) -> None:
    table = world.table()
    content = (
        PEOPLE_HEADER
        + "1,Ann,1.5,true,1990-01-02,2024-05-06 07:08:09\n"
        + "2,Bob,,no,,\n"
        + "3, Cy ,-3,1,2000-02-29,2024-01-01T00:00\n"
    )
    first = world.put("first.csv", content)

    event = succeeded(await world.run(1, first, table))

    counts = event.payload.counts
    assert (counts.rows_read, counts.inserted, counts.updated, counts.unchanged, counts.rejected) == (3, 3, 0, 0, 0)
    assert counts.bytes_transferred == len(content.encode())
    assert await world.rows(table) == [
        {
            "id": 1,
            "name": "Ann",
            "score": Decimal("1.50"),
            "active": True,
            "born": date(1990, 1, 2),
            "seen": datetime(2024, 5, 6, 7, 8, 9),
        },
        {"id": 2, "name": "Bob", "score": None, "active": False, "born": None, "seen": None},
        {
            "id": 3,
            "name": "Cy",
            "score": Decimal("-3.00"),
            "active": True,
            "born": date(2000, 2, 29),
            "seen": datetime(2024, 1, 1),
        },
    ]

    second = world.put(
        "second.csv", PEOPLE_HEADER + "1,Ann,1.50,t,1990-01-02,2024-05-06 07:08:09\n2,Bo,,n,,\n4,Dee,,,,\n"
    )
    again = succeeded(await world.run(2, second, table))

    counts = again.payload.counts
    assert (counts.rows_read, counts.inserted, counts.updated, counts.unchanged, counts.rejected) == (3, 1, 1, 1, 0)
    assert await world.names(table) == [(1, "Ann"), (2, "Bo"), (3, "Cy"), (4, "Dee")]


async def test_events_ledger_and_cleanup(world: RunnerWorld) -> None:
    request = world.request(7, world.put("people.csv", ANN), world.table("p"))

    event = await world.execute(request)

    emitted = await world.events(7)
    assert isinstance(emitted[0], RunStarted)
    assert emitted[0].payload.attempt == 1 and emitted[0].payload.runner == "test-runner:1"
    assert emitted[-1] == event
    assert all(isinstance(e, RunProgressed | RunLogged) for e in emitted[1:-1])
    assert [e.aggregate_version for e in emitted] == list(range(2, 2 + len(emitted)))
    assert {e.causation_id for e in emitted} == {request.event_id}
    assert {e.correlation_id for e in emitted} == {request.correlation_id}
    ledger = await world.pool.fetchrow(
        "SELECT status, counts FROM run_ledger WHERE job_id = $1 AND run_id = 7", world.job_id
    )
    assert ledger is not None and ledger["status"] == "succeeded"
    assert await world.staging() == []
    assert list(world.deps.work_dir.iterdir()) == []


async def test_executing_the_same_run_again_is_a_no_op(world: RunnerWorld) -> None:
    table = world.table()
    request = world.request(1, world.put("people.csv", ANN), table)
    first = await world.execute(request)
    before = await world.events(1)
    world.put("people.csv", PEOPLE_HEADER + "1,Changed,,,,\n2,New,,,,\n")

    second = await world.execute(request)

    assert second == first
    assert await world.events(1) == before
    assert [r["name"] for r in await world.rows(table)] == ["Ann"]
