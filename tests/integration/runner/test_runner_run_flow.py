"""A run's flow (spec §4.1, §4.5): its execution log, one entry per stage in order; a dry run that counts what a
real run would write and writes nothing; reject thresholds and volume gates that fail the run before it writes
(its rejects still kept); a count file that must agree with the file."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from connect_events import FileRules, Limits, RunLogged
from connect_runner.domain.source_files import FetchedFile
from connect_runner.ports import FileFetcher
from tests.integration.runner.runner_it import PEOPLE_HEADER, RunnerWorld, failed, succeeded

OLD = PEOPLE_HEADER + "1,Ann,,,,\n2,Bob,,,,\n"
NEW = PEOPLE_HEADER + "2,Bobby,,,,\n3,Cy,,,,\nx,Bad,,,,\n4,Way too long name,,,,\n"
"""Against OLD: one update, one insert, two rejects (one per reason)."""


async def _logged(world: RunnerWorld, run_id: int) -> list[RunLogged]:
    return [e for e in await world.events(run_id) if isinstance(e, RunLogged)]


async def test_each_stage_is_logged_in_order_before_the_end(world: RunnerWorld) -> None:
    table = world.table()
    await world.run(1, world.put("old.csv", OLD), table)
    path = world.put("people.csv", NEW)

    event = succeeded(await world.run(2, path, table))

    emitted = await world.events(2)
    logged = [e for e in emitted if isinstance(e, RunLogged)]
    assert [e.payload.stage for e in logged] == ["file_found", "transferred", "parsed", "validated", "loaded"]
    assert [e.payload.message for e in logged[2:]] == [
        "parsed 4 data rows",
        "2 rows rejected: INVALID_DATA_FORMAT 1, VALUE_TOO_LONG 1",
        "loaded: 1 inserted, 1 updated, 0 unchanged",
    ]
    size = len(NEW.encode())
    assert logged[0].payload.details == {"path": path}
    assert logged[1].payload.details["size"] == size and len(str(logged[1].payload.details["sha256"])) == 64
    assert {e.payload.attempt for e in logged} == {1} and {e.payload.level for e in logged} == {"INFO"}
    # Numbered with the run's other events, the terminal one last.
    assert [e.aggregate_version for e in emitted] == list(range(2, 2 + len(emitted)))
    assert emitted[-1] == event


async def test_a_dry_run_counts_what_a_run_would_write_and_writes_nothing(world: RunnerWorld) -> None:
    table = world.table()
    await world.run(1, world.put("old.csv", OLD), table)
    path = world.put("people.csv", NEW)

    dry = succeeded(await world.run(2, path, table, dry_run=True))

    assert await world.names(table) == [(1, "Ann"), (2, "Bob")]
    assert [r[:2] for r in await world.rejects(2)] == [(4, "INVALID_DATA_FORMAT"), (5, "VALUE_TOO_LONG")]
    assert [(e.payload.stage, e.payload.message) for e in (await _logged(world, 2))[-2:]] == [
        ("loaded", "would load: 1 inserted, 1 updated, 0 unchanged"),
        ("dry_run", "dry run: nothing was written (the rejects are kept)"),
    ]
    real = succeeded(await world.run(3, path, table))
    assert dry.payload.counts == real.payload.counts
    assert await world.names(table) == [(1, "Ann"), (2, "Bobby"), (3, "Cy")]


async def test_a_dry_run_of_an_append_counts_the_collisions(world: RunnerWorld) -> None:
    table = world.table()
    await world.run(1, world.put("old.csv", OLD), table)
    path = world.put("people.csv", PEOPLE_HEADER + "2,Bobby,,,,\n3,Cy,,,,\n")

    dry = succeeded(await world.run(2, path, table, write_mode="append", dry_run=True))

    counts = dry.payload.counts
    assert (counts.inserted, counts.updated, counts.rejected) == (1, 0, 1)
    assert await world.rejects(2) == [(2, "DUPLICATE_KEY", "2,Bobby,,,,")]
    assert await world.names(table) == [(1, "Ann"), (2, "Bob")]


async def test_over_a_reject_threshold_the_run_fails_writes_nothing_and_keeps_its_rejects(world: RunnerWorld) -> None:
    table = world.table()
    await world.run(1, world.put("old.csv", OLD), table)
    path = world.put("people.csv", NEW)

    event = failed(await world.run(2, path, table, limits=Limits(max_rejected_percent=25)))

    assert (event.payload.code, event.payload.error) == (
        "TOO_MANY_REJECTS",
        "2 of 4 data rows were rejected (50 %); the job allows at most 25 %",
    )
    assert await world.names(table) == [(1, "Ann"), (2, "Bob")]
    assert [r[:2] for r in await world.rejects(2)] == [(4, "INVALID_DATA_FORMAT"), (5, "VALUE_TOO_LONG")]
    stages = [e.payload.stage for e in await _logged(world, 2)]
    assert stages[-1] == "validated" and "loaded" not in stages
    assert await world.ledger_status(2) == "failed"


async def test_append_collisions_count_towards_the_threshold(world: RunnerWorld) -> None:
    table = world.table()
    await world.run(1, world.put("old.csv", OLD), table)
    path = world.put("people.csv", PEOPLE_HEADER + "1,Ann,,,,\n2,Bob,,,,\n3,Cy,,,,\n")

    event = failed(await world.run(2, path, table, write_mode="append", limits=Limits(max_rejected_rows=1)))

    assert (event.payload.code, event.payload.error) == (
        "TOO_MANY_REJECTS",
        "2 of 3 data rows were rejected (66.67 %); the job allows at most 1 data row",
    )
    assert await world.names(table) == [(1, "Ann"), (2, "Bob")]
    assert [r[:2] for r in await world.rejects(2)] == [(2, "DUPLICATE_KEY"), (3, "DUPLICATE_KEY")]


async def test_a_file_outside_the_volume_gates_fails_before_writing(world: RunnerWorld) -> None:
    table = world.table()
    path = world.put("people.csv", OLD)

    event = failed(await world.run(1, path, table, limits=Limits(min_rows=3)))

    assert (event.payload.code, event.payload.error) == (
        "ROW_VOLUME",
        "the file holds 2 data rows; the job expects at least 3",
    )
    assert await world.names(table) == []
    assert succeeded(await world.run(2, path, table, limits=Limits(min_rows=2, max_rows=2)))


async def test_a_header_only_file_loads_nothing_unless_a_gate_says_otherwise(world: RunnerWorld) -> None:
    table = world.table()
    path = world.put("people.csv", PEOPLE_HEADER)

    event = succeeded(await world.run(1, path, table))

    assert event.payload.counts.rows_read == 0
    assert failed(await world.run(2, path, table, limits=Limits(min_rows=1))).payload.code == "ROW_VOLUME"


async def test_a_count_file_that_disagrees_fails_the_run_before_writing(world: RunnerWorld) -> None:
    table = world.table()
    path = world.put("people.csv", OLD)
    world.put("people.csv.cnt", "3\n")

    event = failed(await world.run(1, path, table, files=FileRules(count_file="cnt")))

    assert (event.payload.code, event.payload.error) == (
        "COUNT_MISMATCH",
        "the count file says 3 data rows, the file holds 2",
    )
    assert await world.names(table) == []
    world.put("people.csv.cnt", "2\n")
    assert succeeded(await world.run(2, path, table, files=FileRules(count_file="cnt")))
    verified = [e.payload for e in await _logged(world, 2) if e.payload.stage == "count_verified"]
    assert [(p.message, p.details) for p in verified] == [
        ("the count file's 2 data rows match the file", {"expected": 2})
    ]


def _archive(world: RunnerWorld, folder: str = "archive", **rules: str) -> FileRules:
    return FileRules(archive_folder=str(world.remote_dir / folder), **rules)


async def test_a_loaded_file_is_moved_to_the_archive_and_logged_after_the_end(world: RunnerWorld) -> None:
    path = world.put("people.csv", OLD)

    event = succeeded(await world.run(1, path, world.table(), files=_archive(world)))

    archived = world.remote_dir / "archive" / f"{world.job_id}.1_people.csv"
    assert archived.read_text() == OLD and not (world.remote_dir / "people.csv").exists()
    emitted = await world.events(1)
    assert emitted[-2] == event
    last = emitted[-1]
    assert isinstance(last, RunLogged) and (last.payload.stage, last.payload.level) == ("archived", "INFO")
    assert last.payload.message == f"moved to '{archived}'"
    assert last.aggregate_version == event.aggregate_version + 1


async def test_a_file_that_failed_the_run_is_moved_with_its_companions(world: RunnerWorld) -> None:
    path = world.put("people.csv", OLD)
    world.put("people.csv.cnt", "5\n")

    event = failed(await world.run(1, path, world.table(), files=_archive(world, count_file="cnt")))

    assert event.payload.code == "COUNT_MISMATCH"
    prefix = f"{world.job_id}.1_"
    assert sorted(p.name for p in (world.remote_dir / "archive").iterdir()) == [
        f"{prefix}people.csv",
        f"{prefix}people.csv.cnt",
    ]
    assert not (world.remote_dir / "people.csv").exists()


async def test_a_file_is_copied_after_a_failure_it_did_not_cause(world: RunnerWorld) -> None:
    table = world.table()
    await world.run(1, world.put("empty.csv", PEOPLE_HEADER), table)  # creates the table
    await world.pool.execute(f'ALTER TABLE custom."{table.name}" ADD CONSTRAINT only_negative CHECK (id < 0)')
    path = world.put("people.csv", OLD)

    event = failed(await world.run(2, path, table, files=_archive(world)))

    assert event.payload.code == "LOAD_FAILED"
    assert (world.remote_dir / "archive" / f"{world.job_id}.2_people.csv").read_text() == OLD
    assert (world.remote_dir / "people.csv").read_text() == OLD  # left for the next run


async def test_a_dry_run_leaves_the_file_where_it_is(world: RunnerWorld) -> None:
    path = world.put("people.csv", OLD)

    succeeded(await world.run(1, path, world.table(), files=_archive(world), dry_run=True))

    assert (world.remote_dir / "people.csv").exists() and not (world.remote_dir / "archive").exists()


async def test_a_file_that_cannot_be_archived_only_warns(world: RunnerWorld) -> None:
    path = world.put("people.csv", OLD)
    world.put("blocked", "a file where the archive folder should be")

    event = succeeded(await world.run(1, path, world.table(), files=_archive(world, "blocked")))

    last = (await world.events(1))[-1]
    assert isinstance(last, RunLogged) and (last.payload.stage, last.payload.level) == ("archived", "WARN")
    assert last.payload.message.startswith(f"'{path}' was not archived: ")
    assert event.payload.counts.inserted == 2 and (world.remote_dir / "people.csv").exists()


class _DiesWhileArchiving:
    """The runner's files, except that the archive step dies with its runner (cancelled, as a rebalance or a
    drain cancels work), after the run's end was committed."""

    def __init__(self, files: FileFetcher) -> None:
        self._files = files

    async def fetch(self, *args: Any, **kwargs: Any) -> FetchedFile:
        return await self._files.fetch(*args, **kwargs)

    async def archive(self, *args: Any, **kwargs: Any) -> str:
        raise asyncio.CancelledError


async def test_a_runner_dying_before_the_archive_step_leaves_it_to_the_redelivered_request(
    world: RunnerWorld,
) -> None:
    path = world.put("people.csv", OLD)
    request = world.request(1, path, world.table(), files=_archive(world))
    dying = dataclasses.replace(world.deps, files=_DiesWhileArchiving(world.deps.files))

    with pytest.raises(asyncio.CancelledError):
        await world.execute(request, dying)
    assert (world.remote_dir / "people.csv").exists()  # loaded, ended, not archived yet
    event = succeeded(await world.execute(request))  # the request comes again

    archived = world.remote_dir / "archive" / f"{world.job_id}.1_people.csv"
    assert archived.read_text() == OLD and not (world.remote_dir / "people.csv").exists()
    emitted = await world.events(1)
    last = emitted[-1]
    assert emitted[-2] == event
    assert isinstance(last, RunLogged) and (last.payload.stage, last.payload.level) == ("archived", "INFO")
    assert last.payload.message == f"moved to '{archived}'"

    world.put("people.csv", NEW)  # the next delivery under the same name stays for the next run
    assert succeeded(await world.execute(request)) == event
    assert (world.remote_dir / "people.csv").read_text() == NEW
    assert len([e for e in await world.events(1) if isinstance(e, RunLogged)]) == len(
        [e for e in emitted if isinstance(e, RunLogged)]
    )
