"""Which SSH public keys may be registered for the hosted file server: RSA of at least 2048 bits or Ed25519.

A key is taken as one OpenSSH public key line (`ssh-ed25519 AAAA… comment`); it is stored without its comment
and found again at login by its SHA256 fingerprint, the one `ssh-keygen -lf` prints.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncssh
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from connect_events import values as v

ED25519 = "ssh-ed25519"
RSA = "ssh-rsa"
MIN_RSA_BITS = 2048
ED25519_BITS = 256
MAX_PUBLIC_KEY_LENGTH = 8192  # an OpenSSH line of a 16384-bit RSA key is about 2,800 characters
MAX_LABEL_LENGTH = 100
MAX_KEYS_PER_USER = 50
FORM = "must be one OpenSSH public key line, e.g. 'ssh-ed25519 AAAA… laptop'"


class KeyRefusedError(ValueError):
    """A public key the file server does not take; the message says why in our words."""


@dataclass(frozen=True)
class PublicKey:
    """A key fit for login: its algorithm, size, fingerprint and OpenSSH form (`type base64`, no comment)."""

    algorithm: str
    bits: int
    fingerprint: str
    openssh: str


def read_public_key(text: str) -> PublicKey:
    """The key in `text` once it passes the rules; raises `KeyRefusedError`."""
    line = text.strip()
    if not line or "\n" in line or len(line) > MAX_PUBLIC_KEY_LENGTH:
        raise KeyRefusedError(FORM)
    try:
        key = asyncssh.import_public_key(line)
    except (ValueError, asyncssh.KeyImportError):  # also what a private key or a certificate raises here
        raise KeyRefusedError(FORM) from None
    algorithm = key.get_algorithm()
    if algorithm not in (ED25519, RSA):
        raise KeyRefusedError("must be an Ed25519 key or an RSA key of at least 2048 bits")
    bits = key_bits(key)
    if algorithm == RSA and bits < MIN_RSA_BITS:
        raise KeyRefusedError(f"is an RSA key of {bits} bits; RSA keys must have at least {MIN_RSA_BITS}")
    kind, data = key.export_public_key("openssh").decode().split()[:2]
    return PublicKey(algorithm=algorithm, bits=bits, fingerprint=fingerprint(key), openssh=f"{kind} {data}")


def key_bits(key: asyncssh.SSHKey) -> int:
    """The size of an RSA key's modulus; 256 for any other key."""
    pyca = key.pyca_key
    return pyca.key_size if isinstance(pyca, RSAPublicKey) else ED25519_BITS


def fingerprint(key: asyncssh.SSHKey) -> str:
    """`SHA256:…` of the key's public blob (what a login is matched on)."""
    return key.get_fingerprint("sha256")


def label_problem(label: str) -> str | None:
    """Why `label` cannot name a key (a single line that says something, at most 100 characters)."""
    if problem := v.filled_line_problem(label):
        return problem
    return f"must be at most {MAX_LABEL_LENGTH} characters" if len(label) > MAX_LABEL_LENGTH else None
