"""The SFTP secret a job is saved with: exactly one of a private key or a password."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import asyncssh

from connect_events import FieldError
from connect_gateway.domain.errors import Refusal, invalid

SecretKind = Literal["private_key", "password"]
ONE_SECRET = "give exactly one of private_key or password"


@dataclass(frozen=True)
class Secret:
    """A credential on its way to the vault; its value never appears in a repr, log line or event."""

    kind: SecretKind
    value: str = field(repr=False)


def choose_secret(private_key: str | None, password: str | None, *, required: bool) -> Secret | None:
    """The one secret given; both is always an error, neither only when `required`."""
    if private_key is not None and password is not None:
        raise _one_secret_refusal()
    if private_key is not None:
        check_private_key(private_key)
        return Secret("private_key", private_key)
    if password is not None:
        if not password:
            raise invalid("source.password", "must not be empty")
        return Secret("password", password)
    if required:
        raise _one_secret_refusal()
    return None


def check_private_key(text: str) -> None:
    """Refuse a key the runner could not use: unparseable or passphrase-protected."""
    try:
        asyncssh.import_private_key(text)
    except (asyncssh.KeyImportError, ValueError) as exc:
        # The parser's message never quotes key material, but keep ours fixed anyway.
        raise invalid("source.private_key", "not a usable private key (OpenSSH or PEM, without passphrase)") from exc


def _one_secret_refusal() -> Refusal:
    errors = [FieldError(field=f"source.{name}", message=ONE_SECRET) for name in ("private_key", "password")]
    return Refusal("validation_failed", ONE_SECRET, errors)
