"""The vault as the gateway's `CredentialStore`."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from connect_gateway.domain.secrets import Secret
from connect_runtime.vault import Credential, Vault


class VaultCredentials:
    """Stores SFTP secrets encrypted in the `vault` database."""

    def __init__(self, pool: asyncpg.Pool, key: str) -> None:
        self._pool = pool
        self._vault = Vault(pool, key)

    async def store(self, ref: UUID, secret: Secret) -> None:
        """Encrypt and store `secret` under `ref`."""
        await self._vault.store(ref, Credential(kind=secret.kind, secret=secret.value))

    async def delete(self, ref: UUID) -> None:
        """Remove the credential `ref` (no error when it is already gone)."""
        await self._vault.delete(ref)

    async def ping(self) -> None:
        """Raise when the vault database cannot answer."""
        await self._pool.fetchval("SELECT 1")
