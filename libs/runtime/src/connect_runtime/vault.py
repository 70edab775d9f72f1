"""Credential vault: SFTP keys and passwords, encrypted at rest, referenced from job definitions by id.

Secrets never enter events, commands, logs or API responses: the gateway stores a credential here and
puts only its id (`credential_ref`) in the job definition; the runner reads and decrypts it at run time.
Encryption is Fernet (AES-128-CBC + HMAC-SHA256) with a key from `CONNECT_VAULT_KEY`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

import asyncpg
from cryptography.fernet import Fernet, InvalidToken

VAULT_DATABASE = "vault"
VAULT_DDL = """
CREATE TABLE IF NOT EXISTS credentials (
    id         uuid PRIMARY KEY,
    kind       text        NOT NULL CHECK (kind IN ('private_key', 'password')),
    ciphertext bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""
INSERT_CREDENTIAL = "INSERT INTO credentials (id, kind, ciphertext) VALUES ($1, $2, $3)"
SELECT_CREDENTIAL = "SELECT kind, ciphertext FROM credentials WHERE id = $1"
DELETE_CREDENTIAL = "DELETE FROM credentials WHERE id = $1"

CredentialKind = Literal["private_key", "password"]


class CredentialNotFoundError(LookupError):
    """No credential has this id (deleted, or never stored)."""


class CredentialUnreadableError(ValueError):
    """The credential exists but the vault key cannot decrypt it (the key was changed)."""


@dataclass(frozen=True)
class Credential:
    """A decrypted credential; keep it in memory only as long as a connection needs it."""

    kind: CredentialKind
    secret: str

    def __repr__(self) -> str:
        return f"Credential(kind={self.kind!r}, secret=<hidden>)"


class Vault:
    """Stores and reads encrypted credentials in the `vault` database."""

    def __init__(self, pool: asyncpg.Pool, key: str) -> None:
        self._pool = pool
        self._fernet = Fernet(key.encode())

    async def store(self, credential_id: UUID, credential: Credential) -> None:
        """Encrypt and store `credential` under `credential_id`."""
        ciphertext = self._fernet.encrypt(credential.secret.encode())
        await self._pool.execute(INSERT_CREDENTIAL, credential_id, credential.kind, ciphertext)

    async def read(self, credential_id: UUID) -> Credential:
        """Decrypt the credential stored under `credential_id`."""
        row = await self._pool.fetchrow(SELECT_CREDENTIAL, credential_id)
        if row is None:
            raise CredentialNotFoundError(str(credential_id))
        try:
            secret = self._fernet.decrypt(bytes(row["ciphertext"])).decode()
        except InvalidToken as exc:
            raise CredentialUnreadableError(str(credential_id)) from exc
        kind: CredentialKind = row["kind"]
        return Credential(kind=kind, secret=secret)

    async def delete(self, credential_id: UUID) -> None:
        """Remove the credential stored under `credential_id`; no error when there is none."""
        await self._pool.execute(DELETE_CREDENTIAL, credential_id)


def generate_key() -> str:
    """A new random vault key, for `make up` and tests."""
    return Fernet.generate_key().decode()
