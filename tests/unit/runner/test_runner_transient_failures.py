"""Which failures the retry policy may try again: a refused, reset, lost or unanswered connection and a server
that is unavailable for now — never a data error, a refused login, a host key, or the runner's own disk."""

from __future__ import annotations

import asyncio
import errno
import socket

import asyncpg
import asyncssh
import pytest

from connect_runner.adapters.db_failures import database_failure
from connect_runner.adapters.sftp_failures import Where, connect_failure, read_failure
from connect_runner.domain.failures import RunFailure
from connect_runner.progress import Tracker
from connect_runner.run_failures import describe_failure, time_limit
from tests.unit.runner.runner_builders import location, run_request

WHERE = Where(host="sftp.example", port=22, user="connect", path="/in/people.csv")
REQUEST = run_request(42, 7, source=location("/in/people.csv"))


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), True),
        (ConnectionResetError(errno.ECONNRESET, "reset"), True),
        (TimeoutError(), True),
        (asyncssh.ConnectionLost("closed"), True),
        (asyncssh.DisconnectError(asyncssh.DISC_TOO_MANY_CONNECTIONS, "too many"), True),
        (OSError(errno.EHOSTUNREACH, "unreachable"), True),
        (OSError(errno.ENETUNREACH, "unreachable"), True),
        (OSError("Multiple exceptions: [Errno 111] ..., [Errno 99] ..."), True),
        (socket.gaierror(socket.EAI_AGAIN, "temporary failure in name resolution"), True),
        (socket.gaierror(socket.EAI_NONAME, "name or service not known"), False),
        (asyncssh.PermissionDenied("denied"), False),
        (asyncssh.IllegalUserName("bad"), False),
        (asyncssh.KeyExchangeFailed("no common algorithm"), False),
        (asyncssh.ProtocolError("not ssh"), False),
        (asyncssh.ChannelOpenError(2, "no sftp"), False),
        (UnicodeError("encoding with 'idna' codec failed"), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_opening_the_session(exc: BaseException, transient: bool) -> None:
    failure = connect_failure(exc, WHERE)
    assert failure.code in {"CONNECTION_FAILED", "AUTH_FAILED"}
    assert failure.transient is transient


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (asyncssh.SFTPConnectionLost("lost"), True),
        (asyncssh.SFTPNoConnection("none"), True),
        (asyncssh.ConnectionLost("lost"), True),
        (ConnectionResetError(errno.ECONNRESET, "reset"), True),
        (TimeoutError(), True),
        (asyncssh.SFTPNoSuchFile("no file"), False),
        (asyncssh.SFTPPermissionDenied("denied"), False),
        (asyncssh.SFTPFailure("failure"), False),
        (OSError(errno.ENOSPC, "disk full"), False),
        (OSError(errno.EACCES, "local folder"), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_reading_the_file(exc: BaseException, transient: bool) -> None:
    assert read_failure(exc, WHERE).transient is transient


UNAVAILABLE = {"57P01", "57P02", "57P03", "53300"}  # shutting down, restarting, not now, out of connections


def test_database_errors_are_transient_only_for_a_lost_connection_or_an_unavailable_server() -> None:
    classes = {
        cls
        for cls in vars(asyncpg.exceptions).values()
        if isinstance(cls, type) and issubclass(cls, asyncpg.PostgresError) and getattr(cls, "sqlstate", None)
    }
    transient = {cls.sqlstate for cls in classes if database_failure(cls("x"), "people").transient}
    lost = {cls.sqlstate for cls in classes if cls.sqlstate.startswith("08")} - {"08P01"}  # not a protocol bug
    assert transient == lost | UNAVAILABLE
    assert {"08003", "08006", "08007"} <= lost
    for data_error in (asyncpg.exceptions.UniqueViolationError, asyncpg.exceptions.CheckViolationError):
        assert not database_failure(data_error("x"), "people").transient
    assert not database_failure(asyncpg.exceptions.UndefinedTableError("x"), "people").transient  # TARGET_MISSING


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (asyncpg.InterfaceError("connection is closed"), True),
        (ConnectionResetError(errno.ECONNRESET, "reset"), True),
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), True),
        (RunFailure("BAD_HEADER", "header"), False),
        (RunFailure("CONNECTION_FAILED", "refused", transient=True), True),
        (asyncpg.exceptions.NotNullViolationError("null"), False),
        (KeyError("bug"), False),
        (asyncpg.exceptions._base.DataError("invalid input for query argument $1"), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_any_failure_of_an_attempt(exc: Exception, transient: bool) -> None:
    assert describe_failure(exc, REQUEST).transient is transient


async def test_the_runs_time_limit_is_not_transient() -> None:
    with pytest.raises(RunFailure) as raised:
        async with time_limit(0.01, Tracker()):
            await asyncio.sleep(1)
    assert (raised.value.code, raised.value.transient) == ("CONNECTION_FAILED", False)
