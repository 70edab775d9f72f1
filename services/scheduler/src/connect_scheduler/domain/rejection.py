"""Why a command is refused: a code the gateway maps to HTTP, a precise reason, a message, and every field
error at once; and the bounds that keep field errors (refused, or saved with a draft) fit for the bus."""

from __future__ import annotations

from collections.abc import Sequence

from connect_events import FieldError, RefusalReason, RejectionCode

# Errors in a reply or an event stay far below Kafka's 1 MiB record limit, whatever the command held.
MAX_ERRORS = 100
MAX_TEXT = 500


class Rejected(Exception):
    """A command was refused; nothing may be stored except the reply saying so."""

    def __init__(
        self,
        code: RejectionCode,
        message: str,
        errors: Sequence[FieldError] = (),
        reason: RefusalReason | None = None,
    ) -> None:
        super().__init__(message)
        self.code: RejectionCode = code
        self.message = message
        self.errors: tuple[FieldError, ...] = tuple(errors)
        self.reason: RefusalReason | None = reason

    def __repr__(self) -> str:
        fields = f"code={self.code!r}, reason={self.reason!r}, message={self.message!r}, errors={len(self.errors)}"
        return f"Rejected({fields})"


def invalid(message: str, errors: Sequence[FieldError], reason: RefusalReason = "INVALID_VALUE") -> Rejected:
    """A validation rejection (HTTP 422) carrying all field errors; by default a value breaks the rules."""
    return Rejected("validation", message, errors, reason)


def bounded_text(text: str) -> str:
    """`text`, cut to `MAX_TEXT` characters."""
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def bounded_errors(errors: Sequence[FieldError]) -> tuple[FieldError, ...]:
    """At most `MAX_ERRORS` errors of bounded length, the last saying how many more there were.

    A command the bus took must get a reply (and cause events) the bus takes too: listing (and quoting) each of
    a thousand long mapping targets could outgrow Kafka's record limit, and the relay would retry it forever,
    holding up everything behind it.
    """
    kept = [FieldError(field=bounded_text(e.field), message=bounded_text(e.message)) for e in errors[:MAX_ERRORS]]
    if len(errors) > MAX_ERRORS:
        more = len(errors) - MAX_ERRORS + 1
        kept[-1] = FieldError(field=kept[-1].field, message=f"… and {more} more errors")
    return tuple(kept)
