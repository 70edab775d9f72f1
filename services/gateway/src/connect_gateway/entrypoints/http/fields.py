"""The string types of request values: length limits, plus the rule each is checked against and documents.

Multi-line text (description, private key, password) only has to be storable; every other string is a
single line; names, identifiers and hosts follow their own rules (`connect_events.values`, which the scheduler
applies to commands again).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AwareDatetime, BeforeValidator, Field, Secret, StringConstraints
from pydantic_core import PydanticCustomError

from connect_events import values as v
from connect_gateway.domain import limits as lim
from connect_gateway.domain.identity.passwords import MAX_LENGTH as MAX_PASSWORD_LENGTH
from connect_gateway.domain.identity.users import MAX_TOKEN_NAME_LENGTH
from connect_gateway.domain.runs import RUN_KEY_PATTERN, run_key_problem
from connect_gateway.entrypoints.http.value_rule import RULE_ERROR, Rule

TEXT = Rule(v.storable_problem, v.STORABLE_PATTERN)
LINE = Rule(v.control_problem, v.NO_CONTROL_PATTERN)
FILLED_LINE = Rule(v.filled_line_problem, v.FILLED_LINE_PATTERN)  # a single line that is not blank
IDENTIFIER = Rule(v.identifier_problem, v.IDENTIFIER_PATTERN)

Identifier = Annotated[str, StringConstraints(max_length=lim.MAX_IDENTIFIER), IDENTIFIER]
JobName = Annotated[
    str, StringConstraints(max_length=v.MAX_JOB_NAME_LENGTH), Rule(v.job_name_problem, v.JOB_NAME_PATTERN)
]
Description = Annotated[str, StringConstraints(max_length=lim.MAX_DESCRIPTION), TEXT]
SourceColumn = Annotated[str, StringConstraints(min_length=1, max_length=lim.MAX_MAPPING_NAME), FILLED_LINE]
Host = Annotated[
    str,
    StringConstraints(min_length=1, max_length=lim.MAX_HOST),
    Rule(v.host_problem, v.HOST_PATTERN),
]
User = Annotated[str, StringConstraints(min_length=1, max_length=lim.MAX_USER), FILLED_LINE]
SourcePath = Annotated[str, StringConstraints(min_length=1, max_length=lim.MAX_PATH), FILLED_LINE]
HostKeyLine = Annotated[str, StringConstraints(max_length=lim.MAX_HOST_KEY), LINE]
# Secret[...] keeps the value out of reprs and, unlike SecretStr, reports a too-long value like any string.
PrivateKey = Secret[Annotated[str, StringConstraints(max_length=lim.MAX_PRIVATE_KEY), TEXT]]
Password = Secret[Annotated[str, StringConstraints(min_length=1, max_length=lim.MAX_PASSWORD), TEXT]]


_ISO_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
ISO_DATE_TIME_RULE = "must be a date and time in ISO 8601 with its offset, e.g. 2027-01-31T00:00:00Z"


def _iso_text(value: object) -> object:
    """JSON has no datetime: ISO 8601 text is the one form taken (lax parsing would take Unix seconds too)."""
    if not isinstance(value, str) or not _ISO_DATE_TIME.match(value):
        raise PydanticCustomError(RULE_ERROR, "{problem}", {"problem": ISO_DATE_TIME_RULE})
    return value


def _integral(value: object) -> object:
    """JSON Schema's `integer` includes 22.0; strict validation would refuse it, so it becomes 22 first."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# JSON integers: bools and strings stay refused (strict bodies), an integral number like 22.0 is taken.
# (The limits come before the validator, so they stay `minimum`/`maximum` of the integer in the schema.)
INTEGRAL = BeforeValidator(_integral)
Port = Annotated[int, Field(ge=1, le=65535), INTEGRAL]
Version = Annotated[int, Field(ge=1, le=lim.MAX_INT), INTEGRAL]
# Column sizes: the ranges the scheduler enforces (whether a size fits the column's type, and a scale within
# its precision, are the scheduler's to check: JSON Schema cannot relate two fields).
MaxLength = Annotated[int, Field(ge=1, le=v.MAX_TEXT_LENGTH), INTEGRAL]
Precision = Annotated[int, Field(ge=1, le=v.MAX_PRECISION), INTEGRAL]
Scale = Annotated[int, Field(ge=0, le=v.MAX_PRECISION), INTEGRAL]

IsoDateTime = Annotated[AwareDatetime, Field(strict=False), BeforeValidator(_iso_text)]

# Query, path and header values.
SearchText = Annotated[str, StringConstraints(max_length=lim.MAX_SEARCH), LINE]
RunKey = Annotated[str, Rule(run_key_problem, RUN_KEY_PATTERN)]
Username = Annotated[str, Rule(v.username_problem, v.USERNAME_PATTERN)]  # the pattern bounds its length
# Login takes the name as typed (any case, surrounding spaces); it is lower-cased before the lookup.
LoginName = Annotated[str, StringConstraints(min_length=1, max_length=100), LINE]
# A new one is checked against the password rule by the use case, so the refusal can name the rule; nothing
# longer than the rule's maximum can be a password.
UserPassword = Secret[Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD_LENGTH), TEXT]]
TokenName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TOKEN_NAME_LENGTH), FILLED_LINE]
TokenId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
IdempotencyKey = Annotated[str, StringConstraints(max_length=lim.MAX_IDEMPOTENCY_KEY), LINE]
