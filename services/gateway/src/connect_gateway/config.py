"""The gateway's settings, read from environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr

from connect_runtime.settings import ServiceSettings
from connect_runtime.vault import VAULT_DATABASE

# The catalog service's default; services never import each other, so the name is repeated here and the
# setting is read under the same variable the catalog reads.
CATALOG_DATABASE = "catalog"


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
    vault_database: str = Field(
        default=VAULT_DATABASE,
        alias="VAULT_DATABASE",
        description="The credential vault's database (the same variable the runner reads)",
    )
    vault_key: SecretStr = Field(alias="CONNECT_VAULT_KEY", description="Fernet key of the credential vault")
