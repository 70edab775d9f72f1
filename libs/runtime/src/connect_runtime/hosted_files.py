"""The hosted file server's tree (spec §2): an account's root holds `upload/`, `download/` and `archive/` (users
may add folders), and no path anyone gives can lead out of it.

Everything that touches the tree goes through `resolve`: the SFTP endpoint and the REST API (the gateway) and
import jobs reading from it (the runner, which sees the same tree on a shared volume). A path is relative and
`/`-separated; it is refused, never repaired, when it is absolute, empty, has an empty, `.` or `..` segment, a
backslash or a control character, or is too long; and when any part of it that exists is a symbolic link, so
that a link placed in the tree by other means cannot point a reader elsewhere.
"""

from __future__ import annotations

import os
import stat
import unicodedata
from pathlib import Path

FOLDERS = ("upload", "download", "archive")
MAX_PATH_LENGTH = 1024
MAX_SEGMENT_LENGTH = 255


class PathRefusedError(ValueError):
    """A path that could lead out of the root, or that no file of the tree can have; the message says why in our
    words and never repeats the path."""


def segments(path: str) -> tuple[str, ...]:
    """The segments of a relative path (one trailing `/` allowed, for a folder); raises `PathRefusedError`."""
    if not path or path == "/":
        raise PathRefusedError("the path is empty")
    if len(path) > MAX_PATH_LENGTH:
        raise PathRefusedError(f"the path is longer than {MAX_PATH_LENGTH} characters")
    if path.startswith("/"):
        raise PathRefusedError("the path must be relative to the account's root, not start with '/'")
    if "\\" in path:
        raise PathRefusedError("the path may not contain a backslash")
    if any(unicodedata.category(char) in ("Cc", "Cf", "Cs") for char in path):
        raise PathRefusedError("the path may not contain control characters")
    parts = tuple((path[:-1] if path.endswith("/") else path).split("/"))
    for part in parts:
        if part in ("", ".", ".."):
            raise PathRefusedError("the path may not contain empty, '.' or '..' segments")
        if len(part) > MAX_SEGMENT_LENGTH:
            raise PathRefusedError(f"a path segment is longer than {MAX_SEGMENT_LENGTH} characters")
    return parts


def resolve(root: Path, path: str) -> Path:
    """Where `path` is under `root`, once no existing part of it is a symbolic link; raises `PathRefusedError`.

    The parts that do not exist yet (a file about to be uploaded) are allowed: they are created under a real
    directory. Links are looked for without following them (`lstat`).
    """
    current = root
    for part in segments(path):
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(mode):
            raise PathRefusedError("the path goes through a symbolic link, which the file server does not follow")
    resolved = current.resolve(strict=False)
    if not resolved.is_relative_to(root.resolve()):  # a second guard: nothing above can have let this happen
        raise PathRefusedError("the path leads out of the account's root")
    return current


def ensure_account(root: Path) -> None:
    """Create the account's root and its standard folders if missing (owner-only permissions)."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    for folder in FOLDERS:
        (root / folder).mkdir(mode=0o700, exist_ok=True)
