"""The stream-statistics worker's settings."""

from __future__ import annotations

from pydantic import Field

from connect_runtime.settings import ServiceSettings


class StatsSettings(ServiceSettings):
    """Environment of the stream-statistics worker (one instance per deployment: see docs/deployment.md)."""

    app_id: str = Field(
        default="connect-stats",
        alias="STATS_APP_ID",
        description="the Faust app id: its consumer group and the prefix of its changelog topics",
    )
    replication: int = Field(default=1, alias="STATS_TOPIC_REPLICATION", description="changelog topics' replicas")
    metrics_port: int | None = Field(
        default=None,
        alias="STATS_METRICS_PORT",
        description="where /metrics, /stats, /healthz and /readyz are served (none when unset)",
    )
