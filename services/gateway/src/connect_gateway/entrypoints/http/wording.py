"""Validation errors in our own words.

Pydantic's and the JSON decoder's texts are not passed through: they change between versions, speak of
Python types, and some quote what was sent (a request may carry a private key or a password). Each error
type maps to a sentence that may use the error's context (limits, allowed values), which comes from our
schema, never from the request; anything unmapped gets a generic sentence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from connect_events.values import STORABLE
from connect_gateway.entrypoints.http.fields import EXPORT_SOURCE_KINDS, JOB_TYPES, SCHEDULE_KINDS, SOURCE_KINDS
from connect_gateway.entrypoints.http.value_rule import RULE_ERROR

GENERIC = "is not valid"
_WHOLE = "must be a whole number"
_OBJECT = "must be a JSON object"
_UUID = "must be a UUID such as 123e4567-e89b-12d3-a456-426614174000"

_SENTENCES: dict[str, str] = {
    "missing": "is required",
    "extra_forbidden": "is not a field of this request",
    "string_type": "must be a string",
    "string_unicode": STORABLE,
    "string_pattern_mismatch": "must match the pattern {pattern}",
    "int_type": _WHOLE,
    "int_parsing": _WHOLE,
    "int_from_float": _WHOLE,
    "int_parsing_size": "is far too large a number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "greater_than_equal": "must be at least {ge}",
    "greater_than": "must be more than {gt}",
    "less_than_equal": "must be at most {le}",
    "less_than": "must be less than {lt}",
    "literal_error": "must be one of {expected}",
    "enum": "must be one of {expected}",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "uuid_type": _UUID,
    "uuid_parsing": _UUID,
    "model_type": _OBJECT,
    "model_attributes_type": _OBJECT,
    "dict_type": _OBJECT,
    "list_type": "must be a JSON array",
    "none_required": "must be null",
    # Discriminated unions (a schedule's `kind`); the context names our tags, never the value sent.
    "union_tag_invalid": "must have a kind of {expected_tags}",
    "union_tag_not_found": "must have a {discriminator}",
}
# Error type -> (bound, context key, unit) of a length limit.
_LENGTHS: dict[str, tuple[str, str, str]] = {
    "string_too_long": ("at most", "max_length", "character"),
    "string_too_short": ("at least", "min_length", "character"),
    "too_long": ("at most", "max_length", "item"),
    "too_short": ("at least", "min_length", "item"),
}


def sentence(error: Mapping[str, Any]) -> str:
    """What is wrong with the value, in our words (the field is named separately)."""
    kind = str(error.get("type", ""))
    context: Mapping[str, Any] = error.get("ctx") or {}
    if kind == RULE_ERROR:
        return str(context.get("problem", GENERIC))
    if kind in _LENGTHS:
        return _length(*_LENGTHS[kind], context)
    template = _SENTENCES.get(kind)
    if template is None:
        return GENERIC
    try:
        return template.format_map(context)
    except (KeyError, ValueError, IndexError):
        return GENERIC


def _length(bound: str, key: str, unit: str, context: Mapping[str, Any]) -> str:
    limit = context.get(key)
    if not isinstance(limit, int):
        return GENERIC
    if bound == "at least" and limit == 1:
        return "must not be empty"
    verb = "be" if unit == "character" else "have"
    return f"must {verb} {bound} {limit} {unit}{'' if limit == 1 else 's'}"


_LOCATIONS = ("body", "query", "path", "header", "cookie")
MAX_KEY_SHOWN = 64
# Fields holding a union discriminated by `kind`: pydantic puts the kind in the error's location
# (`schedule.daily.time`), which the request does not have (`schedule.time`).
_DISCRIMINATED: dict[str, frozenset[str]] = {
    "schedule": frozenset(SCHEDULE_KINDS),
    "source": frozenset(SOURCE_KINDS + EXPORT_SOURCE_KINDS),  # an import's file, or what an export writes
    "destination": frozenset(SOURCE_KINDS),
    "target": frozenset(("table_target", "pet_target")),  # an analytics feed's custom table or PET
}
# A job body is itself discriminated by `type`: pydantic puts the type first (`import_custom_table.target`).
_ROOT_TAGS = frozenset(JOB_TYPES)


def field_path(loc: Sequence[int | str]) -> str:
    """`("body", "mapping", 2, "target")` -> `mapping[2].target`; a key the client made up is shown escaped."""
    parts = list(loc[1:] if loc and loc[0] in _LOCATIONS else loc)
    path = ""
    for i, part in enumerate(parts):
        if part in (_DISCRIMINATED.get(str(parts[i - 1]), ()) if i > 0 else _ROOT_TAGS):
            continue
        path += f"[{part}]" if isinstance(part, int) else f"{'.' if path else ''}{_shown_key(part)}"
    if path:
        return path
    return str(loc[0]) if loc else "body"


def _shown_key(key: str) -> str:
    # An unknown field's name is the client's text: it may hold NUL, unpaired surrogates (which cannot be
    # encoded in the response) or a megabyte of anything. Escape what is not printable and cut it short.
    shown = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in key[:MAX_KEY_SHOWN])
    return shown + ("…" if len(key) > MAX_KEY_SHOWN else "")


# The JSON decoder's reasons, by how they start; some quote the offending character.
_JSON_REASONS: tuple[tuple[str, str], ...] = (
    ("Expecting value", "a value was expected"),
    ("Expecting property name", "a field name in double quotes was expected"),
    ("Expecting ':'", "':' was expected after a field name"),
    ("Expecting ','", "',' or the end of the object or array was expected"),
    ("Unterminated string", "a string is not closed"),
    ("Invalid control character", "a string holds a raw control character (escape it, e.g. \\n)"),
    ("Invalid \\escape", "a string holds an invalid escape sequence"),
    ("Invalid \\uXXXX", "a string holds an invalid \\u escape"),
    ("Extra data", "more follows after the JSON value"),
    ("Illegal trailing comma", "a trailing comma is not allowed"),
)


def json_reason(decoder_message: str) -> str:
    """The JSON decoder's reason in our words."""
    return next((ours for start, ours in _JSON_REASONS if decoder_message.startswith(start)), "not valid JSON")
