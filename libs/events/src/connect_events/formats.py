"""Explicit date and timestamp formats of import columns (spec §4.2), one language for every service.

A format is a sequence of tokens and literal separators, e.g. `DD/MM/YYYY` or `MM-DD-YYYY HH24:MI:SS`:

| token | meaning |
|---|---|
| `YYYY` | four-digit year |
| `MM` | month 01-12 (one digit accepted) |
| `MON` | English month abbreviation, any case (`Jan` … `Dec`) |
| `DD` | day of the month 01-31 (one digit accepted) |
| `HH24` or `HH` | hour 00-23 |
| `MI` | minute 00-59 |
| `SS` | second 00-59 |
| `FF` | fraction of a second, 1-6 digits |

Separators are space and `- / . : , T`. A date format holds a year, a month and a day and no time; a timestamp
format holds a date and optionally hours, minutes (with hours) and seconds (with minutes). The gateway and the
scheduler check formats with `format_problem`; the runner reads values with them.
"""

from __future__ import annotations

import itertools
from typing import Literal, NamedTuple

Token = Literal["YYYY", "MM", "MON", "DD", "HH24", "MI", "SS", "FF"]
SEPARATORS = frozenset(" -/.:,T")
MAX_FORMAT_LENGTH = 40
# Longest first, so that `HH24` is not read as `HH` and a literal `24`.
_SPELLINGS: tuple[tuple[str, Token], ...] = (
    ("YYYY", "YYYY"),
    ("HH24", "HH24"),
    ("MON", "MON"),
    ("MM", "MM"),
    ("DD", "DD"),
    ("HH", "HH24"),
    ("MI", "MI"),
    ("SS", "SS"),
    ("FF", "FF"),
)


class Part(NamedTuple):
    """A token (`text` is its canonical spelling: `HH` reads as `HH24`) or one literal separator."""

    kind: Literal["token", "literal"]
    text: str


class FormatError(ValueError):
    """A format that is not in the language; the message says why in plain words."""


def parse_format(text: str) -> tuple[Part, ...]:
    """The tokens and separators of `text`, in order; raises `FormatError`."""
    if not text:
        raise FormatError("the format is empty")
    if len(text) > MAX_FORMAT_LENGTH:
        raise FormatError(f"the format is longer than {MAX_FORMAT_LENGTH} characters")
    parts: list[Part] = []
    seen: set[Token] = set()
    position = 0
    while position < len(text):
        spelled = next((s for s in _SPELLINGS if text.startswith(s[0], position)), None)
        if spelled is not None:
            token = spelled[1]
            if token in seen:
                raise FormatError(f"{token} appears twice")
            seen.add(token)
            parts.append(Part("token", token))
            position += len(spelled[0])
            continue
        char = text[position]
        if char not in SEPARATORS:
            raise FormatError(
                "only YYYY, MM, MON, DD, HH24 (or HH), MI, SS, FF and the separators space - / . : , T are allowed"
            )
        parts.append(Part("literal", char))
        position += 1
    if {"MM", "MON"} <= seen:
        raise FormatError("MM and MON both give the month")
    for before, after in itertools.pairwise(parts):
        if before.kind == "token" and after.kind == "token":
            raise FormatError("tokens must be separated (e.g. YYYY-MM-DD)")
    return tuple(parts)


def tokens_of(parts: tuple[Part, ...]) -> frozenset[str]:
    """The tokens a parsed format holds, by their canonical spelling."""
    return frozenset(part.text for part in parts if part.kind == "token")


def format_problem(text: str, column_type: Literal["date", "timestamp"]) -> str | None:
    """Why `text` cannot be the format of a column of `column_type`, or None when it can."""
    try:
        tokens = tokens_of(parse_format(text))
    except FormatError as exc:
        return str(exc)
    if not ({"YYYY", "DD"} <= tokens and tokens & {"MM", "MON"}):
        return "a format must hold a year (YYYY), a month (MM or MON) and a day (DD)"
    time_tokens = tokens & {"HH24", "MI", "SS", "FF"}
    if column_type == "date":
        return "a date format holds no time (HH24, MI, SS, FF)" if time_tokens else None
    for needed, needs in (("MI", "HH24"), ("SS", "MI"), ("FF", "SS")):
        if needed in tokens and needs not in tokens:
            return f"{needed} needs {needs}"
    return None
