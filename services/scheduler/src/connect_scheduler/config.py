"""The scheduler's settings, from environment variables."""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from connect_runtime.settings import ServiceSettings
from connect_scheduler.adapters.schema import DATABASE
from connect_scheduler.entrypoints.ticker import BATCH_SIZE, STATE_CACHE_SIZE, TICK_INTERVAL_S
from connect_scheduler.policy import Policy


class SchedulerSettings(ServiceSettings):
    """Shared settings plus the scheduler's own database and consumer groups."""

    # A refusal never repeats what was read: the environment holds secrets.
    model_config = SettingsConfigDict(hide_input_in_errors=True)

    database: str = Field(default=DATABASE, alias="SCHEDULER_DATABASE")
    metrics_port: int | None = Field(
        default=None,
        alias="SCHEDULER_METRICS_PORT",
        description="where /metrics, /healthz and /readyz are served (none when unset)",
    )
    consumer_group: str = Field(default="scheduler", alias="SCHEDULER_CONSUMER_GROUP")
    tick_interval_s: float = Field(default=TICK_INTERVAL_S, gt=0, alias="SCHEDULER_TICK_INTERVAL_S")
    tick_batch_size: int = Field(default=BATCH_SIZE, ge=1, alias="SCHEDULER_TICK_BATCH_SIZE")
    state_cache_size: int = Field(default=STATE_CACHE_SIZE, ge=0, alias="SCHEDULER_STATE_CACHE_SIZE")
    # Notifications (spec §7.5): links point at the gateway's public address; secrets come only from the
    # environment and are never logged.
    public_url: str = Field(default="http://127.0.0.1:8080", alias="CONNECT_PUBLIC_URL")
    smtp_host: str | None = Field(default=None, alias="CONNECT_SMTP_HOST", description="None: no email is sent")
    smtp_port: int | None = Field(
        default=None, ge=1, le=65535, alias="CONNECT_SMTP_PORT", description="None: 465 with CONNECT_SMTP_TLS, else 587"
    )
    smtp_from: str = Field(default="connect@localhost", alias="CONNECT_SMTP_FROM")
    smtp_user: str | None = Field(default=None, alias="CONNECT_SMTP_USER")
    smtp_password: SecretStr | None = Field(default=None, alias="CONNECT_SMTP_PASSWORD")
    smtp_tls: bool = Field(default=False, alias="CONNECT_SMTP_TLS", description="TLS from the first byte (port 465)")
    smtp_starttls: bool | None = Field(
        default=None, alias="CONNECT_SMTP_STARTTLS", description="upgrade required; None: unless CONNECT_SMTP_TLS"
    )
    webhook_signing_key: SecretStr | None = Field(default=None, alias="CONNECT_WEBHOOK_SIGNING_KEY")
    # Off by default: a user's webhook URL must not reach services inside the deployment (domain/addresses.py).
    webhook_allow_private: bool = Field(default=False, alias="CONNECT_WEBHOOK_ALLOW_PRIVATE")

    @model_validator(mode="after")
    def _smtp_encrypted(self) -> Self:
        """Credentials only ever travel encrypted, over one kind of TLS."""
        if self.smtp_tls and self.smtp_starttls:
            raise ValueError("CONNECT_SMTP_TLS and CONNECT_SMTP_STARTTLS exclude each other: set only one")
        password = self.smtp_password.get_secret_value() if self.smtp_password else ""
        if (self.smtp_user or password) and not (self.smtp_tls or self.smtp_starttls_required):
            raise ValueError(
                "CONNECT_SMTP_USER and CONNECT_SMTP_PASSWORD are sent only encrypted: "
                "set CONNECT_SMTP_STARTTLS or CONNECT_SMTP_TLS to true"
            )
        return self

    @property
    def smtp_starttls_required(self) -> bool:
        """Whether the STARTTLS upgrade is required: as set, else unless the connection is TLS from the start."""
        return not self.smtp_tls if self.smtp_starttls is None else self.smtp_starttls

    @property
    def smtp_server_port(self) -> int:
        """The SMTP port: as set, else the standard one of the TLS in use."""
        return self.smtp_port or (465 if self.smtp_tls else 587)

    @property
    def policy(self) -> Policy:
        """The operator's choices commands are decided under."""
        return Policy(allow_private_webhooks=self.webhook_allow_private)

    @property
    def runs_consumer_group(self) -> str:
        """The group reading `connect.runs`: its own, so run events never wait behind commands."""
        return f"{self.consumer_group}-runs"
