"""Downloading the source file from an external SFTP server, verifying its pinned host key.

Every way this can go wrong becomes a `RunFailure` with a code users can act on. Messages name the server
and path, never the credential.
"""

from __future__ import annotations

import asyncio
import logging
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from connect_events import SftpLocation
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
        where = f"{location.user}@{location.host}:{location.port}"
        try:
            async with (
                asyncssh.connect(**_options(location, credential, self._connect_timeout_s)) as conn,
                conn.start_sftp_client() as sftp,
            ):
                remote = await _resolve(sftp, pattern)
                size = int((await sftp.stat(remote)).size or 0)
                local = work_dir / (stem + _suffix(remote))
                await sftp.get(remote, local, progress_handler=lambda _s, _d, done, total: progress(done, total))
                progress(size, size)
                return FetchedFile(local_path=local, remote_path=remote, size=size)
        except RunFailure:
            raise
        except asyncssh.HostKeyNotVerifiable as exc:
            raise RunFailure(
                "HOST_KEY_MISMATCH",
                f"the host key of {location.host}:{location.port} does not match the pinned key "
                f"({location.host_key_fingerprint}); if the server's key was changed on purpose, save the job again",
            ) from exc
        except asyncssh.PermissionDenied as exc:
            raise RunFailure("AUTH_FAILED", f"{where} refused the stored credential") from exc
        except asyncssh.SFTPNoSuchFile as exc:
            raise RunFailure("FILE_NOT_FOUND", f"no file matching '{pattern.path}'") from exc
        except asyncssh.SFTPError as exc:
            raise RunFailure("LOAD_FAILED", f"cannot read '{pattern.path}' on {where}: {exc.reason}") from exc
        except (OSError, TimeoutError, asyncssh.Error) as exc:
            raise RunFailure("CONNECTION_FAILED", f"cannot connect to {where}: {_describe(exc)}") from exc


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


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
