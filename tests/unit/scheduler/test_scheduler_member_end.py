"""A member run's end moves its group run on in a savepoint of the runs consumer's transaction, decided again
after a concurrent change, so ordinary contention never fails (and, in the end, dead-letters) a run's end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, cast
from uuid import uuid4

import pytest
from aiokafka.structs import ConsumerRecord

from connect_events import (
    RUNS_TOPIC,
    RunCounts,
    RunEndedPayload,
    RunEvent,
    RunStatus,
    RunSucceeded,
    encode,
    run_key,
)
from connect_runtime.db import Conn
from connect_scheduler.adapters import group_members, notifications, run_view
from connect_scheduler.adapters.event_store import ConcurrencyError
from connect_scheduler.entrypoints import runs
from connect_scheduler.entrypoints.runs import MEMBER_END_TRIES, MemberEndContendedError, on_run_record

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


class FakeConn:
    """The runs consumer's connection: run 3.1 in progress and a member run, no notification settings kept, and
    savepoints that count how each one ended."""

    def __init__(self) -> None:
        self.savepoints: list[str] = []
        self.saved_status: list[str] = []

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        if query == run_view.LOCK_STATUSES:
            return [{"job_id": 3, "run_id": 1, "status": RunStatus.RUNNING.value}]
        if query == group_members.MEMBER_RUNS_AMONG:
            return [{"job_id": 3, "run_id": 1}]
        assert query == notifications.TAKE_SETTINGS
        return []

    async def executemany(self, query: str, rows: list[tuple[Any, ...]]) -> None:
        assert query == run_view.SAVE_STATUS
        self.saved_status += [row[2] for row in rows]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        try:
            yield
        except BaseException:
            self.savepoints.append("rolled back")
            raise
        self.savepoints.append("released")


class ContendedMemberEnd:
    """`on_member_end` that meets a concurrent change on its first `contended` tries."""

    def __init__(self, contended: int) -> None:
        self.contended = contended
        self.decided: list[tuple[str, RunStatus]] = []

    async def __call__(self, conn: Any, event: RunEvent, status: RunStatus) -> None:
        self.decided.append((event.aggregate_id, status))
        if len(self.decided) <= self.contended:
            raise ConcurrencyError("stream group:1 changed after version 4")


def ended(job_id: int = 3, run_id: int = 1) -> ConsumerRecord[bytes, bytes]:
    payload = RunEndedPayload(job_id=job_id, run_id=run_id, counts=RunCounts(), started_at=T0, finished_at=T0)
    event = RunSucceeded(
        event_id=uuid4(),
        aggregate_id=run_key(job_id, run_id),
        aggregate_version=3,
        occurred_at=T0,
        actor="runner",
        correlation_id=uuid4(),
        payload=payload,
    )
    value = encode(event)
    return ConsumerRecord(RUNS_TOPIC, 0, 5, 0, 0, b"1", value, None, 3, len(value), ())


async def test_a_member_end_that_meets_concurrent_changes_is_decided_again_until_it_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    member_end = ContendedMemberEnd(contended=3)
    monkeypatch.setattr(runs, "on_member_end", member_end)
    conn = FakeConn()

    await on_run_record(cast(Conn, conn), ended())

    assert member_end.decided == [(run_key(3, 1), RunStatus.SUCCEEDED)] * 4
    assert conn.savepoints == ["rolled back"] * 3 + ["released"]
    assert conn.saved_status == [RunStatus.SUCCEEDED.value]


async def test_a_member_end_contended_on_every_try_fails_the_record_in_our_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    member_end = ContendedMemberEnd(contended=MEMBER_END_TRIES)
    monkeypatch.setattr(runs, "on_member_end", member_end)
    conn = FakeConn()

    with pytest.raises(MemberEndContendedError) as raised:
        await on_run_record(cast(Conn, conn), ended())

    assert len(member_end.decided) == MEMBER_END_TRIES
    assert conn.savepoints == ["rolled back"] * MEMBER_END_TRIES
    assert str(raised.value) == (
        f"the group run of run {run_key(3, 1)} changed concurrently on each of {MEMBER_END_TRIES} tries"
    )


async def test_a_failure_other_than_contention_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[RunStatus] = []

    async def broken(conn: Any, event: RunEvent, status: RunStatus) -> None:
        calls.append(status)
        raise ValueError("a bug")

    monkeypatch.setattr(runs, "on_member_end", broken)

    with pytest.raises(ValueError, match="a bug"):
        await on_run_record(cast(Conn, FakeConn()), ended())

    assert calls == [RunStatus.SUCCEEDED]
