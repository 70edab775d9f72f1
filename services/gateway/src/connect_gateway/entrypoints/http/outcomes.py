"""What a command's outcome looks like over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from connect_gateway.domain.errors import REJECTION
from connect_gateway.domain.paths import to_request_errors
from connect_gateway.entrypoints.http.errors import error_response
from connect_gateway.entrypoints.http.mapping import command_url
from connect_gateway.entrypoints.http.schemas import ErrorBody, PendingOut
from connect_gateway.handlers import Accepted, Outcome, Pending

_ERROR = {"model": ErrorBody}
# What any route can answer, even one without parameters: documented everywhere, one error shape throughout.
BASIC_RESPONSES: dict[int | str, dict[str, Any]] = {
    405: {
        **_ERROR,
        "description": "The path does not take this method",
        "headers": {"Allow": {"description": "The methods the path takes", "schema": {"type": "string"}}},
    },
    413: {**_ERROR, "description": "The request body is larger than 1 MiB"},
    500: {**_ERROR, "description": "Internal error"},
}
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    **BASIC_RESPONSES,
    422: {**_ERROR, "description": "Malformed request or invalid fields"},
    503: {**_ERROR, "description": "A dependency is unavailable; nothing was stored"},
}
COMMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": PendingOut, "description": "Sent, but not decided in time"},
    404: {**_ERROR, "description": "No such job or table (`reason` JOB_NOT_FOUND, JOB_DELETED)"},
    409: {
        **_ERROR,
        "description": "Conflict or invalid state; `reason` says which, e.g. STALE_VERSION, JOB_RUNNING, "
        "JOB_INACTIVE, JOB_HAS_ERRORS, COPY_REQUIRES_INACTIVE, PARTNER_JOB_NOT_RUNNABLE",
    },
    413: {**_ERROR, "description": "The request (or the command it makes) is too large"},
    504: {**_ERROR, "description": "The message bus did not confirm the command in time"},
}


THROTTLED: dict[int | str, dict[str, Any]] = {
    429: {
        **_ERROR,
        "description": "Too many failed password checks for this account or address",
        "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    }
}


def json_response(body: BaseModel, status: int, location: str | None = None) -> JSONResponse:
    """`body` as JSON, with a `Location` header when given."""
    headers = {"Location": location} if location else None
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def respond(
    outcome: Outcome, renames: Iterable[tuple[str, str]], on_accepted: Callable[[Accepted], JSONResponse]
) -> JSONResponse:
    """202 pending, the rejection as an error (fields named as in the request), or `on_accepted`."""
    if isinstance(outcome, Pending):
        body = PendingOut(command_id=outcome.command_id, status_url=command_url(outcome.command_id))
        return json_response(body, 202)
    if isinstance(outcome, Accepted):
        return on_accepted(outcome)
    errors = to_request_errors(outcome.errors, renames)
    return error_response(REJECTION[outcome.code], outcome.message, errors, reason=outcome.reason)
