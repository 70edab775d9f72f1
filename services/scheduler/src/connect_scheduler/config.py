"""The scheduler's settings, from environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr

from connect_runtime.settings import ServiceSettings
from connect_scheduler.adapters.schema import DATABASE
from connect_scheduler.entrypoints.ticker import BATCH_SIZE, TICK_INTERVAL_S
from connect_scheduler.policy import Policy


class SchedulerSettings(ServiceSettings):
    """Shared settings plus the scheduler's own database and consumer groups."""

    database: str = Field(default=DATABASE, alias="SCHEDULER_DATABASE")
    consumer_group: str = Field(default="scheduler", alias="SCHEDULER_CONSUMER_GROUP")
    tick_interval_s: float = Field(default=TICK_INTERVAL_S, gt=0, alias="SCHEDULER_TICK_INTERVAL_S")
    tick_batch_size: int = Field(default=BATCH_SIZE, ge=1, alias="SCHEDULER_TICK_BATCH_SIZE")
    # Notifications (spec §7.5): links point at the gateway's public address; secrets come only from the
    # environment and are never logged.
    public_url: str = Field(default="http://127.0.0.1:8080", alias="CONNECT_PUBLIC_URL")
    smtp_host: str | None = Field(default=None, alias="CONNECT_SMTP_HOST", description="None: no email is sent")
    smtp_port: int = Field(default=587, ge=1, le=65535, alias="CONNECT_SMTP_PORT")
    smtp_from: str = Field(default="connect@localhost", alias="CONNECT_SMTP_FROM")
    smtp_user: str | None = Field(default=None, alias="CONNECT_SMTP_USER")
    smtp_password: SecretStr | None = Field(default=None, alias="CONNECT_SMTP_PASSWORD")
    smtp_starttls: bool = Field(default=True, alias="CONNECT_SMTP_STARTTLS")
    webhook_signing_key: SecretStr | None = Field(default=None, alias="CONNECT_WEBHOOK_SIGNING_KEY")
    # Off by default: a user's webhook URL must not reach services inside the deployment (domain/addresses.py).
    webhook_allow_private: bool = Field(default=False, alias="CONNECT_WEBHOOK_ALLOW_PRIVATE")

    @property
    def policy(self) -> Policy:
        """The operator's choices commands are decided under."""
        return Policy(allow_private_webhooks=self.webhook_allow_private)

    @property
    def runs_consumer_group(self) -> str:
        """The group reading `connect.runs`: its own, so run events never wait behind commands."""
        return f"{self.consumer_group}-runs"
