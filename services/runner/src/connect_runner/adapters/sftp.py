"""Downloading the source file from an external SFTP server, verifying its pinned host key, and archiving it
there after the run; writing export files there (`SftpFiles.destination`).

Every way this can go wrong becomes a `RunFailure` with a code users can act on, worded by `sftp_failures`
from the exception's class: messages name the server and path, never a library's text or the credential.
The library's exception stays the failure's `__cause__`, which the handler logs for operators.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import posixpath
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from pathlib import Path

import asyncssh

from connect_events import FileRules, SftpLocation
from connect_runner.adapters.sftp_failures import Where, archive_failure, connect_failure, read_failure, write_failure
from connect_runner.adapters.sources import READY_POLL_S, locate
from connect_runner.domain.companions import archived_name
from connect_runner.domain.failures import RunFailure
from connect_runner.domain.feed_manifest import (
    FeedFile,
    FetchedDelivery,
    Granularity,
    Manifest,
    fin_files,
    identity,
    parse_manifest,
    ready_deliveries,
)
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
from connect_runtime.vault import Credential

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 30.0
# A server (or a network path) that goes silent mid-transfer is given up after about a minute (15 s × 4)
# instead of leaving the download waiting for bytes that never come.
KEEPALIVE_INTERVAL_S = 15.0
KEEPALIVE_COUNT_MAX = 4
HASH_CHUNK_BYTES = 1 << 20


class SftpFiles:
    """Fetches source files over SFTP with asyncssh, and archives them on their server."""

    def __init__(self, connect_timeout_s: float = CONNECT_TIMEOUT_S, ready_poll_s: float = READY_POLL_S) -> None:
        self._connect_timeout_s = connect_timeout_s
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
        """Find the file on the server (waiting for its ready file, reading its count file, as `rules` ask) and
        download it into `work_dir` (named after `stem`); one session does it all."""
        location, credential = _external(source)
        where = Where.of(location, pattern.path)
        try:
            async with _session(location, credential, self._connect_timeout_s, where) as sftp:
                found = await locate(_Remote(sftp, where), pattern, rules, self._ready_poll_s, checkpoint)
                where = replace(where, path=found.path)
                local = work_dir / local_name(stem, found.path)
                stamp = _stamp(await sftp.lstat(found.path))
                await sftp.get(found.path, local, progress_handler=lambda _s, _d, done, total: progress(done, total))
            # The copy is hashed where it lies (it is still in the page cache) rather than on the way in:
            # `get` keeps several requests in flight, which reading the file through a handle would not.
            size, sha256 = await asyncio.to_thread(_digest, local)
        except (OSError, asyncssh.Error) as exc:
            raise read_failure(exc, where) from exc
        progress(size, size)
        return FetchedFile(local, found.path, size, sha256, found.expected_rows, found.companions, stamp)

    async def archive(self, source: Source, fetched: FetchedFile, folder: str, prefix: str, *, move: bool) -> str:
        """Move or copy the file and its companions into `folder` on the server (created when missing), each
        named `prefix` + its own name, replacing a file of that name; a copy of the data file is uploaded from
        the run's download, or copied on the server when the run has none (a step finished after its runner
        died). Nothing moves, nor is copied from the server, when the data file changed since the run read it
        (a newer delivery under the same name, whose companions may be there too)."""
        location, credential = _external(source)
        where = Where.of(location, fetched.remote_path)
        try:
            async with _session(location, credential, self._connect_timeout_s, where) as sftp:
                if (move or not fetched.downloaded) and _stamp(await sftp.lstat(fetched.remote_path)) != fetched.stamp:
                    raise changed_since_read(fetched.remote_path)
                await sftp.makedirs(folder, exist_ok=True)
                for path in (fetched.remote_path, *fetched.companions):
                    where = replace(where, path=path)
                    target = archived_name(folder, prefix, path)
                    if move:
                        await _rename(sftp, path, target)
                    elif path == fetched.remote_path and fetched.downloaded:
                        await sftp.put(fetched.local_path, target)
                    else:
                        await sftp.copy(path, target)
        except (OSError, asyncssh.Error) as exc:
            raise archive_failure(exc, where, folder, move=move) from exc
        return archived_name(folder, prefix, fetched.remote_path)

    async def fetch_delivery(
        self,
        source: Source,
        folder: str,
        rsid: str,
        granularity: Granularity,
        processed: Mapping[str, str],
        work_dir: Path,
    ) -> FetchedDelivery | None:
        """The oldest complete analytics feed delivery in `folder` not processed yet (`processed`: delivery key →
        identity; a key processed with another manifest is a new version), downloaded into its own folder under
        `work_dir` with the files it lists (a `.fin` delivery: those its naming convention finds); None when
        every complete delivery was processed. Files are checked against the manifest by the caller."""
        location, credential = _external(source)
        where = Where.of(location, folder)
        try:
            async with _session(location, credential, self._connect_timeout_s, where) as sftp:
                names = sorted(str(n) for n in await sftp.listdir(folder))
                for delivery in ready_deliveries(names, rsid, granularity):
                    local = work_dir / delivery.key
                    local.mkdir(parents=True, exist_ok=True)
                    manifest: Manifest | None = None
                    if delivery.has_manifest:
                        where = replace(where, path=posixpath.join(folder, delivery.marker))
                        await sftp.get(where.path, local / delivery.marker)
                        text = (local / delivery.marker).read_bytes().decode("utf-8", "surrogateescape")
                        if processed.get(delivery.key) == identity(text):
                            continue
                        manifest = parse_manifest(text, delivery.marker)
                        lookups = [f.name for f in manifest.lookup_files]
                        parts = list(manifest.data_files)
                    else:
                        lookups, names_of_parts = fin_files(names, delivery)
                        sizes = {n: (await sftp.stat(posixpath.join(folder, n))).size or 0 for n in lookups}
                        parts = [
                            FeedFile(n, "", (await sftp.stat(posixpath.join(folder, n))).size or 0, None)
                            for n in names_of_parts
                        ]
                        sizes |= {part.name: part.size for part in parts}
                        text = "\n".join(f"{n}\t{size}" for n, size in sizes.items())
                        if processed.get(delivery.key) == identity(text):
                            continue
                    for name in (*lookups, *(part.name for part in parts)):
                        if name in names:  # one listed but missing is named by the verification that follows
                            where = replace(where, path=posixpath.join(folder, name))
                            await sftp.get(where.path, local / name)
                    version, replaces = identity(text), delivery.key in processed
                    return FetchedDelivery(delivery, manifest, version, local, tuple(lookups), tuple(parts), replaces)
        except (OSError, asyncssh.Error) as exc:
            raise read_failure(exc, where) from exc
        return None

    @contextlib.asynccontextmanager
    async def destination(self, source: Source, path: str) -> AsyncIterator[Destination]:
        """One session writing files on the server (see `ports.Destination`)."""
        location, credential = _external(source)
        where = Where.of(location, path)
        async with _session(location, credential, self._connect_timeout_s, where) as sftp:
            yield _RemoteFolder(sftp, where)


class _RemoteFolder:
    """The server as an export writes to it; a failure names the path it was about."""

    def __init__(self, sftp: asyncssh.SFTPClient, where: Where) -> None:
        self._sftp = sftp
        self._where = where

    async def create(self, path: str) -> Sink:
        where = replace(self._where, path=path)
        try:
            return _RemoteFile(await self._sftp.open(path, "wb"), where)
        except (OSError, asyncssh.Error) as exc:
            raise write_failure(exc, where) from exc

    async def rename(self, path: str, target: str) -> None:
        try:
            await _rename(self._sftp, path, target)
        except (OSError, asyncssh.Error) as exc:
            raise write_failure(exc, replace(self._where, path=target)) from exc

    async def remove(self, path: str) -> None:
        try:
            await self._sftp.remove(path)
        except asyncssh.SFTPNoSuchFile:
            return
        except (OSError, asyncssh.Error) as exc:
            raise write_failure(exc, replace(self._where, path=path)) from exc


class _RemoteFile:
    """A file being written on the server: each write is sent in parallel requests of asyncssh's block size."""

    def __init__(self, file: asyncssh.SFTPClientFile, where: Where) -> None:
        self._file = file
        self._where = where

    async def write(self, data: bytes) -> None:
        try:
            await self._file.write(data)
        except (OSError, asyncssh.Error) as exc:
            raise write_failure(exc, self._where) from exc

    async def close(self) -> None:
        try:
            await self._file.close()
        except (OSError, asyncssh.Error) as exc:
            raise write_failure(exc, self._where) from exc


def _stamp(attrs: asyncssh.SFTPAttrs) -> tuple[int, ...]:
    """What tells this version of a remote file from another stored under its name later (SFTP gives no inode;
    its modification time is in seconds, so the size must differ for a change within the same second)."""
    return (attrs.size or 0, attrs.mtime or 0, attrs.mtime_ns or 0)


def _external(source: Source) -> tuple[SftpLocation, Credential]:
    if not isinstance(source.location, SftpLocation) or source.credential is None:
        raise RunFailure("INTERNAL", "the runner was given an external server without its credential")
    return source.location, source.credential


class _Remote:
    """The server's files as `locate` looks at them; a failure names the path it was about."""

    def __init__(self, sftp: asyncssh.SFTPClient, where: Where) -> None:
        self._sftp = sftp
        self._where = where

    async def find(self, pattern: FilePattern, skip: Callable[[str], bool]) -> str | None:
        try:
            return await _resolve(self._sftp, pattern, skip)
        except (OSError, asyncssh.Error) as exc:
            raise read_failure(exc, replace(self._where, path=pattern.path)) from exc

    async def is_file(self, path: str) -> bool:
        try:
            return await self._sftp.isfile(path)
        except (OSError, asyncssh.Error) as exc:
            raise read_failure(exc, replace(self._where, path=path)) from exc

    async def head(self, path: str, limit: int) -> bytes:
        try:
            async with self._sftp.open(path, "rb") as file:
                data = await file.read(limit + 1)
        except (OSError, asyncssh.Error) as exc:
            raise read_failure(exc, replace(self._where, path=path)) from exc
        return data if isinstance(data, bytes) else data.encode()


async def _rename(sftp: asyncssh.SFTPClient, path: str, target: str) -> None:
    """Rename over an existing target: OpenSSH's POSIX rename, or remove-then-rename where it is missing."""
    try:
        await sftp.posix_rename(path, target)
    except asyncssh.SFTPOpUnsupported:
        with contextlib.suppress(asyncssh.SFTPNoSuchFile):
            await sftp.remove(target)
        await sftp.rename(path, target)


def _digest(path: Path) -> tuple[int, str]:
    """The size and SHA-256 hex digest of a local file."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


@contextlib.asynccontextmanager
async def _session(
    location: SftpLocation, credential: Credential, timeout_s: float, where: Where
) -> AsyncIterator[asyncssh.SFTPClient]:
    """An SFTP session; failures to open it become `RunFailure`s here, those while using it in the caller."""
    options = _options(location, credential, timeout_s)
    try:
        conn = await asyncssh.connect(**options)
    except asyncssh.HostKeyNotVerifiable as exc:
        raise RunFailure("HOST_KEY_MISMATCH", _mismatch(location)) from exc
    except (OSError, asyncssh.Error, UnicodeError) as exc:
        raise connect_failure(exc, where) from exc
    async with conn:
        try:
            sftp = await conn.start_sftp_client()
        except (OSError, asyncssh.Error) as exc:
            raise connect_failure(exc, where) from exc
        async with sftp:
            yield sftp


def _mismatch(location: SftpLocation) -> str:
    return (
        f"the host key of {location.host}:{location.port} does not match the pinned key "
        f"({location.host_key_fingerprint}); if the server's key was changed on purpose, save the job again"
    )


def _options(location: SftpLocation, credential: Credential, timeout_s: float) -> dict[str, object]:
    """Connection options that trust only the pinned key and read nothing from ~/.ssh or an agent."""
    try:
        host_key = asyncssh.import_public_key(_key_line(location.host_key))
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise RunFailure("HOST_KEY_MISMATCH", "the pinned host key is not a valid OpenSSH public key") from exc
    options: dict[str, object] = {
        "host": location.host,
        "port": location.port,
        "username": location.user,
        "known_hosts": ([host_key], [], []),
        "config": [],
        "agent_path": None,
        "connect_timeout": timeout_s,
        "login_timeout": timeout_s,
        "keepalive_interval": KEEPALIVE_INTERVAL_S,
        "keepalive_count_max": KEEPALIVE_COUNT_MAX,
    }
    if credential.kind == "password":
        return {**options, "password": credential.secret, "client_keys": None, "preferred_auth": "password"}
    try:
        key = asyncssh.import_private_key(credential.secret)
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise RunFailure("AUTH_FAILED", "the stored private key cannot be read") from exc
    return {**options, "client_keys": [key], "password": None, "preferred_auth": "publickey"}


async def _resolve(sftp: asyncssh.SFTPClient, pattern: FilePattern, skip: Callable[[str], bool]) -> str | None:
    """The remote path to download: the file itself, or the oldest match of a `*` pattern; None when none."""
    if not pattern.is_wildcard:
        return pattern.path if await sftp.isfile(pattern.path) else None
    entries = await sftp.readdir(pattern.folder or ".")
    files = [
        (e.filename, float(e.attrs.mtime or 0))
        for e in entries
        if e.attrs.type == asyncssh.FILEXFER_TYPE_REGULAR and isinstance(e.filename, str) and not skip(e.filename)
    ]
    name = oldest(pattern, files)
    if name is None:
        return None
    return posixpath.join(pattern.folder, name) if pattern.folder else name


KEY_TYPE_PREFIXES = ("ssh-", "ecdsa-", "sk-")


def _key_line(pinned: str) -> str:
    """The key itself, also when the pinned line was copied from known_hosts (`host[,host] type key`)."""
    fields = pinned.strip().split()
    if len(fields) >= 3 and not fields[0].startswith(KEY_TYPE_PREFIXES):
        fields = fields[1:]
    return " ".join(fields)
