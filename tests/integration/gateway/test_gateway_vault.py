"""The vault adapter against real PostgreSQL: encrypted at rest, readable by the runner, deletable."""

from __future__ import annotations

from uuid import uuid4

import asyncpg
import pytest

from connect_gateway.adapters.vault import VaultCredentials
from connect_gateway.domain.secrets import Secret
from connect_runtime.vault import CredentialNotFoundError, Vault, generate_key

pytestmark = pytest.mark.integration


async def test_store_read_delete(vault_pool: asyncpg.Pool) -> None:
    key = generate_key()
    credentials = VaultCredentials(vault_pool, key)
    ref = uuid4()
    await credentials.store(ref, Secret("password", "correct horse battery staple"))

    raw = await vault_pool.fetchval("SELECT ciphertext FROM credentials WHERE id = $1", ref)
    assert b"correct horse" not in bytes(raw)
    credential = await Vault(vault_pool, key).read(ref)  # what the runner does at run time
    assert (credential.kind, credential.secret) == ("password", "correct horse battery staple")

    await credentials.delete(ref)
    with pytest.raises(CredentialNotFoundError):
        await Vault(vault_pool, key).read(ref)
    await credentials.delete(ref)  # deleting twice is fine
    await credentials.ping()
