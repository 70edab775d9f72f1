"""The archive step after a run's end, on the in-memory ledger: kept in the transaction that ends the run and
dropped once done, so a runner that dies in between (its archive step cancelled) leaves it to the request
delivered again, or to the reaper's sweep when no request comes back; either archives the file as the server has
it, once, and logs `archived` after the end. A dry run keeps no step."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from connect_events import FileRules, RunEvent, RunFailed, RunLogged, RunRequested
from connect_runner.domain.failures import RunFailure
from connect_runner.domain.file_pattern import FilePattern
from connect_runner.domain.source_files import Checkpoint, FetchedFile, Progress, Source
from connect_runner.handlers import LEFT_ARCHIVE_AFTER_S, execute_run, reap_lost_runs
from connect_runner.ports import RunDeps
from connect_runtime.vault import Credential, CredentialNotFoundError
from tests.unit.runner.ledger_fake import InMemoryRunLedger
from tests.unit.runner.runner_builders import location, run_request

T0 = datetime(2025, 3, 14, 10, 0, tzinfo=UTC)
PATH = "/in/people.csv"
COUNT_FILE = PATH + ".cnt"
STAMP = (120, 1741946400, 1741946400000000000)
DOWNLOAD = Path("/work/run-s_42_1_1_rows.csv")
MOVED = "/in/archive/42.1_people.csv"


@dataclass(frozen=True)
class Archived:
    fetched: FetchedFile
    folder: str
    prefix: str
    move: bool


@dataclass
class Files:
    """The source's files: a fetch finds the file; the archive step dies with its runner `dies` times first
    (cancelled, as a drain or a rebalance cancels a run), then is done, or fails with `failure`."""

    dies: int = 0
    failure: RunFailure | None = None
    archived: list[Archived] = field(default_factory=list)

    async def fetch(
        self,
        source: Source,
        pattern: FilePattern,
        rules: FileRules,
        work_dir: Path,
        stem: str,
        progress: Progress,
        checkpoint: Checkpoint,
    ) -> FetchedFile:
        return FetchedFile(DOWNLOAD, PATH, 120, "ab" * 32, 2, (COUNT_FILE,), STAMP)

    async def archive(self, source: Source, fetched: FetchedFile, folder: str, prefix: str, *, move: bool) -> str:
        assert source.credential is not None and source.credential.secret == "the key"
        if self.dies:
            self.dies -= 1
            raise asyncio.CancelledError
        if self.failure is not None:
            raise self.failure
        self.archived.append(Archived(fetched, folder, prefix, move))
        return f"{folder}/{prefix}people.csv"


class Database:
    """The audience database, failing the run as its tables are made (after the file was fetched)."""

    def __init__(self, failure: Exception) -> None:
        self.failure = failure

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        raise self.failure
        yield


class Vault:
    def __init__(self) -> None:
        self.gone = False

    async def read(self, credential_id: UUID) -> Credential:
        if self.gone:
            raise CredentialNotFoundError(credential_id)
        return Credential(kind="private_key", secret="the key")


@dataclass
class World:
    failure: Exception = field(default_factory=lambda: RunFailure("BAD_HEADER", "the header is wrong"))
    files: Files = field(default_factory=Files)
    ledger: InMemoryRunLedger = field(default_factory=InMemoryRunLedger)
    vault: Vault = field(default_factory=Vault)
    now: datetime = T0

    def deps(self) -> RunDeps:
        pool: Any = Database(self.failure)
        ledger: Any = self.ledger
        return RunDeps(
            pool=pool,
            ledger=ledger,
            vault=self.vault,
            files=self.files,
            work_dir=Path("/nonexistent/work"),
            runner="host-a",
            clock=lambda: self.now,
        )

    async def execute(self, request: RunRequested) -> RunEvent | None:
        return await execute_run(request, self.deps())

    def archived_entries(self) -> list[tuple[str, str]]:
        logged = [e for e in self.ledger.published if isinstance(e, RunLogged) and e.payload.stage == "archived"]
        return [(e.payload.level, e.payload.message) for e in logged]


def request(*, dry_run: bool = False) -> RunRequested:
    files = FileRules(archive_folder="/in/archive")
    return run_request(42, 1, source=location(PATH), files=files, dry_run=dry_run)


def server_file(*, downloaded: bool = False) -> FetchedFile:
    """The file as the archive step is given it: the run's download, or (`downloaded` false) the server's."""
    if downloaded:
        return FetchedFile(DOWNLOAD, PATH, 120, "ab" * 32, 2, (COUNT_FILE,), STAMP)
    return FetchedFile(Path(), PATH, 0, "", None, (COUNT_FILE,), STAMP, downloaded=False)


async def crashed(world: World, req: RunRequested) -> RunFailed:
    """Run `req` on a runner that dies in its archive step: the run ended, the step is kept, nothing archived."""
    world.files.dies = 1
    with pytest.raises(asyncio.CancelledError):
        await world.execute(req)
    [ended] = [e for e in world.ledger.published if isinstance(e, RunFailed)]
    assert list(world.ledger.archives) == [req.aggregate_id]
    assert world.files.archived == [] and world.archived_entries() == []
    return ended


async def test_the_attempt_that_ends_the_run_archives_its_download_and_drops_the_step() -> None:
    world = World()

    event = await world.execute(request())

    assert isinstance(event, RunFailed) and event.payload.code == "BAD_HEADER"
    assert world.files.archived == [Archived(server_file(downloaded=True), "/in/archive", "42.1_", True)]
    assert world.archived_entries() == [("INFO", f"moved to '{MOVED}'")]
    assert world.ledger.published[-2] == event  # logged after the end
    assert world.ledger.archives == {}


@pytest.mark.parametrize(
    ("failure", "move"),
    [(RunFailure("BAD_HEADER", "the header is wrong"), True), (RuntimeError("a bug"), False)],
    ids=["moved after a file problem", "copied after another failure"],
)
async def test_a_step_its_runner_died_in_is_done_once_by_the_request_delivered_again(
    failure: Exception, move: bool
) -> None:
    world = World(failure=failure)
    req = request()
    ended = await crashed(world, req)

    assert await world.execute(req) == ended
    assert world.files.archived == [Archived(server_file(), "/in/archive", "42.1_", move)]
    assert world.archived_entries() == [("INFO", f"{'moved' if move else 'copied'} to '{MOVED}'")]
    assert world.ledger.archives == {}
    published = len(world.ledger.published)
    assert await world.execute(req) == ended  # and again: nothing is left to do
    assert len(world.files.archived) == 1 and len(world.ledger.published) == published


async def test_the_reapers_sweep_does_a_step_no_request_brings_back_once_it_is_old_enough() -> None:
    world = World()
    req = request()
    await crashed(world, req)

    world.now = T0 + timedelta(seconds=LEFT_ARCHIVE_AFTER_S - 1)
    await reap_lost_runs(world.deps())
    assert world.files.archived == []
    world.now = T0 + timedelta(seconds=LEFT_ARCHIVE_AFTER_S + 1)
    await reap_lost_runs(world.deps())
    await reap_lost_runs(world.deps())

    assert world.files.archived == [Archived(server_file(), "/in/archive", "42.1_", True)]
    assert world.archived_entries() == [("INFO", f"moved to '{MOVED}'")]
    assert world.ledger.archives == {}


async def test_the_sweep_leaves_a_step_whose_run_is_locked_to_the_holder() -> None:
    world = World()
    req = request()
    await crashed(world, req)
    world.now = T0 + timedelta(seconds=LEFT_ARCHIVE_AFTER_S + 1)

    async with world.ledger.transaction() as holder:
        await world.ledger.load(holder, req)
        await reap_lost_runs(world.deps())
        assert world.files.archived == []
    await reap_lost_runs(world.deps())

    assert len(world.files.archived) == 1 and len(world.archived_entries()) == 1


async def test_a_step_that_fails_or_whose_credential_is_gone_only_warns_and_is_dropped() -> None:
    world = World()
    req = request()
    await crashed(world, req)
    world.vault.gone = True

    await world.execute(req)

    [(level, message)] = world.archived_entries()
    assert level == "WARN" and message.startswith(f"'{PATH}' was not archived: the job's credential ")
    assert world.files.archived == [] and world.ledger.archives == {}


async def test_a_changed_file_is_refused_by_the_files_and_the_step_warns() -> None:
    world = World()
    req = request()
    await crashed(world, req)
    world.files.failure = RunFailure("LOAD_FAILED", f"'{PATH}' changed after the run read it; it is left in place")

    await world.execute(req)

    assert world.archived_entries() == [
        ("WARN", f"'{PATH}' was not archived: '{PATH}' changed after the run read it; it is left in place")
    ]
    assert world.ledger.archives == {}


async def test_a_dry_run_keeps_no_archive_step() -> None:
    world = World()

    event = await world.execute(request(dry_run=True))

    assert isinstance(event, RunFailed)
    assert world.files.archived == [] and world.archived_entries() == [] and world.ledger.archives == {}
