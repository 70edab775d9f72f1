"""Runs the stream-statistics worker in this process's event loop, beside its operations endpoint:
`/metrics` (the statistics as `connect_stats_*` gauges, read from the tables at each scrape), `/stats` (the same
as JSON), `/healthz` and `/readyz` (ready once the tables are rebuilt from their changelogs)."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from connect_catalog.stats.app import StatsApp, make_app
from connect_catalog.stats.config import StatsSettings
from connect_catalog.stats.domain import Statistics
from connect_runtime.kafka import ensure_topics
from connect_runtime.lifecycle import run_until_stopped
from connect_runtime.observability import Check, OperationsServer


class StatsCollector(Collector):
    """The statistics as gauges, computed when Prometheus scrapes."""

    def __init__(self, stats: StatsApp) -> None:
        self._stats = stats

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from gauges(self._stats.snapshot())

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The families without samples (registering must not read the tables)."""
        yield from gauges(Statistics())


def gauges(stats: Statistics) -> Iterator[GaugeMetricFamily]:
    """`stats` as the three `connect_stats_*` gauge families (a percentile with no run is left out)."""
    rows = GaugeMetricFamily(
        "connect_stats_rows_per_second", "Rows per second of run time, runs ended in the last hour", labels=["job_id"]
    )
    for job_id, rate in stats.rows_per_second.items():
        rows.add_metric([job_id], rate)
    failures = GaugeMetricFamily(
        "connect_stats_failure_ratio", "Failed runs over ended runs, by job type", labels=["job_type", "window"]
    )
    for (job_type, window), ratio in stats.failure_ratio.items():
        failures.add_metric([job_type, window], ratio)
    durations = GaugeMetricFamily(
        "connect_stats_run_duration_seconds",
        "Run duration percentiles over the last 24 hours, by job type",
        labels=["job_type", "quantile"],
    )
    for (job_type, q), seconds in stats.duration_s.items():
        if not math.isnan(seconds):
            durations.add_metric([job_type, q], seconds)
    yield from (rows, failures, durations)


def recovered_check(stats: StatsApp) -> Check:
    """The worker has its partitions and its tables are rebuilt from their changelogs."""

    async def check() -> None:
        app = stats.app
        recovery = app.tables.recovery  # type: ignore[attr-defined]  # the concrete TableManager's, not the ABC's
        if app.rebalancing or not recovery.completed.is_set():
            raise RuntimeError("recovering")

    return check


async def serve(settings: StatsSettings) -> None:
    """Count runs until SIGTERM/SIGINT; the operations endpoint on `STATS_METRICS_PORT`."""
    await ensure_topics(settings.kafka_bootstrap_servers, settings.topic_partitions)
    stats = make_app(
        app_id=settings.app_id,
        bootstrap=settings.kafka_bootstrap_servers,
        partitions=settings.topic_partitions,
        replication=settings.replication,
    )
    collector = StatsCollector(stats)
    REGISTRY.register(collector)

    async def page() -> bytes:
        return json.dumps(stats.snapshot().as_json()).encode()

    operations = OperationsServer(settings.metrics_port, {"tables": recovered_check(stats)}, pages={"/stats": page})
    stopping = asyncio.Event()

    async def worker() -> None:
        await stats.app.start()
        try:
            await stopping.wait()
        finally:
            await stats.app.stop()

    def stop() -> None:
        stopping.set()
        operations.stop()

    try:
        await run_until_stopped([worker(), operations.run()], stop)
    finally:
        REGISTRY.unregister(collector)
