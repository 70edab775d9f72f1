"""An in-memory `RunLedger` with the PostgreSQL adapter's semantics; both keep `ledger_contract.py`.

One asyncio lock per run stands in for the advisory lock, held until the transaction ends (and for the row lock
a claim of the retry poller takes). A transaction's changes are kept aside and applied when it ends without an
error, so, as in PostgreSQL, a transaction that fails leaves nothing behind. `published` holds every committed
event, in order (the outbox).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from connect_events import Event, RunRequested, RunStopRequested, run_key
from connect_runner.domain.events import Origin, RunOrigin
from connect_runner.domain.run import Decision, RunState, StopRequest, Terminal, apply, next_attempt_at
from connect_runner.domain.source_files import PendingArchive
from connect_runner.ports import LedgerConflictError


@dataclass(frozen=True)
class KeptArchive:
    """An archive step as kept: the step, the run's request and when it was kept."""

    pending: PendingArchive
    request: RunRequested
    kept_at: datetime


@dataclass
class FakeTx:
    """One transaction: the runs it locked and what it changed so far."""

    held: set[str] = field(default_factory=set)
    runs: dict[str, RunState] = field(default_factory=dict)
    stops: dict[str, StopRequest] = field(default_factory=dict)
    requests: dict[str, RunRequested] = field(default_factory=dict)
    archives: dict[str, KeptArchive | None] = field(default_factory=dict)  # None: dropped
    published: list[Event] = field(default_factory=list)


class InMemoryRunLedger:
    """`RunLedger[FakeTx]` in dictionaries keyed by `JobID.RunID`."""

    def __init__(self) -> None:
        self.runs: dict[str, RunState] = {}
        self.stops: dict[str, StopRequest] = {}
        self.requests: dict[str, RunRequested] = {}
        self.archives: dict[str, KeptArchive] = {}
        self.published: list[Event] = []
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[FakeTx]:
        tx = FakeTx()
        try:
            yield tx
            self.runs.update(tx.runs)
            self.stops.update({key: stop for key, stop in tx.stops.items() if key not in self.stops})
            self.requests.update(tx.requests)
            for key, state in tx.runs.items():
                if state.terminal is not None:
                    self.requests.pop(key, None)
            for key, kept in tx.archives.items():
                if kept is None:
                    self.archives.pop(key, None)
                else:
                    self.archives[key] = kept
            self.published.extend(tx.published)
        finally:
            for key in tx.held:
                self._locks[key].release()

    async def load(self, tx: FakeTx, origin: RunOrigin) -> RunState:
        if origin.aggregate_id not in tx.held:
            await self._locks[origin.aggregate_id].acquire()
            tx.held.add(origin.aggregate_id)
        return self._read(tx, Origin.of(origin))

    async def try_load(self, tx: FakeTx, origin: RunOrigin) -> RunState | None:
        if origin.aggregate_id not in tx.held and self._locks[origin.aggregate_id].locked():
            return None
        return await self.load(tx, origin)

    async def record(self, tx: FakeTx, state: RunState, decision: Decision) -> RunState:
        after = apply(state, decision)
        if after == state:
            return state
        key = state.origin.aggregate_id
        current = tx.runs.get(key) or self.runs.get(key)
        if current is not None and current.next_version != state.next_version:
            raise LedgerConflictError(f"run {key} changed since it was loaded")
        tx.runs[key] = after
        tx.published.extend(decision.events)
        return after

    async def record_stop(self, tx: FakeTx, request: RunStopRequested) -> Terminal | None:
        numbers = request.payload
        key = run_key(numbers.job_id, numbers.run_id)
        current = tx.runs.get(key) or self.runs.get(key)
        if current is not None and current.terminal is not None:
            return current.terminal
        if key not in self.stops:
            tx.stops.setdefault(key, StopRequest(requested_at=request.occurred_at, actor=request.actor))
        return None

    async def silent(self, since: datetime, limit: int) -> list[Origin]:
        lost = [
            state
            for state in self.runs.values()
            if state.attempt is not None
            and state.terminal is None
            and state.retry_at is None
            and state.heartbeat_at is not None
            and state.heartbeat_at < since
        ]
        return [state.origin for state in sorted(lost, key=lambda s: s.heartbeat_at or since)][:limit]

    async def keep_request(self, tx: FakeTx, request: RunRequested) -> None:
        key = request.aggregate_id
        if key in tx.runs or key in self.runs:
            tx.requests[key] = request

    async def claim_retries(self, tx: FakeTx, now: datetime, resume_after: timedelta, limit: int) -> list[RunRequested]:
        due = {
            key: at
            for key, state in self.runs.items()
            if key in self.requests and (at := next_attempt_at(state, resume_after)) is not None and at <= now
        }
        claimed: list[RunRequested] = []
        for key in sorted(due, key=due.__getitem__):
            if len(claimed) == limit:
                break
            if key in tx.held or not self._locks[key].locked():
                await self.load(tx, self.requests[key])
                claimed.append(self.requests[key])
        return claimed

    async def stopped_waits(self, limit: int) -> list[RunRequested]:
        waiting = [
            key
            for key, state in self.runs.items()
            if state.retry_at is not None and key in self.stops and key in self.requests
        ]
        return [self.requests[key] for key in sorted(waiting, key=lambda k: self.stops[k].requested_at)][:limit]

    async def keep_archive(self, tx: FakeTx, request: RunRequested, pending: PendingArchive, kept_at: datetime) -> None:
        key = request.aggregate_id
        kept = tx.archives[key] if key in tx.archives else self.archives.get(key)
        if kept is None:  # as PostgreSQL's ON CONFLICT DO NOTHING: a step kept already stays as it is
            tx.archives[key] = KeptArchive(pending, request, kept_at)

    async def pending_archive(self, tx: FakeTx, origin: RunOrigin) -> PendingArchive | None:
        key = origin.aggregate_id
        kept = tx.archives[key] if key in tx.archives else self.archives.get(key)
        return None if kept is None else kept.pending

    async def drop_archive(self, tx: FakeTx, origin: RunOrigin) -> None:
        tx.archives[origin.aggregate_id] = None

    async def left_archives(self, before: datetime, limit: int) -> list[RunRequested]:
        left = sorted((k for k in self.archives.values() if k.kept_at < before), key=lambda k: k.kept_at)
        return [kept.request for kept in left][:limit]

    def _read(self, tx: FakeTx, origin: Origin) -> RunState:
        key = origin.aggregate_id
        state = tx.runs.get(key) or self.runs.get(key) or RunState(origin)
        stop = tx.stops.get(key) or self.stops.get(key)
        if state.stop is None and stop is not None:
            state = replace(state, stop=stop)
        return replace(state, origin=origin)
