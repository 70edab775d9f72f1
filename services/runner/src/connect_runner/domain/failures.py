"""Failures that end a run with a machine code and a message in plain words."""

from __future__ import annotations

from connect_events import FailureCode


class RunFailure(Exception):
    """The run cannot succeed; `message` is shown to users, so it never contains a secret."""

    def __init__(self, code: FailureCode, message: str) -> None:
        super().__init__(message)
        self.code: FailureCode = code
        self.message = message
