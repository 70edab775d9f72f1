"""Failures that end a run (or, when transient, an attempt) with a machine code and a message in plain words."""

from __future__ import annotations

from connect_events import FailureCode


class RunFailure(Exception):
    """The run cannot succeed; `message` is shown to users, so it is built from the runner's own words and the
    job's public settings only (host, port, user, path, file and table names), never from an exception's
    text: then no secret, server message or Python text can get into it, and nothing needs scrubbing.

    `transient` marks a failure that another attempt may not meet (a refused or lost connection, a server that
    is unavailable for now), which the job's retry policy may try again; never a data error, which would fail
    the same way every time.
    """

    def __init__(self, code: FailureCode, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.code: FailureCode = code
        self.message = message
        self.transient = transient
