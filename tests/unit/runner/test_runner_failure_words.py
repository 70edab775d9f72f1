"""Run errors are the runner's own sentences and the job's public settings, whatever the libraries said.

The property behind each test: map a library exception whose message holds a secret (or anything else) and
the same exception with other words, and the run error is the same text; so a secret can only appear in it
where the job's public settings (host, port, user, path, table) or our own words happen to hold it.
"""

from __future__ import annotations

import csv
import errno
import socket
import zipfile
import zlib
from collections.abc import Callable

import asyncpg
import asyncssh
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from connect_runner.adapters.db_failures import database_failure
from connect_runner.adapters.file_failures import read_failure as file_failure
from connect_runner.adapters.sftp_failures import Where, connect_failure, read_failure
from connect_runner.domain.failures import RunFailure
from connect_runner.run_failures import describe_failure
from tests.unit.runner.runner_builders import location, run_request

WHERE = Where(host="127.0.0.1", port=43639, user="root", path="/in/people.csv")
REQUEST = run_request(42, 7, source=location("/in/people.csv", host="127.0.0.1", port=43639, user="root"))

Make = Callable[[str], BaseException]

SSH_ERRORS: list[Make] = [
    asyncssh.PermissionDenied,
    asyncssh.IllegalUserName,
    asyncssh.KeyExchangeFailed,
    asyncssh.ProtocolError,
    asyncssh.ConnectionLost,
    lambda m: asyncssh.DisconnectError(12, m),
    lambda m: asyncssh.ChannelOpenError(2, m),
    asyncssh.SFTPNoSuchFile,
    asyncssh.SFTPPermissionDenied,
    asyncssh.SFTPFailure,
    asyncssh.SFTPConnectionLost,
    lambda m: asyncssh.SFTPError(99, m),
    TimeoutError,
    lambda m: socket.gaierror(socket.EAI_NONAME, m),
    lambda m: ConnectionRefusedError(errno.ECONNREFUSED, m),
    lambda m: ConnectionResetError(errno.ECONNRESET, m),
    lambda m: OSError(errno.EHOSTUNREACH, m),
    lambda m: OSError(errno.ENOSPC, m),
    OSError,
    lambda m: UnicodeError(f"encoding with 'idna' codec failed ({m})"),
]
POSTGRES_ERRORS = sorted(
    {
        cls
        for cls in vars(asyncpg.exceptions).values()
        if isinstance(cls, type) and issubclass(cls, asyncpg.PostgresError)
    },
    key=lambda cls: cls.__name__,
)
FILE_ERRORS: list[Make] = [
    csv.Error,
    lambda m: csv.Error(f"field larger than field limit ({m})"),
    zipfile.BadZipFile,
    EOFError,
    zlib.error,
    OSError,
    lambda m: UnicodeDecodeError("utf-8", m.encode(), 0, 1, m),
]
OTHER_ERRORS: list[Make] = [
    ValueError,
    KeyError,
    RuntimeError,
    asyncpg.InterfaceError,
    lambda m: asyncpg.exceptions.CharacterNotInRepertoireError(f'invalid byte sequence for encoding "UTF8": {m}'),
    asyncpg.exceptions.UndefinedTableError,
    UnicodeError,
]

SECRETS = st.text(min_size=1, max_size=30)
PLAIN = "nothing to see here"


def _same_words(map_: Callable[[BaseException], RunFailure], make: Make, secret: str) -> None:
    with_secret = map_(make(f"password {secret!r} rejected: {secret}"))
    without = map_(make(PLAIN))
    assert (with_secret.code, with_secret.message) == (without.code, without.message)
    assume(secret not in without.message)  # our words or the public settings may hold a short one by chance
    assert secret not in with_secret.message


@settings(max_examples=300)
@given(make=st.sampled_from(SSH_ERRORS), secret=SECRETS)
def test_sftp_failures_never_pass_on_a_librarys_words(make: Make, secret: str) -> None:
    _same_words(lambda exc: connect_failure(exc, WHERE), make, secret)
    _same_words(lambda exc: read_failure(exc, WHERE), make, secret)


@settings(max_examples=500)
@given(cls=st.sampled_from(POSTGRES_ERRORS), secret=SECRETS)
def test_database_failures_never_pass_on_the_servers_words(cls: type[asyncpg.PostgresError], secret: str) -> None:
    _same_words(lambda exc: database_failure(exc, "people"), cls, secret)  # type: ignore[arg-type]


def test_every_postgres_error_class_is_worded_without_the_servers_message() -> None:
    message = 'invalid byte sequence for encoding "UTF8": 0x00 near hunter2'
    for cls in POSTGRES_ERRORS:
        failure = database_failure(cls(message), "people")
        assert failure.message == database_failure(cls(PLAIN), "people").message
        assert "UTF8" not in failure.message and "hunter2" not in failure.message, cls


@settings(max_examples=200)
@given(make=st.sampled_from(FILE_ERRORS), secret=SECRETS)
def test_file_failures_never_pass_on_a_librarys_words(make: Make, secret: str) -> None:
    def mapped(exc: BaseException) -> RunFailure:
        failure = file_failure(exc, "/in/people.csv.gz", 7)
        assert failure is not None
        return failure

    _same_words(mapped, make, secret)


@settings(max_examples=300)
@given(make=st.sampled_from(OTHER_ERRORS + SSH_ERRORS + FILE_ERRORS), secret=SECRETS)
def test_any_failure_of_a_run_is_told_without_its_exceptions_words(make: Make, secret: str) -> None:
    _same_words(lambda exc: describe_failure(exc, REQUEST), make, secret)  # type: ignore[arg-type]


def test_the_sentences_name_the_public_settings_intact() -> None:
    # A password `0.0` used to turn this into `root@127.[redacted].1:43639 refused the stored credential`.
    assert connect_failure(asyncssh.PermissionDenied("0.0"), WHERE).message == (
        "root@127.0.0.1:43639 refused the stored credential"
    )
    assert connect_failure(UnicodeError("encoding with 'idna' codec failed"), Where("a..b", 22, "u", "/x")).message == (
        "cannot connect to u@a..b:22: 'a..b' is not a valid host name"
    )
    assert read_failure(asyncssh.SFTPError(31, "whatever"), WHERE).message == (
        "cannot read '/in/people.csv' on root@127.0.0.1:43639: the server reported an error (SFTP status 31)"
    )


@pytest.mark.parametrize(
    ("exc", "code", "message"),
    [
        (
            asyncpg.exceptions.CharacterNotInRepertoireError('invalid byte sequence for encoding "UTF8": 0x00'),
            "LOAD_FAILED",
            "the file holds characters the database cannot store",
        ),
        (
            asyncpg.exceptions.UndefinedTableError('relation "custom.people" does not exist'),
            "TARGET_MISSING",
            "the table 'people' was dropped or renamed while the run was loading it",
        ),
        (
            asyncpg.exceptions.CheckViolationError("new row violates check constraint"),
            "LOAD_FAILED",
            "the table 'people' refused rows: it has a constraint the table's definition in Connect does not know",
        ),
        (
            asyncpg.exceptions.DeadlockDetectedError("deadlock"),
            "LOAD_FAILED",
            "the load conflicted with another transaction writing to 'people'; running the job again should work",
        ),
        (asyncpg.PostgresError("no state"), "LOAD_FAILED", "the database refused the load"),
        (
            asyncpg.InterfaceError("connection is closed"),
            "LOAD_FAILED",
            "the runner lost its connection to the database",
        ),
        (
            KeyError("secret"),
            "INTERNAL",
            "an unexpected error in the runner stopped the run; its log has the details (run 42.7)",
        ),
        (RunFailure("BAD_HEADER", "as the runner said"), "BAD_HEADER", "as the runner said"),
    ],
)
def test_failures_in_plain_words(exc: Exception, code: str, message: str) -> None:
    failure = describe_failure(exc, REQUEST)
    assert (failure.code, failure.message) == (code, message)


def test_a_client_side_database_error_is_a_runner_bug_not_a_lost_connection() -> None:
    bug = asyncpg.exceptions._base.DataError("invalid input for query argument $1")
    assert describe_failure(bug, REQUEST).code == "INTERNAL"
    assert describe_failure(asyncpg.InterfaceError("connection is closed"), REQUEST).code == "LOAD_FAILED"
