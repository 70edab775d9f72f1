"""The in-memory run ledger keeps the ledger contract (no I/O), and publishes what it commits, in order."""

from __future__ import annotations

import pytest

from connect_events import RunProgressed, RunStarted, RunSucceeded
from connect_runner.domain.run import Snapshot, Succeed, Tick
from tests.unit.runner.ledger_contract import CHECKS, COUNTS, T0, Check, at, begin, check_id, request, run
from tests.unit.runner.ledger_fake import InMemoryRunLedger


@pytest.mark.parametrize("check", CHECKS, ids=check_id)
async def test_the_in_memory_ledger_keeps_the_contract(check: Check) -> None:
    await check(InMemoryRunLedger())


async def test_committed_events_are_published_in_order() -> None:
    ledger = InMemoryRunLedger()
    req = request()
    await run(ledger, req, begin())
    await run(ledger, req, Tick(1, at(1), Snapshot(rows_read=1)))
    await run(ledger, req, Tick(1, at(2)))  # a heartbeat publishes nothing
    await run(ledger, req, Succeed(1, T0, COUNTS, at(3)))
    assert [(type(e), e.aggregate_version) for e in ledger.published] == [
        (RunStarted, 2),
        (RunProgressed, 3),
        (RunSucceeded, 4),
    ]
