"""How the gateway names places in the account's tree: every path goes through `hosted_files.resolve`.

SFTP clients send absolute paths (`/upload/a.csv`): the client's `/` is the account's root, so the leading
slashes are dropped and the rest is resolved as it is; `..`, `.` and symbolic links stay refused. Only the
SFTP `realpath` request (what `cd` and the client's start-up send) folds `..` away, because answering it is
its whole purpose; a `..` that would climb above the root is refused there too.
"""

from __future__ import annotations

import re
from pathlib import Path

from connect_events import Role
from connect_gateway.domain.identity.roles import at_least
from connect_runtime.hosted_files import FOLDERS, PathRefusedError, resolve, segments

# Viewers read files; operators and above also upload, rename and delete them (the REST routes' rules too).
WRITERS = at_least(Role.OPERATOR)
# An upload in progress: hidden, and never a name a user or an import pattern like `*.csv` picks.
_TEMPORARY = re.compile(r"^\.upload-[0-9a-f]{32}\.part$")


def may_write(role: Role) -> bool:
    """Whether a user of `role` may change the tree (upload, rename, delete, create folders)."""
    return role in WRITERS


def relative(client_path: str) -> str:
    """A client's path relative to the root: leading `/` dropped; "" for the root itself (`/`, `.` or "")."""
    rest = client_path.lstrip("/")
    return "" if rest in ("", ".") else rest


def local(root: Path, client_path: str) -> Path:
    """Where `client_path` is on disk; raises `PathRefusedError` (see `hosted_files.resolve`)."""
    rest = relative(client_path)
    return root if rest == "" else resolve(root, rest)


def canonical(client_path: str) -> str:
    """The absolute form of a client's path with `.` and `..` folded (SFTP realpath); raises `PathRefusedError`
    when `..` would lead above the root."""
    parts: list[str] = []
    for part in client_path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise PathRefusedError("the path leads out of the account's root")
            parts.pop()
        else:
            parts.append(part)
    return "/" + "/".join(parts)


def is_fixed(client_path: str) -> bool:
    """Whether the path is the root or `upload/`, `download/` or `archive/`, which cannot be removed or renamed."""
    rest = relative(client_path)
    return rest == "" or (len(parts := segments(rest)) == 1 and parts[0] in FOLDERS)


def temporary_name(token: str) -> str:
    """The hidden name an upload is written under before it takes its own (`token`: 32 hex digits)."""
    name = f".upload-{token}.part"
    if not _TEMPORARY.match(name):
        raise ValueError("an upload token is 32 lower-case hex digits")
    return name


def is_temporary(name: str) -> bool:
    """Whether `name` is an upload still in progress (listings leave it out)."""
    return _TEMPORARY.match(name) is not None
