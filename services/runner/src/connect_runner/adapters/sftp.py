"""Downloading the source file from an external SFTP server, verifying its pinned host key.

Every way this can go wrong becomes a `RunFailure` with a code users can act on, worded by `sftp_failures`
from the exception's class: messages name the server and path, never a library's text or the credential.
The library's exception stays the failure's `__cause__`, which the handler logs for operators.
"""

from __future__ import annotations

import contextlib
import logging
import posixpath
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import asyncssh

from connect_events import SftpLocation
from connect_runner.adapters.sftp_failures import Where, connect_failure, read_failure
from connect_runner.domain.failures import RunFailure
from connect_runner.domain.file_pattern import FilePattern, oldest
from connect_runtime.vault import Credential

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 30.0
# A server (or a network path) that goes silent mid-transfer is given up after about a minute (15 s × 4)
# instead of leaving the download waiting for bytes that never come.
KEEPALIVE_INTERVAL_S = 15.0
KEEPALIVE_COUNT_MAX = 4
Progress = Callable[[int, int | None], None]  # bytes so far, total bytes when known


@dataclass(frozen=True)
class FetchedFile:
    """A downloaded file: where it is locally, which remote file it was, and its size in bytes."""

    local_path: Path
    remote_path: str
    size: int


class SftpFiles:
    """Fetches source files over SFTP with asyncssh."""

    def __init__(self, connect_timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        self._connect_timeout_s = connect_timeout_s

    async def fetch(
        self,
        location: SftpLocation,
        credential: Credential,
        pattern: FilePattern,
        work_dir: Path,
        stem: str,
        progress: Progress,
    ) -> FetchedFile:
        """Resolve `pattern` on the server and download the file into `work_dir` (named after `stem`)."""
        where = Where.of(location, pattern.path)
        try:
            async with _session(location, credential, self._connect_timeout_s, where) as sftp:
                remote = await _resolve(sftp, pattern)
                where = replace(where, path=remote)
                size = int((await sftp.stat(remote)).size or 0)
                local = work_dir / (stem + _suffix(remote))
                await sftp.get(remote, local, progress_handler=lambda _s, _d, done, total: progress(done, total))
                progress(size, size)
                return FetchedFile(local_path=local, remote_path=remote, size=size)
        except (OSError, asyncssh.Error) as exc:
            raise read_failure(exc, where) from exc


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


async def _resolve(sftp: asyncssh.SFTPClient, pattern: FilePattern) -> str:
    """The remote path to download: the file itself, or the oldest match of a `*` pattern."""
    if not pattern.is_wildcard:
        if not await sftp.isfile(pattern.path):
            raise RunFailure("FILE_NOT_FOUND", f"no file matching '{pattern.path}'")
        return pattern.path
    entries = await sftp.readdir(pattern.folder or ".")
    files = [
        (e.filename, float(e.attrs.mtime or 0))
        for e in entries
        if e.attrs.type == asyncssh.FILEXFER_TYPE_REGULAR and isinstance(e.filename, str)
    ]
    name = oldest(pattern, files)
    if name is None:
        raise RunFailure("FILE_NOT_FOUND", f"no file matching '{pattern.path}'")
    return posixpath.join(pattern.folder, name) if pattern.folder else name


KEY_TYPE_PREFIXES = ("ssh-", "ecdsa-", "sk-")


def _key_line(pinned: str) -> str:
    """The key itself, also when the pinned line was copied from known_hosts (`host[,host] type key`)."""
    fields = pinned.strip().split()
    if len(fields) >= 3 and not fields[0].startswith(KEY_TYPE_PREFIXES):
        fields = fields[1:]
    return " ".join(fields)


def _suffix(remote: str) -> str:
    """Keep the compression suffix so the reader knows how to open the local copy."""
    lowered = remote.lower()
    return next((s for s in (".gz", ".zip") if lowered.endswith(s)), ".csv")
