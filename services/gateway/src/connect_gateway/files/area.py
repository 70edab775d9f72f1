"""The account's tree on disk, as the REST API reads and writes it (blocking calls: run them in a thread).

REST paths are relative to the root (`upload/a.csv`) and go to `hosted_files.resolve` unchanged. An upload is
written under a hidden temporary name in its folder and renamed over its own name only once complete, so an
import never reads half a file; the rename replaces a file atomically. Files are opened without following a
final symbolic link, so one placed after `resolve` looked is not followed either.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from connect_gateway.files.tree import is_fixed, is_temporary, temporary_name
from connect_runtime.hosted_files import PathRefusedError, resolve

FOLDER_MODE = 0o700
FILE_MODE = 0o600


class AreaError(Exception):
    """A request the tree cannot satisfy; the message says why in our words (the path as the caller gave it)."""


class MissingError(AreaError):
    """The file or folder does not exist."""


class ConflictError(AreaError):
    """The path exists but is the wrong kind, or cannot be changed that way."""


@dataclass(frozen=True)
class Entry:
    """A file or folder of the tree."""

    name: str
    path: str
    size: int
    modified: datetime
    is_folder: bool


def entry(path: str, info: os.stat_result) -> Entry:
    """What a listing shows of `path` (relative to the root) with status `info`."""
    modified = datetime.fromtimestamp(info.st_mtime, UTC)
    is_folder = stat.S_ISDIR(info.st_mode)
    return Entry(
        path.rstrip("/").rsplit("/", 1)[-1], path.rstrip("/"), 0 if is_folder else info.st_size, modified, is_folder
    )


def list_folder(root: Path, folder: str | None) -> list[Entry]:
    """The files and folders of `folder` (the root when None), by name; uploads in progress and anything that is
    neither a file nor a folder (a symbolic link) are left out."""
    where = root if folder is None else resolve(root, folder)
    _folder_status(where, folder or "/")
    prefix = "" if folder is None else folder.rstrip("/") + "/"
    found: list[Entry] = []
    with os.scandir(where) as entries:
        for item in entries:
            info = item.stat(follow_symlinks=False)
            if is_temporary(item.name) or not (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)):
                continue
            found.append(entry(prefix + item.name, info))
    return sorted(found, key=lambda e: e.name)


def make_folder(root: Path, path: str) -> Entry:
    """Create the folder `path` in an existing folder."""
    target = resolve(root, path)
    parent, _name = _split(path)
    _folder_status(target.parent, parent or "/")
    try:
        target.mkdir(mode=FOLDER_MODE)
    except FileExistsError:
        raise ConflictError(f"{path} already exists") from None
    return entry(path, target.lstat())


def remove(root: Path, path: str) -> None:
    """Delete a file or an empty folder (not `upload/`, `download/` or `archive/`)."""
    target = resolve(root, path)
    if is_fixed(path):
        raise ConflictError(f"{path} is a standard folder of the account and cannot be removed")
    info = _status(target, path)
    try:
        if stat.S_ISDIR(info.st_mode):
            target.rmdir()
        else:
            target.unlink()
    except FileNotFoundError:
        raise MissingError(f"{path} not found") from None
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise ConflictError(f"the folder {path} is not empty") from None
        raise


def open_file(root: Path, path: str) -> tuple[BinaryIO, int]:
    """The file `path` opened for reading, and its size."""
    target = resolve(root, path)
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise MissingError(f"{path} not found") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a link put there after `resolve` looked
            raise PathRefusedError(
                "the path goes through a symbolic link, which the file server does not follow"
            ) from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ConflictError(f"{path} is a folder; list it with ?folder={path}")
    return os.fdopen(fd, "rb"), info.st_size


class Upload:
    """One file being received: written to a temporary name in its folder, renamed into place by `finish`."""

    def __init__(self, root: Path, path: str, token: str) -> None:
        self.path = path
        if path.endswith("/"):
            raise PathRefusedError("a file's path cannot end with '/'")
        self._target = resolve(root, path)
        parent, _name = _split(path)
        _folder_status(self._target.parent, parent or "/")
        if self._target.is_dir():
            raise ConflictError(f"{path} is a folder")
        self._temporary = self._target.parent / temporary_name(token)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        self._file = os.fdopen(os.open(self._temporary, flags, FILE_MODE), "wb")
        self.size = 0

    def write(self, data: bytes) -> None:
        """Append `data`."""
        self._file.write(data)
        self.size += len(data)

    def finish(self) -> tuple[Entry, bool]:
        """Move the complete file into place; the entry and whether it is new (no file had that name)."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        created = not self._target.exists()
        try:
            os.replace(self._temporary, self._target)
        except IsADirectoryError:
            self.abort()
            raise ConflictError(f"{self.path} is a folder") from None
        return entry(self.path, self._target.lstat()), created

    def abort(self) -> None:
        """Forget what was received (no error when it is already gone)."""
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._temporary.unlink()


def _split(path: str) -> tuple[str, str]:
    parent, _, name = path.rstrip("/").rpartition("/")
    return parent, name


def _status(target: Path, shown: str) -> os.stat_result:
    try:
        return target.lstat()
    except FileNotFoundError:
        raise MissingError(f"{shown} not found") from None


def _folder_status(target: Path, shown: str) -> None:
    try:
        info = target.lstat()
    except FileNotFoundError:
        raise MissingError(f"the folder {shown} does not exist") from None
    if not stat.S_ISDIR(info.st_mode):
        raise ConflictError(f"{shown} is a file, not a folder")
