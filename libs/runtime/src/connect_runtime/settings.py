"""Settings every service shares, read from environment variables."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Base of each service's one settings class (`config.py`)."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092", alias="KAFKA_BOOTSTRAP_SERVERS")
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432",
        alias="DATABASE_URL",
        description="PostgreSQL server URL; a database name in it is replaced by each service's own",
    )
    topic_partitions: int = Field(default=3, alias="CONNECT_TOPIC_PARTITIONS")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")


def database_dsn(server_url: str, database: str) -> str:
    """`server_url` pointed at `database` (query string such as sslmode is kept)."""
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))
