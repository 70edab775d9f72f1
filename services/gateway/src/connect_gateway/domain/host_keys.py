"""Host-key pinning: the SFTP server's public key is fixed when a job is saved and shown as a fingerprint."""

from __future__ import annotations

from dataclasses import dataclass

import asyncssh

from connect_gateway.domain.errors import invalid


@dataclass(frozen=True)
class PinnedKey:
    """A server's public host key (OpenSSH `type base64`, no comment) and its SHA256 fingerprint."""

    public_key: str
    fingerprint: str


def pin(public_key_line: str, field: str = "source.host_key") -> PinnedKey:
    """Parse an OpenSSH public key line (a trailing comment is dropped); refuses what does not parse."""
    try:
        key = asyncssh.import_public_key(public_key_line.strip())
    except ValueError as exc:  # asyncssh.KeyImportError is a ValueError
        raise invalid(field, "not an OpenSSH public key line (e.g. 'ssh-ed25519 AAAA...')") from exc
    algorithm, data = key.export_public_key("openssh").decode().split()[:2]
    return PinnedKey(public_key=f"{algorithm} {data}", fingerprint=key.get_fingerprint("sha256"))
