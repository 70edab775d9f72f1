"""Loading a job decodes its own events only, whatever its run history: what decisions need of its runs is read
from the rows `job_store` keeps, rebuilt from the whole stream for a job stored before they were kept."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType
from uuid import uuid4

import pytest

from connect_events import DeactivateJob, Event, JobCommandPayload
from connect_runtime.db import Conn
from connect_runtime.messages import Causation
from connect_scheduler.adapters import event_store, job_store
from connect_scheduler.adapters.event_store import job_stream
from connect_scheduler.domain.jobs import JobState, fold
from connect_scheduler.domain.run_control import request_run, request_stop
from connect_scheduler.domain.targets import Frozen
from tests.integration.scheduler.scheduler_commands import T0, count, customers, meta, run_now
from tests.integration.scheduler.test_scheduler_handlers import accept, given_active_job

pytestmark = pytest.mark.integration

RUNS = 2_000
KEYED_RUN = 7
STOPPED_RUN = 5


def _causation() -> Causation:
    return Causation(actor="alice", correlation_id=uuid4(), causation_id=uuid4(), occurred_at=T0)


async def given_long_history(conn: Conn) -> int:
    """An active job whose stream holds `RUNS` run requests (one with a key) and a stop, appended straight to the
    stream with no run rows kept: a job stored before they were."""
    job_id = await given_active_job(conn)
    history, version = await event_store.load(conn, job_stream(job_id))
    state = fold(history)
    assert state is not None
    runs: list[Event] = []
    for run_id in range(1, RUNS + 1):
        key = f"key-{run_id}" if run_id == KEYED_RUN else None
        request = request_run(state, Frozen(customers()), _causation(), 0, trigger="manual", idempotency_key=key)
        state = fold([request], state)
        assert state is not None
        runs.append(request)
        if run_id == STOPPED_RUN:
            runs.append(request_stop(job_id, run_id, _causation(), 0))
    await event_store.append(conn, job_stream(job_id), version, runs)
    await conn.execute("DELETE FROM job_runs WHERE job_id = $1", job_id)
    return job_id


async def load_counting(
    conn: Conn, job_id: int, monkeypatch: pytest.MonkeyPatch, key: str | None = None, run_id: int | None = None
) -> JobState:
    """`job_store.load_job`, asserting that it decodes only the job's own two events (created, activated)."""
    decoded: list[str] = []
    decode = event_store._event

    def counting(topic: str, data: str) -> Event:
        decoded.append(topic)
        return decode(topic, data)

    monkeypatch.setattr(event_store, "_event", counting)
    state, version = await job_store.load_job(conn, job_id, idempotency_key=key, run_id=run_id)
    monkeypatch.setattr(event_store, "_event", decode)
    assert state is not None
    assert version == 2 + RUNS + 1
    assert len(decoded) == 2
    return state


async def test_a_job_with_a_long_run_history_loads_from_its_own_events_and_its_run_rows(
    conn: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = await given_long_history(conn)

    assert await job_store.backfill(conn) == 1
    assert await job_store.backfill(conn) == 0  # done once

    state = await load_counting(conn, job_id, monkeypatch, f"key-{KEYED_RUN}", STOPPED_RUN)
    assert (state.version, state.active) == (2, True)
    assert (state.last_run_id, state.last_requested_run_id) == (RUNS, RUNS)
    assert dict(state.idempotency_keys) == {f"key-{KEYED_RUN}": KEYED_RUN}
    assert state.stops_requested == frozenset({STOPPED_RUN})
    unasked = await load_counting(conn, job_id, monkeypatch, "never used")
    assert (dict(unasked.idempotency_keys), unasked.stops_requested) == ({}, frozenset())

    reply = await accept(conn, run_now(job_id, f"key-{KEYED_RUN}"))  # the key's run, not a new one
    assert reply.payload.run_id == KEYED_RUN
    assert await count(conn, "events") == 1 + 2 + RUNS + 1


async def test_a_job_without_run_rows_is_rebuilt_from_its_whole_stream_when_loaded(
    conn: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = await given_long_history(conn)

    rebuilt, version = await job_store.load_job(conn, job_id)
    history, _ = await event_store.load(conn, job_stream(job_id))
    # The whole stream, except that of its idempotency keys the state holds only the one asked for (none here).
    assert (rebuilt, version) == (replace(fold(history), idempotency_keys=MappingProxyType({})), 2 + RUNS + 1)

    state = await load_counting(conn, job_id, monkeypatch, f"key-{KEYED_RUN}", STOPPED_RUN)
    assert (state.last_run_id, dict(state.idempotency_keys), state.stops_requested) == (
        RUNS,
        {f"key-{KEYED_RUN}": KEYED_RUN},
        frozenset({STOPPED_RUN}),
    )


async def test_appends_keep_the_run_rows_in_step_with_the_stream(conn: Conn) -> None:
    job_id = await given_active_job(conn)
    await accept(conn, run_now(job_id, "first"))
    _, version = await job_store.load_job(conn, job_id)
    await job_store.append_job(conn, job_id, version, [request_stop(job_id, 1, _causation(), 0)])

    loaded, _ = await job_store.load_job(conn, job_id, idempotency_key="first")
    history, _ = await event_store.load(conn, job_stream(job_id))
    assert loaded == fold(history)
    assert loaded is not None and loaded.stops_requested == frozenset({1})


async def test_a_cached_state_is_used_until_the_job_has_a_newer_own_event(
    conn: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = await given_active_job(conn)
    cache = job_store.StateCache(10)
    decoded: list[str] = []
    decode = event_store._event

    def counting(topic: str, data: str) -> Event:
        decoded.append(topic)
        return decode(topic, data)

    monkeypatch.setattr(event_store, "_event", counting)
    await job_store.prepare(conn, [job_id], cache)
    assert len(decoded) == 2  # created, activated

    await accept(conn, run_now(job_id, "first"))  # a run event: the job's own state is unchanged
    decoded.clear()
    loaded = await job_store.load_jobs(conn, [job_id], cache)
    assert decoded == []
    assert loaded == await job_store.load_jobs(conn, [job_id])
    assert loaded[job_id][0] is not None and loaded[job_id][0].last_requested_run_id == 1

    await accept(conn, DeactivateJob(**meta(), payload=JobCommandPayload(job_id=job_id)))
    decoded.clear()
    after, _ = (await job_store.load_jobs(conn, [job_id], cache))[job_id]
    assert after is not None and not after.active
    assert len(decoded) == 3  # the newer own event made the cache load the job's own events again


def test_the_state_cache_keeps_the_most_recently_used_states() -> None:
    cache = job_store.StateCache(2)
    cache.put(1, 2, None)
    cache.put(2, 2, None)
    assert cache.get(1, 2) == (True, None)  # 1 is now the most recently used
    cache.put(3, 2, None)
    assert cache.missing([1, 2, 3]) == [2]
    assert cache.get(1, 3) == (False, None)  # a newer own event
    assert job_store.StateCache(0).missing([1]) == [1]
