"""The statistics agent fed through Faust's test context (no broker): events in, tables and statistics out."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from connect_catalog.stats.app import StatsApp, make_app
from connect_catalog.stats.domain import WINDOW_S
from connect_events import Event
from tests.unit.catalog import catalog_builders as b

NOW_S = b.T0.timestamp() + 2 * WINDOW_S + 10  # the statistics are read a little after the runs ended


@pytest.fixture
async def stats() -> AsyncIterator[StatsApp]:
    made = make_app(app_id="connect-stats-test", bootstrap="127.0.0.1:1", partitions=1)
    made.app.finalize()
    made.app.flow_control.resume()
    yield made


async def feed(stats: StatsApp, events: list[Event]) -> None:
    async with stats.agent.test_context() as agent:
        for event in events:
            at = event.occurred_at.timestamp()
            await agent.put(event.model_dump_json().encode(), key=event.partition_key.encode(), timestamp=at)


async def test_ended_runs_are_counted_under_the_type_their_request_named(stats: StatsApp) -> None:
    await feed(
        stats,
        [
            b.run_requested(job_id=1, run_id=1),
            b.run_succeeded(job_id=1, run_id=1),
            b.run_requested(job_id=1, run_id=2),
            b.run_failed(job_id=1, run_id=2, started_at=b.T0 + timedelta(minutes=1)),
            b.run_requested(job_id=2, run_id=1),
            b.run_stopped(job_id=2, run_id=1),
        ],
    )
    snapshot = stats.snapshot(NOW_S)
    assert snapshot.ended["import_custom_table", "1h"] == 3
    assert snapshot.failure_ratio["import_custom_table", "1h"] == pytest.approx(1 / 3)
    assert snapshot.failure_ratio["import_custom_table", "24h"] == pytest.approx(1 / 3)
    # Each run read 10 rows in 90.25 s.
    assert snapshot.rows_per_second == {"1": pytest.approx(10 / 90.25), "2": pytest.approx(10 / 90.25)}
    assert 60 <= snapshot.duration_s["import_custom_table", "0.5"] <= 120


async def test_runs_older_than_the_windows_drop_out(stats: StatsApp) -> None:
    await feed(stats, [b.run_requested(job_id=3, run_id=1), b.run_failed(job_id=3, run_id=1)])
    two_hours_later = b.T0.timestamp() + 2 * 3600
    later = stats.snapshot(two_hours_later)
    assert "3" not in later.rows_per_second  # out of the hour
    assert later.failure_ratio["import_custom_table", "24h"] == 1.0  # still in the day
    assert later.ended["import_custom_table", "1h"] == 0
    next_day = stats.snapshot(b.T0.timestamp() + 25 * 3600)
    assert next_day.failure_ratio == {}


async def test_what_is_not_a_run_ending_changes_nothing(stats: StatsApp) -> None:
    await feed(stats, [b.run_requested(job_id=4, run_id=1), b.run_started(job_id=4, run_id=1), b.run_logged(job_id=4)])
    snapshot = stats.snapshot(NOW_S)
    assert snapshot.rows_per_second == {}
    assert snapshot.ended == {}
    assert all(math.isnan(v) for v in snapshot.duration_s.values())


async def test_an_undecodable_record_is_skipped(stats: StatsApp) -> None:
    async with stats.agent.test_context() as agent:
        await agent.put(b"not json", key=b"5", timestamp=b.T0.timestamp())
        event = b.run_succeeded(job_id=5, run_id=1)
        await agent.put(event.model_dump_json().encode(), key=b"5", timestamp=b.T0.timestamp())
    assert stats.snapshot(NOW_S).ended["unknown", "1h"] == 1  # its request was never seen


async def test_an_event_read_twice_is_counted_once(stats: StatsApp) -> None:
    """As after a worker restarted before committing its offset, or an event the outbox published again."""
    ended = b.run_failed(job_id=6, run_id=1)
    await feed(stats, [b.run_requested(job_id=6, run_id=1), ended, ended])
    assert stats.snapshot(NOW_S).ended["import_custom_table", "1h"] == 1
