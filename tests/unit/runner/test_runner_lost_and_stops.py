"""The use cases that need only the ledger, on the in-memory fake with an injected clock: the reaper ends
silent runs once, leaves busy ones to their owner and survives a failing pass; stop requests are kept or,
after the end, only logged; an unreadable request fails its run once."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from connect_events import RunFailed
from connect_runner.domain.events import RunNumbers
from connect_runner.domain.run import Snapshot, Succeed, Tick
from connect_runner.domain.unreadable import UnreadableRequest
from connect_runner.entrypoints.reaper import Reaper
from connect_runner.handlers import fail_unreadable, reap_lost_runs, record_stop
from connect_runner.ports import RunDeps
from tests.unit.runner.ledger_contract import COUNTS, T0, at, begin, read, request, run
from tests.unit.runner.ledger_fake import InMemoryRunLedger
from tests.unit.runner.runner_builders import stop_request


def deps(ledger: InMemoryRunLedger, now: datetime) -> RunDeps:
    """Deps for use cases that touch only the ledger and the clock."""
    unused: Any = None
    return RunDeps(
        pool=unused,
        ledger=ledger,
        vault=unused,
        files=unused,
        work_dir=Path("/unused"),
        runner="host-a",
        clock=lambda: now,
    )


async def test_a_run_silent_for_abandon_after_ends_failed_runner_lost_once() -> None:
    ledger = InMemoryRunLedger()
    lost, alive = request(1), request(2)
    await run(ledger, lost, begin(0, runner="host-a"))
    await run(ledger, lost, Tick(1, at(30), Snapshot(rows_read=10)))
    await run(ledger, alive, begin(500))

    [event] = await reap_lost_runs(deps(ledger, at(640)))

    assert isinstance(event, RunFailed) and event.aggregate_id == lost.aggregate_id
    assert (event.payload.code, event.payload.error) == (
        "RUNNER_LOST",
        "the run was lost: runner host-a gave no sign of life for 10 min 10 s (attempt 1)",
    )
    assert ledger.published[-1] == event
    [later] = await reap_lost_runs(deps(ledger, at(2000)))  # the other one in its turn; never this one again
    assert later.aggregate_id == alive.aggregate_id
    # The lost runner wakes up and tries to commit: it finds the run ended and changes nothing.
    _, decision = await run(ledger, lost, Succeed(1, T0, COUNTS, at(700)))
    assert decision.events == () and (await read(ledger, lost)).terminal == event


async def test_a_run_whose_lock_is_held_is_left_to_its_owner() -> None:
    ledger = InMemoryRunLedger()
    req = request()
    await run(ledger, req, begin())
    async with ledger.transaction() as tx:
        await ledger.load(tx, req)  # its owner is in its final commit
        assert await reap_lost_runs(deps(ledger, at(5000))) == []
    assert len(await reap_lost_runs(deps(ledger, at(5000)))) == 1


async def test_the_reaper_tries_again_after_a_failing_pass() -> None:
    passes = 0
    second = asyncio.Event()

    async def reap() -> None:
        nonlocal passes
        passes += 1
        if passes == 1:
            raise ConnectionError("database unreachable")
        second.set()

    reaper = Reaper(reap, interval_s=0.01)
    task = asyncio.create_task(reaper.run())
    await second.wait()
    reaper.stop()
    await task
    assert passes >= 2


async def test_stop_requests_are_kept_and_late_ones_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="connect_runner")
    ledger = InMemoryRunLedger()
    queued, done = request(1), request(2)
    await run(ledger, done, begin())
    await run(ledger, done, Succeed(1, T0, COUNTS, at(5)))

    async with ledger.transaction() as tx:
        await record_stop(ledger, tx, stop_request(42, 1, at=at(6)))
        await record_stop(ledger, tx, stop_request(42, 2, at=at(6)))

    assert (await read(ledger, queued)).stop is not None
    assert (await read(ledger, done)).stop is None
    assert caplog.messages == ["stop recorded", "stop arrived after the load committed; the run stays succeeded"]


async def test_an_unreadable_request_fails_its_run_once() -> None:
    ledger = InMemoryRunLedger()
    unreadable = UnreadableRequest(uuid4(), "42.1", uuid4(), RunNumbers(42, 1), "schema_version: not a value")

    event = await fail_unreadable(unreadable, deps(ledger, T0))

    assert isinstance(event, RunFailed) and event.aggregate_version == 2
    assert await fail_unreadable(unreadable, deps(ledger, at(9))) == event
    assert ledger.published == [event]
