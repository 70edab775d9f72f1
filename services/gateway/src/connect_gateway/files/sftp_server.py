"""The hosted file server's SFTP endpoint: asyncssh, one account root, logins by registered SSH keys only.

Each login looks the offered key up in the identity database (a removed key, or a disabled user, is refused
from the next login on); there is no password or keyboard-interactive login. Sessions serve the SFTP subsystem
and nothing else: no shell, no command, no scp, no forwarding. Every path a client sends is mapped to the
account's root by `tree.local` (which goes through `hosted_files.resolve`); a refused path is answered with
"permission denied" and our reason. Links cannot be created or read. Viewers may only read.

File I/O runs in worker threads (positional reads and writes, so pipelined requests on one file cannot
interleave), keeping the event loop the REST API shares free.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import stat
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import cast

import asyncssh

from connect_events import Role
from connect_gateway.files import tree
from connect_gateway.files.area import FILE_MODE, FOLDER_MODE
from connect_gateway.files.keys import fingerprint
from connect_gateway.files.ports import SshKeyStore
from connect_gateway.identity import now
from connect_gateway.ports import IdentityUnavailableError
from connect_runtime.hosted_files import PathRefusedError, ensure_account

log = logging.getLogger(__name__)

LOGIN_TIMEOUT_S = 30.0  # a connection that has not logged in by then is closed
READ_ONLY = "your role may only read files"
FIXED = "the root and upload/, download/ and archive/ cannot be removed, renamed or replaced"


class HostedSshServer(asyncssh.SSHServer):
    """One connection's authentication: public keys registered to the user named at login, nothing else."""

    def __init__(self, keys: SshKeyStore, connections: set[asyncssh.SSHServerConnection]) -> None:
        self._keys = keys
        self._connections = connections
        self._connection: asyncssh.SSHServerConnection | None = None
        # The role and key fingerprint each user name offered a registered key for; a client may try several
        # names and keys on one connection, and asyncssh checks the signature of the one that logs in.
        self.offers: dict[str, tuple[Role, str]] = {}

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._connection = conn
        self._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._connection is not None:
            self._connections.discard(self._connection)

    def begin_auth(self, username: str) -> bool:
        return True  # every user must authenticate

    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        """Whether `key` is registered to the enabled user `username` (asyncssh then checks the signature)."""
        offered = fingerprint(key)
        try:
            role = await self._keys.login(username, offered)
        except IdentityUnavailableError as exc:
            log.warning("sftp login: identity database unavailable", extra={"error": str(exc)})
            return False
        if role is None:
            log.info("sftp login refused", extra={"user": username, "fingerprint": offered})
            return False
        self.offers[username] = (role, offered)
        return True

    async def auth_completed(self) -> None:
        """Record the key's use, now that its signature is proved (an offer alone proves nothing)."""
        username = self.username()
        offered = self.offers[username][1]
        log.info("sftp login", extra={"user": username, "fingerprint": offered})
        try:
            await self._keys.record_use(username, offered, now())
        except IdentityUnavailableError as exc:
            log.warning("sftp login: use of the key not recorded", extra={"error": str(exc)})

    def username(self) -> str:
        """Who logged in on this connection."""
        assert self._connection is not None  # set before any authentication
        return cast(str, self._connection.get_extra_info("username"))

    def role(self) -> Role:
        """The role the logged-in user had when the key was checked."""
        return self.offers[self.username()][0]


class HostedSftpServer(asyncssh.SFTPServer):
    """The SFTP session of a logged-in user, confined to the account's root."""

    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], root: Path, role: Role) -> None:
        super().__init__(chan)  # no asyncssh chroot: `map_path` does the confining, through `resolve`
        self._root = root
        self._writable = tree.may_write(role)

    def map_path(self, path: bytes) -> bytes:
        with _refusals():
            return os.fsencode(tree.local(self._root, _text(path)))

    def realpath(self, path: bytes) -> bytes:
        with _refusals():
            virtual = tree.canonical(_text(path))
        self.map_path(virtual.encode())  # refused when the folded path goes through a link
        return virtual.encode()

    async def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        if pflags & (asyncssh.FXF_WRITE | asyncssh.FXF_APPEND | asyncssh.FXF_CREAT | asyncssh.FXF_TRUNC):
            self._check_writable()
        # Files are the owner's only, whatever mode the client asks for.
        mode = asyncssh.SFTPAttrs(permissions=FILE_MODE)
        return await asyncio.to_thread(super().open, path, pflags, mode)

    async def read(self, file_obj: object, offset: int, size: int) -> bytes:
        return await asyncio.to_thread(os.pread, _fd(file_obj), size, offset)

    async def write(self, file_obj: object, offset: int, data: bytes) -> int:
        return await asyncio.to_thread(_write_all, _fd(file_obj), data, offset)

    async def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        for name in await asyncio.to_thread(_names, self.map_path(path)):
            yield name

    def setstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        self._check_writable()
        super().setstat(path, _times_and_size(attrs))

    def lsetstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        self.setstat(path, attrs)  # nothing in the tree is a link, so setting through one changes nothing else

    def fsetstat(self, file_obj: object, attrs: asyncssh.SFTPAttrs) -> None:
        self._check_writable()
        super().fsetstat(file_obj, _times_and_size(attrs))

    def remove(self, path: bytes) -> None:
        self._check_changeable(path)
        super().remove(path)

    def mkdir(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        self._check_writable()
        super().mkdir(path, asyncssh.SFTPAttrs(permissions=FOLDER_MODE))

    def rmdir(self, path: bytes) -> None:
        self._check_changeable(path)
        super().rmdir(path)

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._check_changeable(oldpath, newpath)
        super().rename(oldpath, newpath)

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._check_changeable(oldpath, newpath)
        super().posix_rename(oldpath, newpath)

    def readlink(self, path: bytes) -> bytes:
        raise asyncssh.SFTPOpUnsupported("the file server has no links")

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("the file server does not create links")

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("the file server does not create links")

    def _check_writable(self) -> None:
        if not self._writable:
            raise asyncssh.SFTPPermissionDenied(READ_ONLY)

    def _check_changeable(self, *paths: bytes) -> None:
        self._check_writable()
        with _refusals():
            if any(tree.is_fixed(_text(path)) for path in paths):
                raise asyncssh.SFTPPermissionDenied(FIXED)


def sftp_session(root: Path) -> Callable[[asyncssh.SSHServerChannel[bytes]], HostedSftpServer]:
    """The SFTP factory: a session with the role its user logged in with."""

    def start(chan: asyncssh.SSHServerChannel[bytes]) -> HostedSftpServer:
        owner = chan.get_connection().get_owner()
        assert isinstance(owner, HostedSshServer)  # `serving` builds every connection with one
        return HostedSftpServer(chan, root, owner.role())

    return start


def load_host_key(path: Path, root: Path) -> asyncssh.SSHKey:
    """The server's private host key; an Ed25519 key is created (owner-only) when the file does not exist.

    Refused inside `root`, where users could download it.
    """
    if path.resolve().is_relative_to(root.resolve()):
        raise ValueError("the SFTP host key must be kept outside the file server's root")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return asyncssh.read_private_key(path)
    key = asyncssh.generate_private_key("ssh-ed25519")
    with os.fdopen(fd, "wb") as out:
        out.write(key.export_private_key("openssh"))
    log.info("sftp host key created", extra={"path": str(path), "fingerprint": key.get_fingerprint("sha256")})
    return key


@asynccontextmanager
async def serving(
    keys: SshKeyStore, root: Path, host: str, port: int, host_key_path: Path
) -> AsyncIterator[asyncssh.SSHAcceptor]:
    """Listen on `host:port` (0: any free port, see `get_port()`) until the context ends, then close every
    connection."""
    host_key = await asyncio.to_thread(load_host_key, host_key_path, root)
    await asyncio.to_thread(ensure_account, root)
    connections: set[asyncssh.SSHServerConnection] = set()
    acceptor = await asyncssh.listen(
        host,
        port,
        server_factory=lambda: HostedSshServer(keys, connections),
        server_host_keys=[host_key],
        sftp_factory=sftp_session(root),
        sftp_version=3,
        allow_scp=False,
        agent_forwarding=False,
        x11_forwarding=False,
        login_timeout=LOGIN_TIMEOUT_S,
    )
    log.info("sftp server listening", extra={"host": host, "port": acceptor.get_port()})
    try:
        yield acceptor
    finally:
        acceptor.close()
        await acceptor.wait_closed()
        for conn in list(connections):
            conn.close()
        await asyncio.gather(*(conn.wait_closed() for conn in list(connections)), return_exceptions=True)


def _text(path: bytes) -> str:
    try:
        return path.decode("utf-8")
    except UnicodeDecodeError:
        raise asyncssh.SFTPNoSuchFile("the path is not UTF-8 text") from None


@contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except PathRefusedError as exc:
        raise asyncssh.SFTPPermissionDenied(str(exc)) from None


def _fd(file_obj: object) -> int:
    assert isinstance(file_obj, io.FileIO)  # what `SFTPServer.open` returns (unbuffered)
    return file_obj.fileno()


def _write_all(fd: int, data: bytes, offset: int) -> int:
    done = 0
    while done < len(data):
        done += os.pwrite(fd, data[done:], offset + done)
    return done


def _names(local: bytes) -> list[asyncssh.SFTPName]:
    """A folder's files and folders, as SFTP names; uploads in progress and links left out."""
    names: list[asyncssh.SFTPName] = []
    with os.scandir(local) as entries:
        for item in entries:
            info = item.stat(follow_symlinks=False)
            if tree.is_temporary(os.fsdecode(item.name)) or not (
                stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)
            ):
                continue
            names.append(asyncssh.SFTPName(os.fsencode(item.name), attrs=asyncssh.SFTPAttrs.from_local(info)))
    return names


def _times_and_size(attrs: asyncssh.SFTPAttrs) -> asyncssh.SFTPAttrs:
    """What a client may set: times and size. Modes and owners are the server's (`put -p` still works)."""
    kept = asyncssh.SFTPAttrs()
    for name in ("size", "atime", "atime_ns", "mtime", "mtime_ns"):
        setattr(kept, name, getattr(attrs, name))
    return kept
