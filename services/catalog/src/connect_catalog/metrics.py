"""The catalog's metrics (issue 10, spec §8.4): what happened to runs, as their events are projected, and how far
the projection lags behind the events. Each event is observed once, when it is first applied (a republished
event is skipped with its projection)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from prometheus_client import Counter, Histogram

from connect_catalog.domain.changes import Change, EndRun, InsertRun
from connect_events import Event, RunStatus

UNKNOWN = "unknown"  # a run projected before its job type was kept

RUNS_REQUESTED = Counter(
    "connect_runs_requested_total", "Runs requested, by job type and trigger", ["job_type", "trigger"]
)
RUNS_SKIPPED = Counter("connect_runs_skipped_total", "Scheduled fires that met a run in progress", ["job_type"])
RUNS_FINISHED = Counter("connect_runs_finished_total", "Runs ended, by job type and status", ["job_type", "status"])
RUN_DURATION = Histogram(
    "connect_run_duration_seconds",
    "How long an ended run's last attempt took, by job type and status",
    ["job_type", "status"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600),
)
RUN_ROWS = Counter("connect_run_rows_total", "Rows read (imports) or written (exports) by ended runs", ["job_type"])
RUN_BYTES = Counter("connect_run_bytes_total", "Bytes transferred by ended runs", ["job_type"])
RUN_REJECTED = Counter("connect_run_rejected_rows_total", "Rows rejected by ended runs", ["job_type"])
EVENTS_PROJECTED = Counter("connect_events_projected_total", "Events applied to the read models", ["topic"])
PROJECTION_LAG = Histogram(
    "connect_projection_lag_seconds",
    "From an event's occurrence to its projection",
    ["topic"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


def observe(event: Event, changes: Sequence[Change], now: datetime | None = None) -> None:
    """Count what `event`'s projection did (`changes`) and how late it came."""
    topic = event.TOPIC
    EVENTS_PROJECTED.labels(topic).inc()
    lag = ((now or datetime.now(UTC)) - event.occurred_at).total_seconds()
    PROJECTION_LAG.labels(topic).observe(max(lag, 0.0))
    for change in changes:
        match change:
            case InsertRun(status=RunStatus.SKIPPED):
                RUNS_SKIPPED.labels(change.job_type or UNKNOWN).inc()
            case InsertRun():
                RUNS_REQUESTED.labels(change.job_type or UNKNOWN, change.trigger).inc()
            case EndRun():
                job_type, status = change.job_type or UNKNOWN, change.status.value
                RUNS_FINISHED.labels(job_type, status).inc()
                RUN_DURATION.labels(job_type, status).observe(change.span.duration_ms / 1000)
                RUN_ROWS.labels(job_type).inc(change.counts.rows_read)
                RUN_BYTES.labels(job_type).inc(change.counts.bytes_transferred)
                RUN_REJECTED.labels(job_type).inc(change.counts.rejected)
