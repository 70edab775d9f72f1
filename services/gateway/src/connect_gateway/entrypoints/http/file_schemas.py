"""Request and response bodies and values of the hosted file server's files and SSH keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import Field, StringConstraints

from connect_events import values as v
from connect_gateway.entrypoints.http.fields import HostedPath, Username
from connect_gateway.entrypoints.http.schemas import RequestBody, ResponseBody
from connect_gateway.entrypoints.http.value_rule import Rule
from connect_gateway.files import keys

KeyLabel = Annotated[
    str,
    StringConstraints(min_length=1, max_length=keys.MAX_LABEL_LENGTH),
    Rule(keys.label_problem, v.FILLED_LINE_PATTERN),
]
PublicKeyText = Annotated[str, StringConstraints(min_length=1, max_length=keys.MAX_PUBLIC_KEY_LENGTH)]


class FileOut(ResponseBody):
    """A file or folder of the account's tree; `path` is relative to its root (`upload/a.csv`)."""

    name: str
    path: str
    size: int = Field(description="Bytes; 0 for a folder")
    modified: datetime
    is_folder: bool


class FolderIn(RequestBody):
    """A folder to create, in a folder that exists (e.g. `upload/crm`)."""

    path: HostedPath


class SshKeyIn(RequestBody):
    """A public key to log in to the file server with; for yourself unless an admin names another `username`."""

    label: KeyLabel
    public_key: PublicKeyText = Field(
        description="One OpenSSH public key line: Ed25519, or RSA of at least 2048 bits (e.g. `ssh-ed25519 AAAA…`)"
    )
    username: Username | None = None


class SshKeyOut(ResponseBody):
    """A registered key; its user logs in to the file server with the matching private key."""

    key_id: UUID
    username: str
    label: str
    algorithm: str
    bits: int
    fingerprint: str = Field(description="SHA256, as `ssh-keygen -lf` prints it")
    public_key: str
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
