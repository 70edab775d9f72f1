"""The catalog's settings."""

from __future__ import annotations

from pydantic import Field

from connect_catalog.adapters.schema import CATALOG_DATABASE
from connect_runtime.settings import ServiceSettings


class CatalogSettings(ServiceSettings):
    """Environment of the catalog projector."""

    database: str = Field(default=CATALOG_DATABASE, alias="CATALOG_DATABASE")
    consumer_group: str = Field(default="catalog", alias="CATALOG_CONSUMER_GROUP")
    metrics_port: int | None = Field(
        default=None,
        alias="CATALOG_METRICS_PORT",
        description="where /metrics, /healthz and /readyz are served (none when unset)",
    )
