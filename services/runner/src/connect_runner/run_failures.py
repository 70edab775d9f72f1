"""How a failed attempt is told: to users in the runner's own words (`describe_failure`), to operators with the
libraries' account where it cannot give the credential away (`log_cause`); and the run's time limit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import asyncpg

from connect_events import FailureCode, RunRequested
from connect_runner.adapters.db_failures import connection_lost, database_failure
from connect_runner.domain.failures import RunFailure
from connect_runner.domain.redaction import exception_outline, type_name, withhold
from connect_runner.progress import Tracker
from connect_runtime.vault import Credential

log = logging.getLogger(__name__)

UNEXPECTED = "an unexpected error in the runner stopped the run; its log has the details (run {run})"


def describe_failure(exc: Exception, request: RunRequested) -> RunFailure:
    """What a failure means for the run, worded from its kind alone: the runner's own `RunFailure`s as they
    are, database errors by SQLSTATE, anything else as unexpected. No exception's text is passed on, so none
    can carry the credential (or a server's message quoting data) into `RunFailed.error`. Transient are only
    what the mappings say (a refused or lost connection, a server unavailable); an unexpected error is not."""
    if isinstance(exc, RunFailure):
        return exc
    if isinstance(exc, asyncpg.PostgresError):
        return database_failure(exc, request.payload.table.name)
    # asyncpg's plain InterfaceError is a connection that closed under the run; its subclasses (a wrong argument
    # type, a client configuration or feature error) are runner bugs and must read as unexpected, outline logged.
    if type(exc) is asyncpg.InterfaceError or isinstance(exc, ConnectionError):
        return connection_lost()
    return RunFailure("INTERNAL", UNEXPECTED.format(run=request.aggregate_id))


class Secrets:
    """The run's credential once read, kept to withhold log texts the runner did not write itself."""

    def __init__(self) -> None:
        self._secrets: list[str] = []

    def keep(self, credential: Credential) -> Credential:
        self._secrets.append(credential.secret)
        return credential

    def withhold(self, text: str) -> str:
        return withhold(text, self._secrets)


def log_cause(exc: Exception, failure: RunFailure, request: RunRequested, secrets: Secrets) -> None:
    """For operators: what went wrong in the libraries' words (withheld whole where it might give the credential
    away), and for an unexpected error where it happened."""
    cause = exc.__cause__ if isinstance(exc, RunFailure) else exc
    if cause is None:
        return  # the runner's own account says it all (`run failed` is logged with it)
    details = {
        "run": request.aggregate_id,
        "code": failure.code,
        "error_type": type_name(cause),
        "detail": _detail(cause, secrets),
    }
    if isinstance(exc, RunFailure):
        log.info("cause of the run's failure", extra=details)
    elif failure.code != "INTERNAL":
        log.warning("load failed", extra={**details, "sqlstate": getattr(exc, "sqlstate", None)})
    else:
        log.error("run failed unexpectedly", extra={**details, "traceback": exception_outline(exc)})


def _detail(cause: BaseException, secrets: Secrets) -> str:
    """A library's message for the log: PostgreSQL's as it is (the server never saw the credential), any
    other's withheld once a credential was read, whatever it says (withholding only the messages that contain
    the credential would tell which ones do)."""
    if isinstance(cause, asyncpg.PostgresError):
        return str(cause)
    return secrets.withhold(str(cause))


@contextlib.asynccontextmanager
async def time_limit(seconds: float, tracker: Tracker) -> AsyncIterator[None]:
    """Fail the run once it has taken `seconds`: a server that stops answering, or a load stuck behind some
    other lock, must not hold the run (and its partition) forever. Cleanup and the failure itself run after.
    Not transient: an attempt that took this long would take as long again, and retrying it would multiply the
    bound (a server that went silent is noticed sooner, by the SSH keepalives, as a lost connection)."""
    limit = asyncio.timeout(seconds)
    try:
        async with limit:
            yield
    except TimeoutError as exc:
        if not limit.expired():  # a timeout of some step inside, not the run's own
            raise
        code: FailureCode = "CONNECTION_FAILED" if tracker.snapshot.stage == "transfer" else "LOAD_FAILED"
        raise RunFailure(code, f"the run exceeded its time limit of {seconds:g} s") from exc
