"""The gateway's settings, read from environment variables."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from connect_gateway.domain.compat import limits_with
from connect_gateway.domain.identity.access import DocsAccess
from connect_gateway.domain.identity.sessions import SessionPolicy
from connect_runtime.settings import ServiceSettings
from connect_runtime.vault import VAULT_DATABASE

# The gateway's own database: users, API tokens, sessions, login failures and the identity outbox (ADR 0008).
IDENTITY_DATABASE = "identity"
# The catalog service's default; services never import each other, so the name is repeated here and the
# setting is read under the same variable the catalog reads.
CATALOG_DATABASE = "catalog"
# The runner's database (the audience store: lists, PETs, the rejects of runs): the runner's default, repeated.
AUDIENCE_DATABASE = "audience"


class GatewaySettings(ServiceSettings):
    """HTTP listener, reply wait, host-key scan, the databases it reads and the vault key."""

    host: str = Field(default="127.0.0.1", alias="GATEWAY_HOST")
    port: int = Field(default=8080, alias="GATEWAY_PORT")
    reply_timeout_s: float = Field(
        default=10.0,
        alias="GATEWAY_REPLY_TIMEOUT_S",
        description="How long a write waits for the scheduler's reply before answering 202 pending",
    )
    host_key_timeout_s: float = Field(
        default=5.0,
        alias="GATEWAY_HOST_KEY_TIMEOUT_S",
        description="How long pinning waits for an SFTP server's SSH handshake",
    )
    shutdown_grace_s: float = Field(
        default=15.0,
        alias="GATEWAY_SHUTDOWN_GRACE_S",
        description="On SIGTERM, how long in-flight requests may finish before connections are closed",
    )
    catalog_pool_size: int = Field(default=10, alias="GATEWAY_CATALOG_POOL_SIZE")
    catalog_database: str = Field(
        default=CATALOG_DATABASE,
        alias="CATALOG_DATABASE",
        description="The catalog's read-model database (the same variable the catalog service reads)",
    )
    audience_database: str = Field(
        default=AUDIENCE_DATABASE,
        alias="AUDIENCE_DATABASE",
        description="The audience database: lists, PETs and the rejects of runs (the variable the runner reads)",
    )
    audience_pool_size: int = Field(
        default=4, ge=1, alias="GATEWAY_AUDIENCE_POOL_SIZE", description="Reject downloads served at once"
    )
    vault_database: str = Field(
        default=VAULT_DATABASE,
        alias="VAULT_DATABASE",
        description="The credential vault's database (the same variable the runner reads)",
    )
    vault_key: SecretStr = Field(alias="CONNECT_VAULT_KEY", description="Fernet key of the credential vault")
    identity_database: str = Field(
        default=IDENTITY_DATABASE,
        alias="IDENTITY_DATABASE",
        description="The gateway's own database of users, tokens, sessions and login failures",
    )
    identity_pool_size: int = Field(default=10, alias="GATEWAY_IDENTITY_POOL_SIZE")
    session_idle_s: float = Field(
        default=1800.0, gt=0, alias="GATEWAY_SESSION_IDLE_S", description="A session unused this long ends"
    )
    session_absolute_s: float = Field(
        default=43200.0, gt=0, alias="GATEWAY_SESSION_ABSOLUTE_S", description="A session ends this long after login"
    )
    docs: DocsAccess = Field(
        default=DocsAccess.PUBLIC,
        alias="GATEWAY_DOCS",
        description="Who may read /docs and /openapi.json: public, authenticated or off",
    )
    argon2_time_cost: int = Field(default=3, ge=1, alias="GATEWAY_ARGON2_TIME_COST")
    argon2_memory_kib: int = Field(default=65536, ge=8192, alias="GATEWAY_ARGON2_MEMORY_KIB")
    files_root: Path | None = Field(
        default=None,
        alias="CONNECT_FILES_ROOT",
        description="The hosted file server's account root, shared with the runner; unset: no hosted file server",
    )
    sftp_host: str = Field(default="127.0.0.1", alias="GATEWAY_SFTP_HOST")
    sftp_port: int = Field(default=2222, ge=0, le=65535, alias="GATEWAY_SFTP_PORT")
    sftp_host_key: Path = Field(
        default=Path("sftp_host_ed25519_key"),
        alias="GATEWAY_SFTP_HOST_KEY",
        description="The SFTP endpoint's host key file (created at first start; outside the files root)",
    )
    max_upload_bytes: int = Field(default=10 * 2**30, gt=0, alias="GATEWAY_MAX_UPLOAD_BYTES")
    public_url: str | None = Field(
        default=None,
        alias="CONNECT_PUBLIC_URL",
        description="The gateway's address as users reach it (the scheduler's links use it too); the "
        "Responsys-compatible login returns it as `endPoint` (unset: the address the request came to)",
    )
    # NoDecode: the validator below reads the JSON, so a malformed value is refused in our words.
    compat_rate_limits: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=dict,
        alias="GATEWAY_COMPAT_RATE_LIMITS",
        description="Requests a minute per token of Responsys-compatible calls that differ from the defaults, "
        'as JSON: {"getConnectJobRunStatus": 1200}',
    )

    @field_validator("compat_rate_limits", mode="before")
    @classmethod
    def _known_limits(cls, value: object) -> object:
        if isinstance(value, str):  # as the environment gives it (also when passed in directly)
            try:
                value = json.loads(value)
            except ValueError:
                raise ValueError('must be a JSON object of call names and limits, e.g. {"login": 30}') from None
        if isinstance(value, dict):
            limits_with(value)  # raises ValueError naming an unknown call or a limit under 1
        return value

    def session_policy(self) -> SessionPolicy:
        """Idle and absolute session expiry."""
        return SessionPolicy(
            idle=timedelta(seconds=self.session_idle_s), absolute=timedelta(seconds=self.session_absolute_s)
        )
