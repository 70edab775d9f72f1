"""Reading source files from the hosted file server's tree (ADR 0010), which the runner sees on a shared volume,
archiving them there, and writing export files there (`HostedFiles.destination`).

Every path a job gives goes through `hosted_files.resolve`: one that could leave the root or goes through a
symbolic link fails the run in that rule's words. A `*` pattern skips names that start with `.`: the gateway
writes uploads in progress under hidden temporary names (`.upload-<32 hex>.part`, its `files.tree.is_temporary`),
whose exact rule the runner cannot import (services never import each other), and no hidden file is a data
file. File system calls run in threads, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import posixpath
import shutil
import stat
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import BinaryIO, ParamSpec, TypeVar

from connect_events import FileRules
from connect_runner.adapters.sftp_failures import DISK_FAILED, DISK_FULL
from connect_runner.adapters.sources import READY_POLL_S, locate
from connect_runner.domain.companions import archived_name
from connect_runner.domain.failures import RunFailure
from connect_runner.domain.file_pattern import FilePattern, oldest
from connect_runner.domain.source_files import (
    Checkpoint,
    FetchedFile,
    Progress,
    Source,
    changed_since_read,
    local_name,
)
from connect_runner.ports import Destination, Sink
from connect_runtime.hosted_files import PathRefusedError, resolve, segments

COPY_CHUNK_BYTES = 1 << 20
FOLDER_MODE = 0o700
FILE_MODE = 0o600
SERVER = "the hosted file server"

P = ParamSpec("P")
T = TypeVar("T")


class HostedFiles:
    """Fetches source files from the hosted tree under `root` (the account's root, `CONNECT_FILES_ROOT`)."""

    def __init__(self, root: Path, ready_poll_s: float = READY_POLL_S) -> None:
        self._tree = _Tree(root)
        self._ready_poll_s = ready_poll_s

    async def fetch(
        self,
        source: Source,
        pattern: FilePattern,
        rules: FileRules,
        work_dir: Path,
        stem: str,
        progress: Progress,
        checkpoint: Checkpoint,
    ) -> FetchedFile:
        """Find the file (waiting for its ready file, reading its count file, as `rules` ask) and copy it into
        `work_dir` (named after `stem`), hashing it on the way."""
        found = await locate(self._tree, pattern, rules, self._ready_poll_s, checkpoint)
        local = work_dir / local_name(stem, found.path)
        size, sha256, stamp = await _copy_in_thread(self._tree.local(found.path), local, found.path, progress)
        progress(size, size)
        return FetchedFile(local, found.path, size, sha256, found.expected_rows, found.companions, stamp)

    async def archive(self, source: Source, fetched: FetchedFile, folder: str, prefix: str, *, move: bool) -> str:
        """Rename (or copy) the file and its companions into `folder` (created when missing), each named `prefix`
        + its own name, replacing a file of that name. A file that changed since the run read it is not moved;
        a copy is made of the run's own download (of the tree's file, unchanged, when the run has none)."""
        await asyncio.to_thread(self._tree.archive, fetched, folder, prefix, move)
        return archived_name(folder, prefix, fetched.remote_path)

    @contextlib.asynccontextmanager
    async def destination(self, source: Source, path: str) -> AsyncIterator[Destination]:
        """The tree as an export writes to it (see `ports.Destination`); missing folders are created."""
        yield _Folder(self._tree)


class _Folder:
    """The tree as an export writes to it: every path through the path rule, file system calls in threads."""

    def __init__(self, tree: _Tree) -> None:
        self._tree = tree

    async def create(self, path: str) -> Sink:
        def create() -> BinaryIO:
            folder = posixpath.dirname(path)
            if folder:
                self._tree.make_folder(folder)
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
            return os.fdopen(os.open(self._tree.local(path), flags, FILE_MODE), "wb")

        return _File(await _writing(path, create), path)

    async def rename(self, path: str, target: str) -> None:
        await _writing(target, lambda: os.rename(self._tree.local(path), self._tree.local(target)))

    async def remove(self, path: str) -> None:
        def remove() -> None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tree.local(path))

        await _writing(path, remove)


class _File:
    """A file of the tree being written."""

    def __init__(self, file: BinaryIO, path: str) -> None:
        self._file = file
        self._path = path

    async def write(self, data: bytes) -> None:
        await _writing(self._path, self._file.write, data)

    async def close(self) -> None:
        await _writing(self._path, self._file.close)


async def _writing(path: str, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`call` in a thread; a failure of the file system becomes the run's, naming `path`."""
    try:
        return await asyncio.to_thread(call, *args, **kwargs)
    except OSError as exc:
        raise RunFailure("WRITE_FAILED", f"cannot write '{path}' on {SERVER}: {_archive_reason(exc)}") from exc


class _Tree:
    """The tree under the root as `locate` looks at it; paths are named as the job names them."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def local(self, path: str, named: str | None = None) -> Path:
        """Where `path` is on disk, once the tree's path rule lets it through (a refusal names `named`, the path
        the job gave, when `path` is only a part of it)."""
        try:
            return resolve(self._root, path)
        except PathRefusedError as exc:
            raise RunFailure("LOAD_FAILED", f"{SERVER} refuses the path '{named or path}': {exc}") from exc

    async def find(self, pattern: FilePattern, skip: Callable[[str], bool]) -> str | None:
        return await asyncio.to_thread(self._find, pattern, skip)

    async def is_file(self, path: str) -> bool:
        return await asyncio.to_thread(self._is_file, path)

    async def head(self, path: str, limit: int) -> bytes:
        return await asyncio.to_thread(self._head, path, limit)

    def _find(self, pattern: FilePattern, skip: Callable[[str], bool]) -> str | None:
        if not pattern.is_wildcard:
            return pattern.path if self._is_file(pattern.path) else None
        folder = self.local(pattern.folder, pattern.path) if pattern.folder else self._root
        try:
            with os.scandir(folder) as entries:
                files = [(e.name, t) for e in entries if not e.name.startswith(".") and (t := _mtime(e)) is not None]
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise RunFailure("LOAD_FAILED", f"cannot list the folder '{pattern.folder}' on {SERVER}") from exc
        name = oldest(pattern, ((n, t) for n, t in files if not skip(n)))
        return None if name is None else posixpath.join(pattern.folder, name) if pattern.folder else name

    def _is_file(self, path: str) -> bool:
        try:
            return stat.S_ISREG(os.lstat(self.local(path)).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as exc:
            raise RunFailure("LOAD_FAILED", f"cannot read '{path}' on {SERVER}") from exc

    def _head(self, path: str, limit: int) -> bytes:
        try:
            with _open_unlinked(self.local(path)) as file:
                return file.read(limit + 1)
        except OSError as exc:
            raise RunFailure("LOAD_FAILED", f"cannot read '{path}' on {SERVER}") from exc

    def archive(self, fetched: FetchedFile, folder: str, prefix: str, move: bool) -> None:
        """Move or copy the data file, then its companions, into `folder`: a copy of the data file is the run's
        download, or the tree's file when the run has none (a step finished after its runner died). Nothing moves,
        nor is copied from the tree, when the data file is no longer the one the run read (its companions may
        belong to the newer one too)."""
        action = "move" if move else "copy"
        path = fetched.remote_path
        try:
            if (move or not fetched.downloaded) and _stamp(os.lstat(self.local(path))) != fetched.stamp:
                raise changed_since_read(path)
            self.make_folder(folder)
            for path in (fetched.remote_path, *fetched.companions):
                target = self.local(archived_name(folder, prefix, path))
                if move:
                    os.rename(self.local(path), target)
                else:  # the data file as the run read it
                    own = path == fetched.remote_path and fetched.downloaded
                    source = fetched.local_path if own else self.local(path)
                    shutil.copyfile(source, target, follow_symlinks=False)
        except OSError as exc:
            reason = _archive_reason(exc)
            raise RunFailure("LOAD_FAILED", f"cannot {action} '{path}' to '{folder}' on {SERVER}: {reason}") from exc

    def make_folder(self, folder: str) -> None:
        """Create `folder` and the folders above it that are missing, each through the path rule."""
        self.local(folder)  # the whole path first: a refused one creates nothing
        parts = segments(folder)
        for depth in range(1, len(parts) + 1):
            self.local("/".join(parts[:depth])).mkdir(mode=FOLDER_MODE, exist_ok=True)


def _mtime(entry: os.DirEntry[str]) -> float | None:
    """A regular file's modification time; None for anything else (a folder, a link, a file gone meanwhile)."""
    try:
        return entry.stat(follow_symlinks=False).st_mtime if entry.is_file(follow_symlinks=False) else None
    except FileNotFoundError:
        return None


def _archive_reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "the file or the folder is not there"
    if isinstance(exc, PermissionError):
        return "the runner may not write there"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full"
    if isinstance(exc, (FileExistsError, NotADirectoryError, IsADirectoryError)):
        return "a file or folder of that name is in the way"
    return "the file system refused it"


class _Unsaved(Exception):
    """Writing the local copy failed (the runner's disk, not the tree)."""


def _stamp(status: os.stat_result) -> tuple[int, ...]:
    """What tells this version of a file from another stored under its name later."""
    return (status.st_ino, status.st_size, status.st_mtime_ns)


def _open_unlinked(path: Path) -> BinaryIO:
    """Open a file for reading, refusing a symbolic link put in its place since the path rule looked at it."""
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb")


async def _copy_in_thread(source: Path, local: Path, path: str, progress: Progress) -> tuple[int, str, tuple[int, ...]]:
    """Copy in a thread, reporting progress on the event loop; a cancelled copy stops at its next chunk."""
    loop = asyncio.get_running_loop()
    stop = threading.Event()

    def report(done: int, total: int) -> None:
        loop.call_soon_threadsafe(progress, done, total)

    try:
        return await asyncio.to_thread(_copy, source, local, report, stop)
    except FileNotFoundError as exc:
        raise RunFailure("FILE_NOT_FOUND", f"no file matching '{path}'") from exc
    except OSError as exc:
        raise RunFailure("LOAD_FAILED", f"cannot read '{path}' on {SERVER}") from exc
    except _Unsaved as exc:
        cause = exc.__cause__
        full = isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT)
        raise RunFailure("LOAD_FAILED", (DISK_FULL if full else DISK_FAILED).format(path=path)) from cause
    finally:
        stop.set()


def _copy(
    source: Path, local: Path, report: Callable[[int, int], None], stop: threading.Event
) -> tuple[int, str, tuple[int, ...]]:
    """Copy `source` to `local`: its size, SHA-256 hex digest and stamp (stops early, its result unused, on
    `stop`)."""
    digest = hashlib.sha256()
    done = 0
    with _open_unlinked(source) as reader, _saving(local.open, "wb") as writer:
        status = os.fstat(reader.fileno())
        total = status.st_size
        while not stop.is_set() and (chunk := reader.read(COPY_CHUNK_BYTES)):
            digest.update(chunk)
            _saving(writer.write, chunk)
            done += len(chunk)
            report(done, total)
        _saving(writer.flush)
    return done, digest.hexdigest(), _stamp(status)


def _saving(call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`call` on the local copy: its failures are the runner's disk's, not the tree's."""
    try:
        return call(*args, **kwargs)
    except OSError as exc:
        raise _Unsaved from exc
