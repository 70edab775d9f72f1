"""One JSON error shape for every failure, FastAPI's own request validation included.

Under `/rest/api` (the Responsys-compatible surface) the same refusals are rendered in that API's envelope
`{type, title, errorCode, detail, errorDetails}` instead (`domain.compat.problem_of`): one set of handlers,
two renderings chosen by the path. Error messages never echo the submitted values: a request may carry a
private key or a password.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from connect_events import FieldError, RefusalReason
from connect_gateway.domain import compat
from connect_gateway.domain.errors import ErrorCode, Refusal
from connect_gateway.entrypoints.http.methods import allowed_methods
from connect_gateway.entrypoints.http.schemas import ErrorBody, ErrorItem
from connect_gateway.entrypoints.http.wording import field_path, json_reason, sentence
from connect_gateway.ports import AudienceUnavailableError, IdentityUnavailableError, ReadModelsUnavailableError

log = logging.getLogger(__name__)

STATUS: dict[ErrorCode, int] = {
    "validation_failed": 422,
    "unauthenticated": 401,
    "forbidden": 403,
    "csrf_failed": 403,
    "too_many_requests": 429,
    "malformed_request": 422,
    "method_not_allowed": 405,
    "payload_too_large": 413,
    "not_found": 404,
    "conflict": 409,
    "invalid_state": 409,
    "timeout": 504,
    "unavailable": 503,
    "internal": 500,
}


# The status of each precise refusal reason, whichever code it comes with: one reason is always one status
# (the one of the code the scheduler files it under: a taken name is a `validation` error of the `name`
# field, a missing table an `invalid_state` of the job). A reason added to the contract later and not listed
# here falls back to its code's status.
REASON_STATUS: dict[RefusalReason, int] = {
    "JOB_NOT_FOUND": 404,
    "JOB_DELETED": 404,
    "RUN_NOT_FOUND": 404,
    "TABLE_NOT_FOUND": 409,
    "JOB_INACTIVE": 409,
    "JOB_RUNNING": 409,
    "JOB_HAS_ERRORS": 409,
    "NAME_TAKEN": 422,
    "STALE_VERSION": 409,
    "COPY_REQUIRES_INACTIVE": 409,
    "PARTNER_JOB_NOT_RUNNABLE": 409,
    "PARTNER_JOB_NOT_COPYABLE": 409,
    "RUN_NOT_RUNNING": 409,
    "EXPIRED": 409,
    "INVALID_VALUE": 422,
    "TABLE_EXISTS": 409,
    "GROUP_NOT_FOUND": 404,
    "GROUP_RUNNING": 409,
    "GROUP_TOO_SMALL": 422,
    "GROUP_MEMBER_NOT_FOUND": 422,
    "GROUP_MEMBER_REPEATED": 422,
    "GROUP_MEMBER_INACTIVE": 409,
    "GROUP_MEMBER_NOT_ON_DEMAND": 409,
    "GROUP_MEMBER_IN_OTHER_GROUP": 409,
    "JOB_IN_GROUP": 409,
    "CONCURRENT_CHANGE": 409,  # another command changed the same job or group at that moment: try again
    # Profile lists and PETs (ADR 0011): the list or PET a command names, or one that already exists.
    "LIST_NOT_FOUND": 404,
    "PET_NOT_FOUND": 404,
    "LIST_EXISTS": 409,
    "PET_EXISTS": 409,
    "COLUMN_EXISTS": 409,
    # Audiences: one of that name, none of it, or a definition that does not compile against its list and PETs.
    "AUDIENCE_EXISTS": 409,
    "AUDIENCE_NOT_FOUND": 404,
    "AUDIENCE_INVALID": 422,
}


def status_of(code: ErrorCode, reason: RefusalReason | None = None) -> int:
    """The HTTP status of a refusal: its reason's when it has one, else its code's."""
    return REASON_STATUS.get(reason, STATUS[code]) if reason is not None else STATUS[code]


def error_response(
    code: ErrorCode,
    message: str,
    errors: Iterable[FieldError] = (),
    headers: Mapping[str, str] | None = None,
    reason: RefusalReason | None = None,
) -> JSONResponse:
    """The error body with the status its reason (or else its code) implies."""
    items = [ErrorItem(field=e.field, message=e.message) for e in errors]
    body = ErrorBody(code=code, message=message, errors=items, reason=reason)
    return JSONResponse(body.model_dump(mode="json"), status_code=status_of(code, reason), headers=headers)


def compat_response(problem: compat.Problem, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """A refusal in the Responsys-compatible envelope."""
    return JSONResponse(problem.body(), status_code=problem.status, headers=headers)


def answer(
    path: str,
    code: ErrorCode,
    message: str,
    errors: Iterable[FieldError] = (),
    headers: Mapping[str, str] | None = None,
    reason: RefusalReason | None = None,
) -> JSONResponse:
    """The error response for a request to `path`: the compatible envelope under `/rest/api`, else ours."""
    if compat.is_compat(path):
        return compat_response(compat.problem_of(code, message, reason), headers)
    return error_response(code, message, errors, headers, reason)


async def _on_refusal(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refusal)
    return answer(request.url.path, exc.code, exc.message, exc.errors, exc.headers, exc.reason)


async def _on_compat_refusal(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, compat.CompatRefusal)
    return compat_response(exc.problem, exc.headers)


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors: list[dict[str, Any]] = list(exc.errors())
    path = request.url.path
    broken = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if broken is not None:
        return malformed(await _json_problem(request, broken), path)
    if any(tuple(e.get("loc", ())) == ("body",) and e.get("type") == "string_unicode" for e in errors):
        return malformed("a field name in the body holds an unpaired surrogate", path)
    errors = [_body_tag(e) for e in errors]
    if any(tuple(e.get("loc", ())) == ("body",) for e in errors):
        return malformed("the request body must be a JSON object (Content-Type: application/json)", path)
    items = [FieldError(field=field_path(tuple(e.get("loc", ()))), message=sentence(e)) for e in errors]
    summary = "; ".join(f"{i.field}: {i.message}" for i in items[:3]) + ("; …" if len(items) > 3 else "")
    return answer(path, "validation_failed", f"invalid request: {summary}", items)


# A body discriminated by a field (a job's `type`): pydantic reports a missing or unknown value at the body itself.
_BODY_TAG_ERRORS = {"union_tag_not_found": "missing", "union_tag_invalid": "literal_error"}


def _body_tag(error: dict[str, Any]) -> dict[str, Any]:
    """`error` about the body's discriminator as an error of that field (`type: is required`, `must be one of`)."""
    kind, context = error.get("type"), error.get("ctx") or {}
    if tuple(error.get("loc", ())) != ("body",) or kind not in _BODY_TAG_ERRORS:
        return error
    field = str(context.get("discriminator", "")).strip("'")
    *others, last = str(context.get("expected_tags", "")).split(", ")
    expected = f"{', '.join(others)} or {last}" if others else last  # as pydantic words a literal's choices
    return {"type": _BODY_TAG_ERRORS[str(kind)], "loc": ("body", field), "ctx": {"expected": expected}}


def malformed(message: str, path: str) -> JSONResponse:
    """A body that cannot be read as JSON at all: 422 naming the body (400 `INVALID_PARAMETER` under `/rest/api`)."""
    return answer(path, "malformed_request", message, [FieldError(field="body", message=message)])


async def _json_problem(request: Request, error: dict[str, Any]) -> str:
    """Where the JSON breaks, as line and column, and why."""
    reason = json_reason(str(error.get("ctx", {}).get("error", "")))
    loc = error.get("loc", ())
    position = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
    if position is None:
        return f"malformed JSON body: {reason}"
    text = (await request.body()).decode("utf-8", errors="replace")
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return f"malformed JSON body at line {line} column {column} (char {position}): {reason}"


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    path = request.url.path
    if exc.status_code == 404:
        return answer(path, "not_found", "no such resource")
    if exc.status_code == 405:
        return _method_not_allowed(request, exc)
    if exc.status_code == 400:
        # FastAPI's only 400: a JSON body it could not decode for a reason other than JSON syntax.
        return malformed(_unreadable_body(exc.__cause__), path)
    code: ErrorCode = "malformed_request" if exc.status_code < 500 else "internal"
    if compat.is_compat(path):  # any other status keeps its number, in that surface's envelope
        problem = replace(compat.problem_of(code, str(exc.detail)), status=exc.status_code)
        return compat_response(problem, exc.headers)
    body = ErrorBody(code=code, message=str(exc.detail))
    return JSONResponse(body.model_dump(mode="json"), status_code=exc.status_code, headers=exc.headers)


def _method_not_allowed(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    methods = allowed_methods(request.app, request.url.path)
    allow = ", ".join(methods) if methods else (exc.headers or {}).get("Allow", "")
    message = f"{request.method} is not allowed here" + (f"; this path takes {allow}" if allow else "")
    response = answer(request.url.path, "method_not_allowed", message)
    response.headers["Allow"] = allow
    return response


def _unreadable_body(cause: BaseException | None) -> str:
    if isinstance(cause, UnicodeDecodeError):
        return f"the request body is not UTF-8 text (invalid byte at offset {cause.start})"
    if isinstance(cause, RecursionError):
        return "the JSON body is nested too deeply"
    return "the request body cannot be read as JSON"


# What cannot be reached, by the port error that says so (its own text goes to the log only).
UNREACHABLE: dict[type[Exception], str] = {
    ReadModelsUnavailableError: "the read models",
    IdentityUnavailableError: "the identity database",
    AudienceUnavailableError: "the audience store",
}


async def _on_unavailable(request: Request, exc: Exception) -> JSONResponse:
    what = next(name for kind, name in UNREACHABLE.items() if isinstance(exc, kind))
    log.warning("%s unavailable", what, extra={"error": str(exc)})
    return answer(request.url.path, "unavailable", f"{what} cannot be reached; retry later")


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error", exc_info=exc)
    return answer(request.url.path, "internal", "internal error")


def install(app: FastAPI) -> None:
    """Route every failure through `ErrorBody`."""
    app.add_exception_handler(Refusal, _on_refusal)
    app.add_exception_handler(compat.CompatRefusal, _on_compat_refusal)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    for unavailable in UNREACHABLE:
        app.add_exception_handler(unavailable, _on_unavailable)
    app.add_exception_handler(Exception, _on_unexpected)
