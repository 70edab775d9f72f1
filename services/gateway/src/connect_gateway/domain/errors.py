"""Why the gateway refuses a request: one machine code, a precise reason when there is one, a message and the
failing fields."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

from connect_events import FieldError, RefusalReason, RejectionCode

ErrorCode = Literal[
    "validation_failed",
    "unauthenticated",
    "forbidden",
    "csrf_failed",
    "too_many_requests",
    "not_found",
    "conflict",
    "invalid_state",
    "malformed_request",
    "method_not_allowed",
    "payload_too_large",
    "timeout",
    "unavailable",
    "internal",
]

# The scheduler's rejection codes as the API names them.
REJECTION: dict[RejectionCode, ErrorCode] = {
    "validation": "validation_failed",
    "not_found": "not_found",
    "conflict": "conflict",
    "invalid_state": "invalid_state",
    "malformed": "malformed_request",
    "internal": "internal",
}


class Refusal(Exception):
    """A request the gateway (or the scheduler, through its reply) refused; nothing was stored."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        errors: Iterable[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        reason: RefusalReason | None = None,
    ) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message
        self.errors: tuple[FieldError, ...] = tuple(errors)
        self.headers: dict[str, str] = dict(headers or {})  # WWW-Authenticate, Retry-After
        self.reason: RefusalReason | None = reason


def invalid(field: str, message: str) -> Refusal:
    """A refusal naming one field."""
    return Refusal("validation_failed", f"{field}: {message}", [FieldError(field=field, message=message)])


def not_found(subject: str, reason: RefusalReason) -> Refusal:
    """A refusal saying that `subject` (`job 7`, `run 7.2`) does not exist."""
    return Refusal("not_found", f"{subject} not found", reason=reason)
