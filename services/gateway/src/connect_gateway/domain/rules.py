"""Rules for single request values that the API states in its OpenAPI document and checks itself.

Each rule is a pattern for the document and a function giving the problem in plain words (None when the
value is fine), never quoting the value. The scheduler applies the same rules to commands again; these let
the gateway refuse first, naming the field, before anything is sent or stored.
"""

from __future__ import annotations

from connect_events.values import (
    HOST_PATTERN,
    IDENTIFIER_PATTERN,
    IDENTIFIER_RULE,
    JOB_NAME_PATTERN,
    JOB_NAME_RULE,
    MAX_JOB_NAME_LENGTH,
    NO_CONTROL_PATTERN,
    control_problem,
    host_problem,
    identifier_problem,
    job_name_problem,
    storable_problem,
)

__all__ = [
    "HOST_PATTERN",
    "IDENTIFIER_PATTERN",
    "IDENTIFIER_RULE",
    "JOB_NAME_PATTERN",
    "JOB_NAME_RULE",
    "LINE_PATTERN",
    "MAX_JOB_NAME",
    "STORABLE_PATTERN",
    "identifier_problem",
    "job_name_problem",
    "line_problem",
    "source_host_problem",
    "text_problem",
]

# Text PostgreSQL can store (no NUL); unpaired surrogates cannot be written in a pattern, the check refuses them.
STORABLE_PATTERN = r"^[^\u0000]*$"
LINE_PATTERN = NO_CONTROL_PATTERN
MAX_JOB_NAME = MAX_JOB_NAME_LENGTH


def text_problem(text: str) -> str | None:
    """Multi-line text (a description, a private key): only what PostgreSQL and UTF-8 cannot hold."""
    return storable_problem(text)


def line_problem(text: str) -> str | None:
    """A single-line value (user, path, column header, header value): no control characters."""
    return control_problem(text)


def source_host_problem(host: str) -> str | None:
    """A DNS name or IP literal (the documented `HOST_PATTERN` admits every host this accepts)."""
    return control_problem(host) or host_problem(host)
