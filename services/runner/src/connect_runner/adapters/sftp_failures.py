"""What can go wrong fetching a file over SFTP (or archiving it there, or writing an export), in the runner's own
words.

asyncssh, the socket layer and the server describe problems in their own text, which is not ours to pass on:
it may quote what it was given. So each kind of problem, told apart by the exception's class (and a number
such as an errno, never its text), maps to a fixed sentence that names only the job's public settings: the
server as `user@host:port` and the path. A problem this table does not know is reported in general words.

Each rule also says whether the failure is transient (`RunFailure.transient`: the job's retry policy may try
again): a connection that is refused, reset, lost or unanswered, a network that cannot reach the host, a name
server that cannot answer now. A refused login, a host key, a server that is not SFTP, a missing or unreadable
file, and the runner's own disk are not: another attempt would meet them again.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import asyncssh

from connect_events import FailureCode, SftpLocation
from connect_runner.domain.failures import RunFailure


@dataclass(frozen=True)
class Where:
    """The public settings a sentence may name."""

    host: str
    port: int
    user: str
    path: str

    @classmethod
    def of(cls, location: SftpLocation, path: str) -> Where:
        """`path`: the file asked for (date tokens rendered), not necessarily the job's pattern."""
        return cls(host=location.host, port=location.port, user=location.user, path=path)

    @property
    def server(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    def words(self) -> Mapping[str, object]:
        return {"server": self.server, "host": self.host, "port": self.port, "user": self.user, "path": self.path}


class Rule(NamedTuple):
    """Exceptions of these types fail the attempt with this code and sentence."""

    types: tuple[type[BaseException], ...]
    code: FailureCode
    sentence: str
    transient: bool = False

    def failure(self, words: Mapping[str, object], *, transient: bool = False) -> RunFailure:
        """The failure, transient when the rule or the caller says so."""
        return RunFailure(self.code, self.sentence.format_map(words), transient=self.transient or transient)


# Before the session is up: the connection, the key exchange, the login and starting SFTP. First match wins.
CONNECT_RULES: tuple[Rule, ...] = (
    Rule((asyncssh.PermissionDenied,), "AUTH_FAILED", "{server} refused the stored credential"),
    Rule((asyncssh.IllegalUserName,), "AUTH_FAILED", "{server} does not accept the user name '{user}'"),
    Rule(
        (asyncssh.KeyExchangeFailed, asyncssh.ProtocolNotSupported, asyncssh.CompressionError),
        "CONNECTION_FAILED",
        "cannot connect to {server}: the server and the runner have no SSH algorithm or version in common",
    ),
    Rule(
        (asyncssh.ProtocolError, asyncssh.MACError),
        "CONNECTION_FAILED",
        "cannot connect to {server}: the server does not speak SSH as expected (is it an SSH server?)",
    ),
    Rule(
        (asyncssh.ChannelOpenError, asyncssh.SFTPError, asyncssh.ServiceNotAvailable),
        "CONNECTION_FAILED",
        "cannot connect to {server}: the server accepted the login but did not start an SFTP session",
    ),
    # A server that is starting, restarting or full (sshd's MaxStartups) closes connections before the login.
    Rule(
        (asyncssh.ConnectionLost, asyncssh.DisconnectError),
        "CONNECTION_FAILED",
        "cannot connect to {server}: the server closed the connection before the login completed",
        transient=True,
    ),
    Rule(
        (TimeoutError,),
        "CONNECTION_FAILED",
        "cannot connect to {server}: the server did not answer in time",
        transient=True,
    ),
    Rule(
        (socket.gaierror,),
        "CONNECTION_FAILED",
        "cannot connect to {server}: the host name '{host}' cannot be resolved",
    ),
    Rule(
        (ConnectionRefusedError,),
        "CONNECTION_FAILED",
        "cannot connect to {server}: the server refused the connection (nothing listens on port {port})",
        transient=True,
    ),
    Rule(
        (ConnectionError,),
        "CONNECTION_FAILED",
        "cannot connect to {server}: the connection was reset",
        transient=True,
    ),
    # Host names are encoded with the `idna` codec on the way to the resolver.
    Rule((UnicodeError,), "CONNECTION_FAILED", "cannot connect to {server}: '{host}' is not a valid host name"),
)
# A network-level failure an errno tells more precisely (`OSError` that is none of the classes above).
CONNECT_ERRNOS: Mapping[int, str] = {
    errno.EHOSTUNREACH: "cannot connect to {server}: the host cannot be reached from the runner's network",
    errno.ENETUNREACH: "cannot connect to {server}: the host cannot be reached from the runner's network",
    errno.EADDRNOTAVAIL: "cannot connect to {server}: the address cannot be used from the runner's network",
}
CONNECT_FALLBACK = "cannot connect to {server}: the connection failed"
# The resolver's "try again later": its server did not answer (a name it does not know is no such failure).
NAME_SERVER_BUSY = socket.EAI_AGAIN

# Once the session is up: finding, inspecting and downloading the file.
READ_RULES: tuple[Rule, ...] = (
    Rule((asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath), "FILE_NOT_FOUND", "no file matching '{path}'"),
    Rule(
        (asyncssh.SFTPPermissionDenied,),
        "LOAD_FAILED",
        "cannot read '{path}' on {server}: the server does not let {user} read it",
    ),
    Rule((asyncssh.SFTPFileIsADirectory,), "LOAD_FAILED", "cannot read '{path}' on {server}: it is a folder"),
    Rule(
        (asyncssh.SFTPNotADirectory, asyncssh.SFTPInvalidFilename, asyncssh.SFTPLinkLoop),
        "LOAD_FAILED",
        "cannot read '{path}' on {server}: the server does not accept it as a file path",
    ),
    Rule(
        (asyncssh.SFTPOpUnsupported,),
        "LOAD_FAILED",
        "cannot read '{path}' on {server}: the server does not support an SFTP operation the runner needs",
    ),
    Rule(
        (
            asyncssh.SFTPConnectionLost,
            asyncssh.SFTPNoConnection,
            asyncssh.DisconnectError,
            ConnectionError,
            TimeoutError,
        ),
        "CONNECTION_FAILED",
        "the connection to {server} was lost while reading '{path}'",
        transient=True,
    ),
)
READ_SFTP_FALLBACK = "cannot read '{path}' on {server}: the server reported an error (SFTP status {status})"
# Writing the local copy: the runner's own disk, not the server.
DISK_FULL = "the runner's download folder is full; '{path}' could not be saved"
DISK_FAILED = "the runner could not save '{path}' in its download folder"
READ_FALLBACK = "cannot read '{path}' on {server}: the transfer failed"


# Archiving after the run: moving or copying the file and its companions into the archive folder.
ARCHIVE_RULES: tuple[Rule, ...] = (
    Rule(
        (asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath),
        "LOAD_FAILED",
        "cannot {action} '{path}' to '{folder}' on {server}: the file is no longer there",
    ),
    Rule(
        (asyncssh.SFTPPermissionDenied,),
        "LOAD_FAILED",
        "cannot {action} '{path}' to '{folder}' on {server}: the server does not let {user} write there",
    ),
    Rule(
        (asyncssh.SFTPNotADirectory, asyncssh.SFTPFileIsADirectory, asyncssh.SFTPInvalidFilename),
        "LOAD_FAILED",
        "cannot {action} '{path}' to '{folder}' on {server}: the server does not accept it as a file path",
    ),
    Rule(
        (
            asyncssh.SFTPConnectionLost,
            asyncssh.SFTPNoConnection,
            asyncssh.DisconnectError,
            ConnectionError,
            TimeoutError,
        ),
        "CONNECTION_FAILED",
        "the connection to {server} was lost while archiving '{path}'",
        transient=True,
    ),
)
ARCHIVE_SFTP_FALLBACK = (
    "cannot {action} '{path}' to '{folder}' on {server}: the server reported an error (SFTP status {status})"
)
ARCHIVE_FALLBACK = "cannot {action} '{path}' to '{folder}' on {server}: the transfer failed"


# Writing an export's files: the temporary file, its rename, the count and ready files.
WRITE_RULES: tuple[Rule, ...] = (
    Rule(
        (asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath),
        "WRITE_FAILED",
        "cannot write '{path}' on {server}: its folder is not there",
    ),
    Rule(
        (asyncssh.SFTPPermissionDenied,),
        "WRITE_FAILED",
        "cannot write '{path}' on {server}: the server does not let {user} write there",
    ),
    Rule(
        (asyncssh.SFTPNotADirectory, asyncssh.SFTPFileIsADirectory, asyncssh.SFTPInvalidFilename),
        "WRITE_FAILED",
        "cannot write '{path}' on {server}: the server does not accept it as a file path",
    ),
    Rule(
        (asyncssh.SFTPOpUnsupported,),
        "WRITE_FAILED",
        "cannot write '{path}' on {server}: the server does not support an SFTP operation the runner needs",
    ),
    Rule(
        (
            asyncssh.SFTPConnectionLost,
            asyncssh.SFTPNoConnection,
            asyncssh.DisconnectError,
            ConnectionError,
            TimeoutError,
        ),
        "CONNECTION_FAILED",
        "the connection to {server} was lost while writing '{path}'",
        transient=True,
    ),
)
WRITE_SFTP_FALLBACK = "cannot write '{path}' on {server}: the server reported an error (SFTP status {status})"
WRITE_FALLBACK = "cannot write '{path}' on {server}: the transfer failed"


def connect_failure(exc: BaseException, where: Where) -> RunFailure:
    """A failure to open the SFTP session (host key mismatches are decided before, by the caller)."""
    words = where.words()
    for rule in CONNECT_RULES:
        if isinstance(exc, rule.types):
            return rule.failure(words, transient=_name_server_busy(exc))
    # Any other failure of the network on the way (unreachable, no address) may let another attempt through.
    if not isinstance(exc, OSError):
        return RunFailure("CONNECTION_FAILED", CONNECT_FALLBACK.format_map(words))
    by_errno = CONNECT_ERRNOS.get(exc.errno) if exc.errno is not None else None
    return RunFailure("CONNECTION_FAILED", (by_errno or CONNECT_FALLBACK).format_map(words), transient=True)


def _name_server_busy(exc: BaseException) -> bool:
    return isinstance(exc, socket.gaierror) and exc.errno == NAME_SERVER_BUSY


def read_failure(exc: BaseException, where: Where) -> RunFailure:
    """A failure once the session is up: the file cannot be found, read, or saved locally."""
    words = where.words()
    for rule in READ_RULES:
        if isinstance(exc, rule.types):
            return rule.failure(words)
    if isinstance(exc, asyncssh.SFTPError):
        return RunFailure("LOAD_FAILED", READ_SFTP_FALLBACK.format_map({**words, "status": int(exc.code)}))
    if isinstance(exc, OSError):
        disk_full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        return RunFailure("INTERNAL", (DISK_FULL if disk_full else DISK_FAILED).format_map(words))
    return RunFailure("LOAD_FAILED", READ_FALLBACK.format_map(words))


def archive_failure(exc: BaseException, where: Where, folder: str, *, move: bool) -> RunFailure:
    """A failure to move (or copy) `where.path` into the archive `folder` once the session is up."""
    words = {**where.words(), "folder": folder, "action": "move" if move else "copy"}
    return _worded(exc, ARCHIVE_RULES, words, "LOAD_FAILED", (ARCHIVE_SFTP_FALLBACK, ARCHIVE_FALLBACK))


def write_failure(exc: BaseException, where: Where) -> RunFailure:
    """A failure to write, rename or remove `where.path` once the session is up."""
    return _worded(exc, WRITE_RULES, where.words(), "WRITE_FAILED", (WRITE_SFTP_FALLBACK, WRITE_FALLBACK))


def _worded(
    exc: BaseException, rules: tuple[Rule, ...], words: Mapping[str, object], code: FailureCode,
    fallbacks: tuple[str, str],
) -> RunFailure:  # fmt: skip
    """The first rule's failure for `exc`; else, with `code`, the SFTP status's sentence or the general one."""
    for rule in rules:
        if isinstance(exc, rule.types):
            return rule.failure(words)
    sftp_fallback, fallback = fallbacks
    if isinstance(exc, asyncssh.SFTPError):
        return RunFailure(code, sftp_fallback.format_map({**words, "status": int(exc.code)}))
    return RunFailure(code, fallback.format_map(words))
