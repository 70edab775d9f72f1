"""`execute_run` and the retry poller's use cases (`take_up_retries`, `continue_retry`) with a retry policy, on
the in-memory ledger with an injected clock: an attempt that fails transiently ends the request's work (it
returns None) and the run waits in the ledger; the poller begins the next attempt once the wait is over, once
however many runners poll, as many as it has slots for. A stop during the wait ends the run at the poller's
next pass (needing no slot); the wait is never reaped; a request redelivered during it begins nothing; an
attempt the poller began that died is begun again once silent. An attempt that a newer one superseded winds
down and decides nothing."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from connect_events import (
    FileRules,
    RetryPolicy,
    RunAttemptFailed,
    RunEvent,
    RunFailed,
    RunRequested,
    RunStarted,
    RunStopped,
    SftpLocation,
)
from connect_runner.adapters.sftp_failures import Where, connect_failure
from connect_runner.domain.failures import RunFailure
from connect_runner.domain.file_pattern import FilePattern
from connect_runner.domain.run import BeginAttempt
from connect_runner.domain.source_files import Checkpoint, FetchedFile, Progress, Source
from connect_runner.handlers import (
    AttemptSupersededError,
    continue_retry,
    execute_run,
    reap_lost_runs,
    record_stop,
    take_up_retries,
)
from connect_runner.ports import RESUME_AFTER_S, RunDeps
from connect_runtime.vault import Credential
from tests.unit.runner.ledger_contract import read, run
from tests.unit.runner.ledger_fake import InMemoryRunLedger
from tests.unit.runner.runner_builders import location, run_request, stop_request

T0 = datetime(2025, 3, 14, 10, 0, tzinfo=UTC)
PATH = "/in/people.csv"
REFUSED = "cannot connect to connect@127.0.0.1:2222: the server refused the connection (nothing listens on port 2222)"


@dataclass
class FakeTime:
    """The clock of `RunDeps`, moved on by the test."""

    now: datetime = T0

    def clock(self) -> datetime:
        return self.now


class Server:
    """An SFTP server as the fetcher meets it: refusing connections, or holding no such file; `meanwhile`
    happens while a fetch is under way, before the fetch fails (or, `hang`, never ends)."""

    def __init__(
        self, failure: str = "refused", meanwhile: Callable[[], Awaitable[None]] | None = None, hang: bool = False
    ) -> None:
        self.failure = failure
        self.fetches: list[datetime] = []
        self.time: FakeTime | None = None
        self.meanwhile = meanwhile
        self.hang = hang

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
        assert self.time is not None
        self.fetches.append(self.time.now)
        if self.meanwhile is not None:
            await self.meanwhile()
        if self.hang:
            await asyncio.Event().wait()  # ended only by the attempt's stop check
        if self.failure == "refused":
            assert isinstance(source.location, SftpLocation)
            refused = ConnectionRefusedError(errno.ECONNREFUSED, "refused")
            raise connect_failure(refused, Where.of(source.location, PATH))
        raise RunFailure("FILE_NOT_FOUND", f"no file matching '{pattern.path}'")


class Vault:
    async def read(self, credential_id: UUID) -> Credential:
        return Credential(kind="private_key", secret="not used")


class Database:
    """The pool as the clean-up uses it: the statements it runs are kept."""

    def __init__(self) -> None:
        self.executed: list[str] = []

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Database]:
        yield self

    async def execute(self, statement: str, *args: object) -> None:
        self.executed.append(statement)

    async def fetch(self, statement: str, *args: object) -> list[Any]:
        return []


@dataclass
class World:
    ledger: InMemoryRunLedger = field(default_factory=InMemoryRunLedger)
    time: FakeTime = field(default_factory=FakeTime)
    server: Server = field(default_factory=Server)
    database: Database = field(default_factory=Database)

    def __post_init__(self) -> None:
        self.server.time = self.time

    def deps(self, runner: str = "host-a", **options: Any) -> RunDeps:
        pool: Any = self.database
        ledger: Any = self.ledger
        return RunDeps(
            pool=pool,
            ledger=ledger,
            vault=Vault(),
            files=self.server,
            work_dir=Path("/nonexistent/work"),
            runner=runner,
            clock=self.time.clock,
            **options,
        )

    def published(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.ledger.published if isinstance(e, kind)]


def request(policy: RetryPolicy, run_id: int = 1) -> RunRequested:
    req = run_request(42, run_id, source=location(PATH, port=2222))
    definition = req.payload.definition.model_copy(update={"retry": policy})
    return req.model_copy(update={"payload": req.payload.model_copy(update={"definition": definition})})


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def poll(deps: RunDeps, slots: int = 2) -> list[RunEvent | None]:
    """One pass of the retry poller with `slots` free, each attempt it began carried out."""
    return [await continue_retry(retry, deps) for retry in await take_up_retries(deps, slots)]


async def test_a_refused_connection_is_tried_again_by_the_poller_after_each_wait_until_the_policy_runs_out() -> None:
    world = World()
    req = request(RetryPolicy(attempts=3, initial_backoff_s=2, multiplier=3.0))

    assert await execute_run(req, world.deps()) is None  # the request is done with: the run waits
    world.time.now = at(1.9)
    assert await poll(world.deps()) == []
    world.time.now = at(2)
    assert await poll(world.deps("host-b")) == [None]  # attempt 2 failed too: the run waits 6 s
    world.time.now = at(8)
    [event] = await poll(world.deps())

    assert isinstance(event, RunFailed)
    assert (event.payload.code, event.payload.error) == ("CONNECTION_FAILED", f"{REFUSED} (after 3 attempts)")
    assert world.server.fetches == [at(0), at(2), at(8)]
    assert [(e.type, e.aggregate_version) for e in world.ledger.published] == [
        ("run.started", 2),
        ("run.attempt_failed", 3),
        ("run.started", 4),
        ("run.attempt_failed", 5),
        ("run.started", 6),
        ("run.failed", 7),
    ]
    failures = world.published(RunAttemptFailed)
    assert [(f.payload.attempt, f.payload.retry_at, f.payload.error) for f in failures] == [
        (1, at(2), REFUSED),
        (2, at(8), REFUSED),
    ]
    assert [(s.payload.attempt, s.payload.runner) for s in world.published(RunStarted)] == [
        (1, "host-a"),
        (2, "host-b"),
        (3, "host-a"),
    ]
    # Each failed attempt's staging went before the next attempt began.
    dropped = [s for s in world.database.executed if s.startswith("DROP TABLE")]
    assert ["s_42_1_1" in dropped[0], "s_42_1_2" in dropped[1]] == [True, True]
    assert world.ledger.requests == {}  # ended: the kept request is gone
    assert await execute_run(req, world.deps()) == event  # redelivered: nothing more
    world.time.now = at(10_000)
    assert await poll(world.deps()) == []


async def test_a_data_error_is_not_tried_again() -> None:
    world = World(server=Server(failure="no such file"))

    event = await execute_run(request(RetryPolicy(attempts=5, initial_backoff_s=1, multiplier=1.0)), world.deps())

    assert isinstance(event, RunFailed)
    assert (event.payload.code, event.payload.error) == ("FILE_NOT_FOUND", f"no file matching '{PATH}'")
    assert [e.type for e in world.ledger.published] == ["run.started", "run.failed"]
    world.time.now = at(3600)
    assert await poll(world.deps()) == [] and len(world.server.fetches) == 1


async def test_a_stop_during_the_wait_ends_the_run_stopped_at_the_next_pass_without_a_slot() -> None:
    world = World()
    req = request(RetryPolicy(attempts=3, initial_backoff_s=600, multiplier=2.0))
    assert await execute_run(req, world.deps()) is None

    world.time.now = at(30)
    async with world.ledger.transaction() as tx:
        await record_stop(world.ledger, tx, stop_request(42, 1, at=at(30)))
    world.time.now = at(31)
    assert await take_up_retries(world.deps(), 0) == []  # every slot busy: the stop needs none

    [stopped] = world.published(RunStopped)
    assert stopped.payload.finished_at == at(31)  # not at the end of the 600 s wait
    assert [e.type for e in world.ledger.published] == ["run.started", "run.attempt_failed", "run.stopped"]
    assert await execute_run(req, world.deps()) == stopped
    world.time.now = at(600)
    assert await poll(world.deps()) == [] and len(world.server.fetches) == 1


async def test_the_wait_needs_no_heartbeat_and_is_never_reaped() -> None:
    world = World()
    req = request(RetryPolicy(attempts=2, initial_backoff_s=1800, multiplier=1.0))  # 30 min, abandon after 10
    deps = world.deps(abandon_after_s=600.0)
    assert await execute_run(req, deps) is None

    world.time.now = at(1799)
    assert await reap_lost_runs(deps) == []
    assert (await read(world.ledger, req)).heartbeat_at is None
    world.time.now = at(1800)
    [event] = await poll(deps)

    assert world.server.fetches == [at(0), at(1800)]
    assert isinstance(event, RunFailed) and event.payload.error == f"{REFUSED} (after 2 attempts)"


@pytest.mark.parametrize("redelivered_s", [20, 60, 61], ids=["during", "when-due", "after-due"])
async def test_a_request_redelivered_during_the_wait_begins_nothing(redelivered_s: float) -> None:
    world = World()
    req = request(RetryPolicy(attempts=2, initial_backoff_s=60, multiplier=2.0))
    assert await execute_run(req, world.deps("host-a")) is None
    world.ledger.requests.clear()  # as if it began waiting under an older runner, which kept no request

    world.time.now = at(redelivered_s)
    assert await execute_run(req, world.deps("host-b")) is None  # its runner restarted before committing it

    assert [e.type for e in world.ledger.published] == ["run.started", "run.attempt_failed"]
    assert world.ledger.requests == {req.aggregate_id: req}  # kept again, for the poller
    world.time.now = at(max(redelivered_s, 60))
    [event] = await poll(world.deps("host-c"))
    assert [(s.payload.attempt, s.payload.runner) for s in world.published(RunStarted)] == [
        (1, "host-a"),
        (2, "host-c"),
    ]
    assert isinstance(event, RunFailed) and world.server.fetches == [at(0), at(max(redelivered_s, 60))]


async def test_runners_polling_at_once_begin_the_next_attempt_once() -> None:
    world = World()
    req = request(RetryPolicy(attempts=3, initial_backoff_s=5, multiplier=1.0))
    assert await execute_run(req, world.deps()) is None
    world.time.now = at(5)

    taken = await asyncio.gather(*(take_up_retries(world.deps(f"host-{i}"), 2) for i in range(3)))

    assert sorted(len(t) for t in taken) == [0, 0, 1]
    assert [s.payload.attempt for s in world.published(RunStarted)] == [1, 2]


async def test_a_pass_begins_no_more_attempts_than_it_has_slots_the_longest_due_first() -> None:
    world = World()
    policy = RetryPolicy(attempts=3, initial_backoff_s=5, multiplier=1.0)
    for run_id, seconds in [(1, 2), (2, 0), (3, 1)]:
        world.time.now = at(seconds)
        assert await execute_run(request(policy, run_id), world.deps()) is None
    world.time.now = at(10)

    first = await take_up_retries(world.deps(), 2)
    second = await take_up_retries(world.deps(), 2)

    assert [r.request.aggregate_id for r in first] == ["42.2", "42.3"]
    assert [r.request.aggregate_id for r in second] == ["42.1"]
    assert all(r.state.attempt is not None and r.state.attempt.number == 2 for r in first + second)


async def test_an_attempt_the_poller_began_that_died_is_begun_again_once_silent() -> None:
    world = World()
    req = request(RetryPolicy(attempts=2, initial_backoff_s=5, multiplier=1.0))
    assert await execute_run(req, world.deps()) is None
    world.time.now = at(5)
    [died] = await take_up_retries(world.deps("host-a"), 1)  # its runner is killed before carrying it out
    assert died.state.attempt is not None and died.state.attempt.number == 2

    silent_s = int(RESUME_AFTER_S)
    world.time.now = at(5 + silent_s - 1)
    assert await poll(world.deps("host-b")) == []  # alive as far as anyone knows
    world.time.now = at(5 + silent_s)
    [event] = await poll(world.deps("host-b"))

    assert [(s.payload.attempt, s.payload.runner) for s in world.published(RunStarted)] == [
        (1, "host-a"),
        (2, "host-a"),
        (3, "host-b"),
    ]
    assert world.server.fetches == [at(0), at(5 + silent_s)]
    assert isinstance(event, RunFailed) and event.payload.error == f"{REFUSED} (after 2 attempts)"


SUPERSEDED_WITHIN_S = 10.0
TAKEN_OVER = [(1, "host-a"), (2, "host-b")]


def take_over(world: World, req: RunRequested) -> Callable[[], Awaitable[None]]:
    """Another runner begins the run's next attempt (it got the request after a rebalance)."""

    async def begin_elsewhere() -> None:
        await run(world.ledger, req, BeginAttempt("host-b", world.time.now, max_attempts=3))

    return begin_elsewhere


@pytest.mark.parametrize("hang", [False, True], ids=["fails-after", "stopped-by-its-tick"])
async def test_an_attempt_superseded_during_its_work_winds_down_and_decides_nothing(hang: bool) -> None:
    world = World()
    req = request(RetryPolicy(attempts=3, initial_backoff_s=60, multiplier=1.0))
    world.server.meanwhile, world.server.hang = take_over(world, req), hang

    with pytest.raises(AttemptSupersededError):
        async with asyncio.timeout(SUPERSEDED_WITHIN_S):
            await execute_run(req, world.deps(progress_interval_s=0.01))

    # Its refused connection (or its stop) is not the run's: no attempt_failed, no end; attempt 2 goes on.
    assert [(s.payload.attempt, s.payload.runner) for s in world.published(RunStarted)] == TAKEN_OVER
    assert [e.type for e in world.ledger.published] == ["run.started", "run.started"]
    state = await read(world.ledger, req)
    assert state.terminal is None and state.attempt is not None and state.attempt.number == 2
