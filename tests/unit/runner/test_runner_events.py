"""The runner's events: deterministic envelopes derived from the request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid5

from connect_events import RunCounts
from connect_runner.domain import events
from tests.unit.runner.runner_builders import location, run_request

NOW = datetime(2025, 3, 14, 10, 0, tzinfo=UTC)


def test_envelopes_follow_the_request() -> None:
    request = run_request(42, 7, source=location("/x.csv"))

    started = events.run_started(request, 2, attempt=1, runner="host:1", now=NOW)

    assert started.event_id == uuid5(request.event_id, "2")
    assert (started.aggregate_id, started.aggregate_version, started.actor) == ("42.7", 2, "runner")
    assert (started.correlation_id, started.causation_id) == (request.correlation_id, request.event_id)
    assert started.partition_key == "42"
    assert (started.payload.attempt, started.payload.runner, started.payload.started_at) == (1, "host:1", NOW)
    assert events.run_started(request, 2, attempt=1, runner="host:1", now=NOW) == started


def test_terminal_and_progress_payloads() -> None:
    request = run_request(42, 7, source=location("/x.csv"))
    counts = RunCounts(rows_read=3, inserted=3)
    later = NOW + timedelta(seconds=5)

    done = events.run_succeeded(request, 5, counts, NOW, later)
    failed = events.run_failed(request, 6, counts, NOW, later, code="BAD_HEADER", error="x" * 5000)
    progress = events.run_progressed(request, 3, NOW, stage="load", rows_read=10, bytes_done=5, total_bytes=9)

    assert (done.payload.counts, done.payload.started_at, done.payload.finished_at) == (counts, NOW, later)
    assert failed.payload.code == "BAD_HEADER" and len(failed.payload.error) == events.MAX_ERROR_CHARS
    assert (progress.payload.stage, progress.payload.rows_read, progress.payload.total_bytes) == ("load", 10, 9)
    assert len({done.event_id, failed.event_id, progress.event_id}) == 3


def test_a_failure_text_is_always_storable() -> None:
    request = run_request(42, 7, source=location("/x.csv"))
    failed = events.run_failed(request, 3, RunCounts(), NOW, NOW, code="BAD_HEADER", error="a\x00b\udcffc é")
    assert failed.payload.error == "a\ufffdb\ufffdc é"
