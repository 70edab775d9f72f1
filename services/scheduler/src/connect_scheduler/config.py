"""The scheduler's settings, from environment variables."""

from __future__ import annotations

from pydantic import Field

from connect_runtime.settings import ServiceSettings
from connect_scheduler.adapters.schema import DATABASE


class SchedulerSettings(ServiceSettings):
    """Shared settings plus the scheduler's own database and consumer group."""

    database: str = Field(default=DATABASE, alias="SCHEDULER_DATABASE")
    consumer_group: str = Field(default="scheduler", alias="SCHEDULER_CONSUMER_GROUP")
