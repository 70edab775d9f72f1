"""Failures that end a run with a machine code and a message in plain words."""

from __future__ import annotations

from connect_events import FailureCode


class RunFailure(Exception):
    """The run cannot succeed; `message` is shown to users, so it is built from the runner's own words and the
    job's public settings only (host, port, user, path, file and table names), never from an exception's
    text: then no secret, server message or Python text can get into it, and nothing needs scrubbing."""

    def __init__(self, code: FailureCode, message: str) -> None:
        super().__init__(message)
        self.code: FailureCode = code
        self.message = message
