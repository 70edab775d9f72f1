"""Reading a job's source file wherever it is: `Sources` picks the external SFTP server or the hosted tree by
the location's kind, and `locate` does what both do alike (the pattern's file, the ready-file wait, the count
file) over the `Tree` each of them gives it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

from connect_events import FileRules
from connect_runner.domain.companions import (
    MAX_COUNT_FILE_BYTES,
    companion,
    companions,
    count_file_missing,
    is_companion,
    ready_timeout,
    row_count,
)
from connect_runner.domain.failures import RunFailure
from connect_runner.domain.feed_manifest import FetchedDelivery, Granularity
from connect_runner.domain.file_pattern import FilePattern
from connect_runner.domain.source_files import Checkpoint, FetchedFile, Progress, Source
from connect_runner.ports import Destination, FileFetcher, Files

READY_POLL_S = 5.0
NO_FILES_ROOT = (
    "the job reads from the hosted file server, which this runner cannot see: set CONNECT_FILES_ROOT to the "
    "folder the gateway serves"
)


class Tree(Protocol):
    """The files a fetch looks at, named as the job names them; problems come out as `RunFailure`s."""

    async def find(self, pattern: FilePattern, skip: Callable[[str], bool]) -> str | None:
        """The file `pattern` names, or the oldest match of a `*` pattern among the regular files whose names
        `skip` does not refuse; None when there is none."""

    async def is_file(self, path: str) -> bool:
        """Whether `path` is a regular file."""

    async def head(self, path: str, limit: int) -> bytes:
        """The first `limit` + 1 bytes of the file at most (more than `limit`: the file is longer)."""


@dataclass(frozen=True)
class Located:
    """The data file a run reads, what its count file says (when asked for) and its companions."""

    path: str
    expected_rows: int | None
    companions: tuple[str, ...]


async def locate(tree: Tree, pattern: FilePattern, rules: FileRules, poll_s: float, checkpoint: Checkpoint) -> Located:
    """The data file, once it and its ready file exist when the job asks for one, and its count file's number."""
    skip = partial(is_companion, rules=rules)
    if rules.ready_file is None:
        path = await tree.find(pattern, skip)
        if path is None:
            raise RunFailure("FILE_NOT_FOUND", f"no file matching '{pattern.path}'")
    else:
        wait = Wait(rules.ready_file, rules.ready_timeout_s, poll_s)
        path = await _when_ready(tree, pattern, skip, wait, checkpoint)
    expected = None if rules.count_file is None else await _count(tree, path, rules.count_file)
    return Located(path=path, expected_rows=expected, companions=companions(path, rules))


@dataclass(frozen=True)
class Wait:
    """A ready file's extension, how long to wait for it and how often to look."""

    extension: str
    timeout_s: int
    poll_s: float


async def _when_ready(
    tree: Tree, pattern: FilePattern, skip: Callable[[str], bool], wait: Wait, checkpoint: Checkpoint
) -> str:
    """Look every `poll_s` until the data file and its ready file exist; a stop is seen between looks."""
    deadline = time.monotonic() + wait.timeout_s
    while True:
        found = await tree.find(pattern, skip)
        if found is not None and await tree.is_file(companion(found, wait.extension)):
            return found
        left = deadline - time.monotonic()
        if left <= 0:
            raise ready_timeout(pattern.path, found, wait.extension, wait.timeout_s)
        await checkpoint()
        await asyncio.sleep(min(wait.poll_s, left))


async def _count(tree: Tree, data_path: str, extension: str) -> int:
    path = companion(data_path, extension)
    if not await tree.is_file(path):
        raise count_file_missing(path, data_path)
    return row_count(await tree.head(path, MAX_COUNT_FILE_BYTES), path)


class Sources:
    """The runner's `FileFetcher`: external SFTP servers, and the hosted tree when this runner can see it."""

    def __init__(self, sftp: Files, hosted: FileFetcher | None) -> None:
        self._sftp = sftp
        self._hosted = hosted

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
        """As the source's own fetcher."""
        return await self._of(source).fetch(source, pattern, rules, work_dir, stem, progress, checkpoint)

    async def archive(self, source: Source, fetched: FetchedFile, folder: str, prefix: str, *, move: bool) -> str:
        """As the source's own fetcher."""
        return await self._of(source).archive(source, fetched, folder, prefix, move=move)

    async def fetch_delivery(
        self,
        source: Source,
        folder: str,
        rsid: str,
        granularity: Granularity,
        processed: Mapping[str, str],
        work_dir: Path,
    ) -> FetchedDelivery | None:
        """From the external SFTP server (a feed job's source is one)."""
        return await self._sftp.fetch_delivery(source, folder, rsid, granularity, processed, work_dir)

    def destination(self, source: Source, path: str) -> AbstractAsyncContextManager[Destination]:
        """As the source's own."""
        return self._of(source).destination(source, path)

    def _of(self, source: Source) -> FileFetcher:
        if source.location.kind == "sftp":
            return self._sftp
        if self._hosted is None:
            raise RunFailure("INTERNAL", NO_FILES_ROOT)
        return self._hosted
