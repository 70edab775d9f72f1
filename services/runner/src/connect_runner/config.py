"""The runner's settings."""

from __future__ import annotations

import tempfile
from pathlib import Path

from pydantic import Field, SecretStr

from connect_runner.adapters.schema import AUDIENCE_DATABASE
from connect_runner.adapters.sources import READY_POLL_S
from connect_runner.ports import ABANDON_AFTER_S, LOCK_TIMEOUT_S, MAX_ATTEMPTS, RUN_TIMEOUT_S
from connect_runtime.settings import ServiceSettings
from connect_runtime.vault import VAULT_DATABASE

REAP_INTERVAL_S = 30.0
RETRY_POLL_S = 1.0


class RunnerSettings(ServiceSettings):
    """Environment of a runner process."""

    vault_key: SecretStr = Field(alias="CONNECT_VAULT_KEY", description="Fernet key of the credential vault")
    metrics_port: int | None = Field(
        default=None,
        alias="RUNNER_METRICS_PORT",
        description="where /metrics, /healthz and /readyz are served (none when unset)",
    )
    concurrency: int = Field(
        default=2, ge=1, alias="RUNNER_CONCURRENCY", description="runs executed at once, requested and retried together"
    )
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
    max_attempts: int = Field(
        default=MAX_ATTEMPTS,
        ge=1,
        alias="RUNNER_MAX_ATTEMPTS",
        description=(
            "attempts of a run that may die with their runner (killed, cancelled); the next one fails the run"
            " instead. Attempts that failed transiently count against the job's retry policy, not this"
        ),
    )
    run_timeout_s: float = Field(
        default=RUN_TIMEOUT_S,
        gt=0,
        alias="RUNNER_RUN_TIMEOUT_S",
        description="a run still going after this many seconds fails (transfer, checks and load together)",
    )
    lock_timeout_s: float = Field(
        default=LOCK_TIMEOUT_S,
        gt=0,
        alias="RUNNER_LOCK_TIMEOUT_S",
        description="how long a load waits for another writer to release the target table before it fails",
    )
    abandon_after_s: float = Field(
        default=ABANDON_AFTER_S,
        gt=0,
        alias="RUNNER_ABANDON_AFTER_S",
        description="a run whose runner gave no sign of life for this many seconds fails as lost (RUNNER_LOST)",
    )
    api_backoff_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        alias="RUNNER_API_BACKOFF_S",
        description="a marketing API's first wait after a busy or unreachable answer (doubling, six tries in all)",
    )
    reap_interval_s: float = Field(
        default=REAP_INTERVAL_S,
        gt=0,
        alias="RUNNER_REAP_INTERVAL_S",
        description="how often each runner looks for lost runs (and once at start)",
    )
    retry_poll_s: float = Field(
        default=RETRY_POLL_S,
        gt=0,
        alias="RUNNER_RETRY_POLL_S",
        description=(
            "how often each runner begins the runs whose next attempt is due (a retry starts up to this late) and"
            " ends waiting runs asked to stop"
        ),
    )
    files_root: Path | None = Field(
        default=None,
        alias="CONNECT_FILES_ROOT",
        description=(
            "the hosted file server's account root, the folder the gateway serves; unset: jobs reading hosted files"
            " fail on this runner"
        ),
    )
    ready_poll_s: float = Field(
        default=READY_POLL_S,
        gt=0,
        alias="RUNNER_READY_POLL_S",
        description="how often a run waiting for its ready file looks for it",
    )
    work_mem: str = Field(
        default="256MB", alias="RUNNER_WORK_MEM", description="PostgreSQL work_mem for the set-based checks"
    )
    runner_name: str | None = Field(
        default=None, alias="RUNNER_NAME", description="shown on RunStarted; default: the host name"
    )
    audience_database: str = Field(default=AUDIENCE_DATABASE, alias="AUDIENCE_DATABASE")
    vault_database: str = Field(default=VAULT_DATABASE, alias="VAULT_DATABASE")
    consumer_group: str = Field(default="runner", alias="RUNNER_CONSUMER_GROUP")
    tables_consumer_group: str = Field(default="runner-tables", alias="RUNNER_TABLES_CONSUMER_GROUP")
    stops_group: str | None = Field(
        default=None, alias="RUNNER_STOPS_CONSUMER_GROUP", description="default: the consumer group + `-stops`"
    )

    @property
    def stops_consumer_group(self) -> str:
        """The group recording stop requests; its own, since the run consumer pauses a running run's partition."""
        return self.stops_group or f"{self.consumer_group}-stops"
