"""The stream-statistics worker: a Faust app over `connect.runs` (ADR 0004).

One agent at concurrency 1 reads the runs topic and keeps two tables:
- `job_types` (job id -> the type its last run request named), so an ended run is counted under its type;
- `run_windows`, tumbling `WINDOW_S` windows kept 25 hours (job id -> `Bucket` of the runs that ended in it).

Both are keyed by job id, as the topic is: every update of a key comes from the one partition that carries the
job, so each key's changelog is written in order and a restarted worker rebuilds the same state from it.
Processing is at least once (Faust writes the changelog before it commits the offset), and counting is
idempotent: a run falls in the window of its finish time and a bucket skips a run it already counted. So a
worker killed between a table update and its offset commit, which reads the event again, counts it once.
(Faust's `exactly_once` was tried first: after a crash, its in-memory tables kept the effect of an aborted
transaction across the next rebalance and counted the re-read event twice.)

The decorated agent is a thin adapter: decoding and arithmetic live in `domain`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import faust
from pydantic import ValidationError

from connect_catalog.stats import domain
from connect_events import RUNS_TOPIC, Event, decode

log = logging.getLogger(__name__)

WINDOW_EXPIRES_S = 25 * 3600  # a day of windows, and an hour for late events
SESSION_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class StatsApp:
    """The Faust app and its two tables."""

    app: faust.App
    job_types: Any  # faust.Table[str, str]
    run_windows: Any  # a windowed faust.Table[str, Bucket]
    agent: Any  # the agent counting runs (its `test_context()` feeds it without a broker)

    def snapshot(self, now_s: float | None = None) -> domain.Statistics:
        """The statistics as of `now_s` (epoch seconds; now by default), read from the tables."""
        now_s = time.time() if now_s is None else now_s
        windows_by_job = {
            job_id: [self._bucket(job_id, now_s - i * domain.WINDOW_S) for i in range(domain.DAY_WINDOWS)]
            for job_id in list(iter(self.run_windows))  # every job in the key index
        }
        return domain.statistics(windows_by_job)

    def _bucket(self, job_id: str, at_s: float) -> domain.Bucket | None:
        windows = self.run_windows.relative_to(at_s)
        if job_id not in windows:
            return None
        value: domain.Bucket = windows[job_id].value()
        return value


def make_app(*, app_id: str, bootstrap: str, partitions: int, replication: int = 1) -> StatsApp:
    """The worker's Faust app (not started): `app_id` is its consumer group and its topics' prefix."""
    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",  # state lives in the changelog topics and is rebuilt from them on start
        topic_partitions=partitions,
        topic_replication_factor=replication,
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        # A crashed worker's partitions move to its successor after this long, not Faust's default minute.
        broker_session_timeout=SESSION_TIMEOUT_S,
        broker_heartbeat_interval=SESSION_TIMEOUT_S / 4,
        web_enabled=False,  # `/metrics`, `/stats` and the probes are served by the operations server
        autodiscover=False,
    )
    job_types = app.Table("job_types", default=str, partitions=partitions)
    run_windows = app.Table("run_windows", default=domain.empty_bucket, partitions=partitions).tumbling(
        timedelta(seconds=domain.WINDOW_S), expires=WINDOW_EXPIRES_S, key_index=True
    )
    runs = app.topic(
        RUNS_TOPIC,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
    )

    @app.agent(runs, concurrency=1)
    async def count_runs(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for data in stream:
            event = _decoded(data)
            if event is not None:
                _apply(event, job_types, run_windows)
            yield None

    return StatsApp(app, job_types, run_windows, count_runs)


def _decoded(data: bytes) -> Event | None:
    """The run event in `data`, or None for what this worker does not count (and cannot fail on: the
    projector dead-letters undecodable records; statistics only skip them)."""
    try:
        message = decode(RUNS_TOPIC, data)
    except (ValidationError, ValueError):
        log.warning("stats skipped an undecodable run record")
        return None
    return message if isinstance(message, Event) else None


def _apply(event: Event, job_types: Any, windows: Any) -> None:
    requested = domain.requested_type(event)
    if requested is not None:
        job_id, job_type = requested
        if job_types[str(job_id)] != job_type:
            job_types[str(job_id)] = job_type
        return
    end = domain.run_end(event)
    if end is None:
        return
    key = str(end.job_id)
    job_type = job_types[key] or domain.UNKNOWN_TYPE
    window = windows.relative_to(end.finished_at_s)
    bucket = window[key].value()
    if not domain.counted(bucket, end):
        window[key] = domain.add(bucket, end, job_type)
