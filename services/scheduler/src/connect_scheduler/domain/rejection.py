"""Why a command is refused: a code the gateway maps to HTTP, a message, and every field error at once."""

from __future__ import annotations

from collections.abc import Sequence

from connect_events import FieldError, RejectionCode


class Rejected(Exception):
    """A command was refused; nothing may be stored except the reply saying so."""

    def __init__(self, code: RejectionCode, message: str, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(message)
        self.code: RejectionCode = code
        self.message = message
        self.errors: tuple[FieldError, ...] = tuple(errors)

    def __repr__(self) -> str:
        return f"Rejected(code={self.code!r}, message={self.message!r}, errors={len(self.errors)})"


def invalid(message: str, errors: Sequence[FieldError]) -> Rejected:
    """A validation rejection (HTTP 422) carrying all field errors."""
    return Rejected("validation", message, errors)
