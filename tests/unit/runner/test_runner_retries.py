"""`execute_run` with a retry policy, on the in-memory ledger with an injected clock and sleep: an attempt that
fails transiently is followed, after the policy's wait, by another; the wait beats (the reaper leaves it
alone), ends at once on a stop, and a request redelivered during it waits only the rest of it. An attempt
that a newer one superseded (in its work or in its wait) winds down and decides nothing."""

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
    RetryPolicy,
    RunAttemptFailed,
    RunFailed,
    RunRequested,
    RunStarted,
    RunStopped,
    SftpLocation,
)
from connect_runner.adapters.sftp import FetchedFile, Progress
from connect_runner.adapters.sftp_failures import Where, connect_failure
from connect_runner.domain.failures import RunFailure
from connect_runner.domain.file_pattern import FilePattern
from connect_runner.domain.run import BeginAttempt
from connect_runner.handlers import AttemptSupersededError, execute_run, reap_lost_runs, record_stop
from connect_runner.ports import RunDeps
from connect_runtime.vault import Credential
from tests.unit.runner.ledger_contract import read, run
from tests.unit.runner.ledger_fake import InMemoryRunLedger
from tests.unit.runner.runner_builders import location, run_request, stop_request

T0 = datetime(2025, 3, 14, 10, 0, tzinfo=UTC)
PATH = "/in/people.csv"
REFUSED = "cannot connect to connect@127.0.0.1:2222: the server refused the connection (nothing listens on port 2222)"


@dataclass
class FakeTime:
    """The clock and the sleep of `RunDeps`: sleeping moves the clock on, then calls `on_sleep`."""

    now: datetime = T0
    slept: list[float] = field(default_factory=list)
    on_sleep: Callable[[], Awaitable[None]] | None = None

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)
        await asyncio.sleep(0)
        if self.on_sleep is not None:
            await self.on_sleep()


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
        location: SftpLocation,
        credential: Credential,
        pattern: FilePattern,
        work_dir: Path,
        stem: str,
        progress: Progress,
    ) -> FetchedFile:
        assert self.time is not None
        self.fetches.append(self.time.now)
        if self.meanwhile is not None:
            await self.meanwhile()
        if self.hang:
            await asyncio.Event().wait()  # ended only by the attempt's stop check
        if self.failure == "refused":
            raise connect_failure(ConnectionRefusedError(errno.ECONNREFUSED, "refused"), Where.of(location, PATH))
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
            sleep=self.time.sleep,
            **options,
        )

    def published(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.ledger.published if isinstance(e, kind)]


def request(policy: RetryPolicy) -> RunRequested:
    req = run_request(42, 1, source=location(PATH, port=2222))
    definition = req.payload.definition.model_copy(update={"retry": policy})
    return req.model_copy(update={"payload": req.payload.model_copy(update={"definition": definition})})


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def test_a_refused_connection_is_tried_again_after_each_wait_until_the_policy_runs_out() -> None:
    world = World()
    policy = RetryPolicy(attempts=3, initial_backoff_s=2, multiplier=3.0)

    event = await execute_run(request(policy), world.deps())

    assert isinstance(event, RunFailed)
    assert (event.payload.code, event.payload.error) == ("CONNECTION_FAILED", f"{REFUSED} (after 3 attempts)")
    assert world.server.fetches == [at(0), at(2), at(8)]  # waits of 2 s, then 6 s
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
    assert [s.payload.attempt for s in world.published(RunStarted)] == [1, 2, 3]
    # Each failed attempt's staging went before the next attempt began.
    dropped = [s for s in world.database.executed if s.startswith("DROP TABLE")]
    assert ["s_42_1_1" in dropped[0], "s_42_1_2" in dropped[1]] == [True, True]
    assert await execute_run(request(policy), world.deps()) == event  # ended: redelivered, nothing more


async def test_a_data_error_is_not_tried_again() -> None:
    world = World(server=Server(failure="no such file"))
    policy = RetryPolicy(attempts=5, initial_backoff_s=1, multiplier=1.0)

    event = await execute_run(request(policy), world.deps())

    assert isinstance(event, RunFailed)
    assert (event.payload.code, event.payload.error) == ("FILE_NOT_FOUND", f"no file matching '{PATH}'")
    assert [e.type for e in world.ledger.published] == ["run.started", "run.failed"]
    assert world.time.slept == [] and len(world.server.fetches) == 1


async def test_a_stop_during_the_wait_ends_the_run_stopped_at_once() -> None:
    world = World()
    policy = RetryPolicy(attempts=3, initial_backoff_s=600, multiplier=2.0)
    stopped_at: list[datetime] = []

    async def stop_after_three_beats() -> None:
        if len(world.time.slept) == 3:
            stopped_at.append(world.time.now)
            async with world.ledger.transaction() as tx:
                await record_stop(world.ledger, tx, stop_request(42, 1, at=world.time.now))

    world.time.on_sleep = stop_after_three_beats
    event = await execute_run(request(policy), world.deps())

    assert isinstance(event, RunStopped)
    assert [e.type for e in world.ledger.published] == ["run.started", "run.attempt_failed", "run.stopped"]
    assert event.payload.finished_at == stopped_at[0]  # seen at the beat right after it, not after 600 s
    assert len(world.server.fetches) == 1


async def test_the_wait_beats_so_the_reaper_does_not_take_the_run_for_lost() -> None:
    world = World()
    policy = RetryPolicy(attempts=2, initial_backoff_s=1800, multiplier=1.0)  # 30 min, abandon after 10
    deps = world.deps(progress_interval_s=15.0, abandon_after_s=600.0)
    reaped: list[object] = []

    async def reap() -> None:
        reaped.extend(await reap_lost_runs(deps))

    world.time.on_sleep = reap
    event = await execute_run(request(policy), deps)

    assert reaped == [] and sum(world.time.slept) == 1800
    assert world.server.fetches == [at(0), at(1800)]
    assert isinstance(event, RunFailed) and event.payload.error == f"{REFUSED} (after 2 attempts)"


async def test_a_request_redelivered_during_the_wait_waits_only_the_rest_of_it() -> None:
    world = World()
    policy = RetryPolicy(attempts=2, initial_backoff_s=60, multiplier=2.0)
    asleep = asyncio.Event()

    async def restart_after_20_s() -> None:
        if sum(world.time.slept) >= 20:
            asleep.set()
            await asyncio.Event().wait()  # the runner is gone: cancelled (a rebalance, a restart)

    world.time.on_sleep = restart_after_20_s
    first = asyncio.create_task(execute_run(request(policy), world.deps("host-a")))
    await asleep.wait()
    first.cancel()
    await asyncio.wait({first})

    world.time.on_sleep = None
    world.time.now += timedelta(seconds=10)  # the request comes back to another runner 30 s into the wait
    world.time.slept.clear()
    event = await execute_run(request(policy), world.deps("host-b"))

    assert sum(world.time.slept) == 30  # the rest of the 60 s wait, not a new one
    assert world.server.fetches == [at(0), at(60)]
    assert [(s.payload.attempt, s.payload.runner) for s in world.published(RunStarted)] == [
        (1, "host-a"),
        (2, "host-b"),
    ]
    assert [e.type for e in world.ledger.published] == [
        "run.started",
        "run.attempt_failed",
        "run.started",
        "run.failed",
    ]
    assert isinstance(event, RunFailed) and event.payload.error == f"{REFUSED} (after 2 attempts)"


SUPERSEDED_WITHIN_S = 10.0
TAKEN_OVER = [(1, "host-a"), (2, "host-b")]


def take_over(world: World, req: RunRequested, after_s: float = 0) -> Callable[[], Awaitable[None]]:
    """Another runner begins the run's next attempt (it got the request after a rebalance), `after_s` on."""

    async def begin_elsewhere() -> None:
        world.time.now += timedelta(seconds=after_s)
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


async def test_an_attempt_superseded_during_its_wait_begins_no_other() -> None:
    world = World()
    req = request(RetryPolicy(attempts=3, initial_backoff_s=60, multiplier=1.0))
    world.time.on_sleep = take_over(world, req, after_s=60)  # the wait is over; host-b begins attempt 2 first

    with pytest.raises(AttemptSupersededError):
        await execute_run(req, world.deps())

    assert [(s.payload.attempt, s.payload.runner) for s in world.published(RunStarted)] == TAKEN_OVER
    assert world.server.fetches == [at(0)]
