"""The runner's settings."""

from __future__ import annotations

import tempfile
from pathlib import Path

from pydantic import Field, SecretStr

from connect_runner.adapters.schema import AUDIENCE_DATABASE
from connect_runtime.settings import ServiceSettings
from connect_runtime.vault import VAULT_DATABASE


class RunnerSettings(ServiceSettings):
    """Environment of a runner process."""

    vault_key: SecretStr = Field(alias="CONNECT_VAULT_KEY", description="Fernet key of the credential vault")
    concurrency: int = Field(default=2, ge=1, alias="RUNNER_CONCURRENCY", description="runs executed at once")
    work_dir: Path = Field(
        default=Path(tempfile.gettempdir()) / "connect-runner",
        alias="RUNNER_WORK_DIR",
        description="where source files are downloaded to (removed after each run)",
    )
    drain_grace_s: float = Field(
        default=60.0,
        alias="RUNNER_DRAIN_GRACE_S",
        description="on SIGTERM, how long running runs may take to finish before they are cancelled",
    )
    work_mem: str = Field(
        default="256MB", alias="RUNNER_WORK_MEM", description="PostgreSQL work_mem for the set-based checks"
    )
    runner_name: str | None = Field(
        default=None, alias="RUNNER_NAME", description="shown on RunStarted; default hostname:pid"
    )
    audience_database: str = Field(default=AUDIENCE_DATABASE, alias="AUDIENCE_DATABASE")
    vault_database: str = Field(default=VAULT_DATABASE, alias="VAULT_DATABASE")
    consumer_group: str = Field(default="runner", alias="RUNNER_CONSUMER_GROUP")
    tables_consumer_group: str = Field(default="runner-tables", alias="RUNNER_TABLES_CONSUMER_GROUP")
