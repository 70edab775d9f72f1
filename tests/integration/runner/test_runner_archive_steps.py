"""The archive step of a runner that died between the run's end and archiving, against the real database, SFTP
server and hosted tree: the request delivered again (or, when none comes, the reaper's sweep) archives the file
exactly once as the server has it (a copy made on the server), logs `archived` after the end, and leaves a file
that changed meanwhile in place."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from connect_events import FileRules, HostedLocation, RunEvent, RunLogged, RunRequested
from connect_runner.domain.source_files import FetchedFile
from connect_runner.handlers import LEFT_ARCHIVE_AFTER_S, reap_lost_runs
from connect_runner.ports import FileFetcher, RunDeps
from tests.integration.runner.runner_it import ANN, PEOPLE_HEADER, RunnerWorld, failed, succeeded
from tests.unit.runner.runner_builders import run_request

pytestmark = pytest.mark.integration

OLD = PEOPLE_HEADER + "1,Ann,,,,\n2,Bob,,,,\n"
NEWER = PEOPLE_HEADER + "3,Cy,,,,\n4,Dee,,,,\n5,Eve,,,,\n"


class DiesWhileArchiving:
    """The runner's files, except that the archive step dies with its runner (cancelled, as a drain or a
    rebalance cancels a run) after the run's end committed."""

    def __init__(self, files: FileFetcher) -> None:
        self._files = files

    async def fetch(self, *args: Any, **kwargs: Any) -> FetchedFile:
        return await self._files.fetch(*args, **kwargs)

    async def archive(self, *args: Any, **kwargs: Any) -> str:
        raise asyncio.CancelledError


class Counting:
    """The runner's files, counting the archive steps carried out."""

    def __init__(self, files: FileFetcher) -> None:
        self._files = files
        self.archives = 0

    async def fetch(self, *args: Any, **kwargs: Any) -> FetchedFile:
        return await self._files.fetch(*args, **kwargs)

    async def archive(self, *args: Any, **kwargs: Any) -> str:
        self.archives += 1
        return await self._files.archive(*args, **kwargs)


async def crash(world: RunnerWorld, request: RunRequested) -> RunEvent:
    """Execute `request` on a runner that dies in the archive step; the run's end is committed."""
    dying = dataclasses.replace(world.deps, files=DiesWhileArchiving(world.deps.files))
    with pytest.raises(asyncio.CancelledError):
        await world.execute(request, dying)
    ended = (await world.events(request.payload.run_id))[-1]
    assert not isinstance(ended, RunLogged), ended  # the terminal event is the last: nothing logged after it
    assert await pending_steps(world) == 1
    return ended


async def pending_steps(world: RunnerWorld) -> int:
    query = "SELECT count(*) FROM run_archives WHERE job_id = $1"
    count: int = await world.pool.fetchval(query, world.job_id)
    return count


async def archived_entries(world: RunnerWorld, run_id: int) -> list[tuple[str, str]]:
    logged = [e for e in await world.events(run_id) if isinstance(e, RunLogged) and e.payload.stage == "archived"]
    return [(e.payload.level, e.payload.message) for e in logged]


def counting(world: RunnerWorld) -> tuple[RunDeps, Counting]:
    files = Counting(world.deps.files)
    return dataclasses.replace(world.deps, files=files), files


def archive_rules(world: RunnerWorld) -> FileRules:
    return FileRules(archive_folder=str(world.remote_dir / "archive"), count_file="cnt")


async def test_a_copy_after_a_failure_the_file_did_not_cause_is_made_on_the_server_once(world: RunnerWorld) -> None:
    table = world.table()
    await world.run(1, world.put("empty.csv", PEOPLE_HEADER), table)  # creates the table
    await world.pool.execute(f'ALTER TABLE custom."{table.name}" ADD CONSTRAINT only_negative CHECK (id < 0)')
    path = world.put("people.csv", OLD)
    world.put("people.csv.cnt", "2\n")
    request = world.request(2, path, table, files=archive_rules(world))
    ended = failed(await crash(world, request))
    assert ended.payload.code == "LOAD_FAILED"
    assert not (world.remote_dir / "archive").exists()
    deps, files = counting(world)

    assert await world.execute(request, deps) == ended  # the request comes again
    assert await world.execute(request, deps) == ended  # and again

    folder = world.remote_dir / "archive"
    prefix = f"{world.job_id}.2_"
    assert sorted(p.name for p in folder.iterdir()) == [f"{prefix}people.csv", f"{prefix}people.csv.cnt"]
    assert (folder / f"{prefix}people.csv").read_text() == OLD
    assert (world.remote_dir / "people.csv").read_text() == OLD  # left for the next run
    assert files.archives == 1 and await pending_steps(world) == 0
    assert await archived_entries(world, 2) == [("INFO", f"copied to '{folder / (prefix + 'people.csv')}'")]


async def test_a_file_replaced_before_the_request_came_again_is_left_in_place(world: RunnerWorld) -> None:
    path = world.put("people.csv", OLD)
    world.put("people.csv.cnt", "2\n")
    request = world.request(1, path, world.table(), files=archive_rules(world))
    succeeded(await crash(world, request))
    world.put("people.csv", NEWER)  # the next delivery, under the same name
    world.put("people.csv.cnt", "3\n")

    succeeded(await world.execute(request))

    assert (world.remote_dir / "people.csv").read_text() == NEWER
    assert (world.remote_dir / "people.csv.cnt").read_text() == "3\n"
    assert not (world.remote_dir / "archive").exists()
    [(level, message)] = await archived_entries(world, 1)
    assert level == "WARN" and message.startswith(f"'{path}' was not archived: '{path}' changed after the run read")
    assert await pending_steps(world) == 0


async def test_a_hosted_file_is_moved_with_its_companions_by_the_request_that_came_again(world: RunnerWorld) -> None:
    path = world.host("upload/people.csv", ANN)
    world.host("upload/people.csv.cnt", "1\n")
    rules = FileRules(count_file="cnt", archive_folder="archive")
    request = run_request(world.job_id, 1, source=HostedLocation(path=path), table=world.table(), files=rules)
    event = succeeded(await crash(world, request))

    assert await world.execute(request) == event

    prefix = f"{world.job_id}.1_"
    archived = sorted(p.name for p in (world.files_root / "archive").iterdir())
    assert archived == [f"{prefix}people.csv", f"{prefix}people.csv.cnt"]
    assert list((world.files_root / "upload").iterdir()) == []
    assert await archived_entries(world, 1) == [("INFO", f"moved to 'archive/{prefix}people.csv'")]


async def test_the_reapers_sweep_archives_a_step_no_request_brings_back(world: RunnerWorld) -> None:
    path = world.put("people.csv", OLD)
    world.put("people.csv.cnt", "2\n")
    request = world.request(1, path, world.table(), files=archive_rules(world))
    event = succeeded(await crash(world, request))
    deps, files = counting(world)
    now = deps.clock()
    early = dataclasses.replace(deps, clock=lambda: now + timedelta(seconds=LEFT_ARCHIVE_AFTER_S / 2))
    later = dataclasses.replace(deps, clock=lambda: now + timedelta(seconds=LEFT_ARCHIVE_AFTER_S + 5))

    await reap_lost_runs(early)
    assert files.archives == 0 and await pending_steps(world) == 1  # its runner may be at it still
    await reap_lost_runs(later)
    await reap_lost_runs(later)

    archived = world.remote_dir / "archive" / f"{world.job_id}.1_people.csv"
    assert archived.read_text() == OLD and not (world.remote_dir / "people.csv").exists()
    assert files.archives == 1 and await pending_steps(world) == 0
    assert await archived_entries(world, 1) == [("INFO", f"moved to '{archived}'")]
    assert (await world.events(1))[-2] == event
