"""The catalog's metrics (issue 10, spec §8.4): what happened to runs, as their events are projected, and how far
the projection lags behind the events. Each event is observed once, when it is first applied (a republished
event is skipped with its projection)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import Counter, Gauge, Histogram

from connect_catalog.domain.changes import Change, EndRun, InsertRun, LogLine
from connect_events import JOB_KINDS, Event, RunStatus

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
REJECTS_BY_REASON = Counter(
    "connect_run_rejects_by_reason_total",
    "Rows rejected, by job type and reason, as runs log them (an attempt that is retried logs its rejects again)",
    ["job_type", "reason"],
)
EVENTS_PROJECTED = Counter("connect_events_projected_total", "Events applied to the read models", ["topic"])
PROJECTION_LAG = Histogram(
    "connect_projection_lag_seconds",
    "From an event's occurrence to its projection",
    ["topic"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


RUNS_RUNNING = Gauge("connect_runs_running", "Runs running now, by job type", ["job_type"])
RUNS_QUEUED = Gauge(
    "connect_runs_queued", "Runs requested and not started yet (the queue's depth), by job type", ["job_type"]
)
OLDEST_RUNNING = Gauge("connect_run_oldest_running_seconds", "Age of the oldest running run (0 with none running)")


@dataclass(frozen=True)
class OpenRuns:
    """Runs of one job type in one open status, and how long the oldest has been in it."""

    job_type: str
    status: str
    runs: int
    oldest_s: float


def set_open_runs(found: Sequence[OpenRuns]) -> None:
    """Set the open-run gauges to `found`; a type that has no open run any more goes to 0."""
    by_status = {"running": RUNS_RUNNING, "queued": RUNS_QUEUED}
    for gauge in by_status.values():
        for labels in {*_label_sets(gauge), *((kind,) for kind in JOB_KINDS)}:
            gauge.labels(*labels).set(0)
    for entry in found:
        by_status[entry.status].labels(entry.job_type).set(entry.runs)
    running = [entry.oldest_s for entry in found if entry.status == "running"]
    OLDEST_RUNNING.set(max(running, default=0.0))


def _label_sets(gauge: Gauge) -> list[tuple[str, ...]]:
    return [tuple(sample.labels.values()) for metric in gauge.collect() for sample in metric.samples]


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
            case LogLine(rejects=rejects) if rejects:
                for reason, count in rejects.items():
                    REJECTS_BY_REASON.labels(change.job_type or UNKNOWN, reason).inc(count)
            case EndRun():
                job_type, status = change.job_type or UNKNOWN, change.status.value
                RUNS_FINISHED.labels(job_type, status).inc()
                RUN_DURATION.labels(job_type, status).observe(change.span.duration_ms / 1000)
                RUN_ROWS.labels(job_type).inc(change.counts.rows_read)
                RUN_BYTES.labels(job_type).inc(change.counts.bytes_transferred)
                RUN_REJECTED.labels(job_type).inc(change.counts.rejected)
