"""Reject reason codes and which one applies to which column type."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from connect_events import ColumnType


class RejectReason(StrEnum):
    """Why a row was not loaded; kept with the row's line number and raw text."""

    WRONG_FIELD_COUNT = "WRONG_FIELD_COUNT"
    MATCH_FIELD_EMPTY = "MATCH_FIELD_EMPTY"
    VALUE_TOO_LONG = "VALUE_TOO_LONG"
    INVALID_NUMBER = "INVALID_NUMBER"
    INVALID_DATE = "INVALID_DATE"
    INVALID_DATA_FORMAT = "INVALID_DATA_FORMAT"
    DUPLICATE_KEY = "DUPLICATE_KEY"
    INVALID_EMAIL = "INVALID_EMAIL"
    INVALID_MOBILE_NUMBER = "INVALID_MOBILE_NUMBER"
    CHANNEL_EMPTY = "CHANNEL_EMPTY"
    NO_PARENT_RECORD = "NO_PARENT_RECORD"


# The reason a malformed value of each type is reported with (text can only be too long).
FORMAT_REASON: Mapping[ColumnType, RejectReason] = {
    ColumnType.TEXT: RejectReason.VALUE_TOO_LONG,
    ColumnType.INTEGER: RejectReason.INVALID_DATA_FORMAT,
    ColumnType.NUMBER: RejectReason.INVALID_NUMBER,
    ColumnType.BOOLEAN: RejectReason.INVALID_DATA_FORMAT,
    ColumnType.DATE: RejectReason.INVALID_DATE,
    ColumnType.TIMESTAMP: RejectReason.INVALID_DATA_FORMAT,
}


def field_count_reason(found: int, expected: int) -> RejectReason | None:
    """`WRONG_FIELD_COUNT` when a record does not have the file's number of fields."""
    return None if found == expected else RejectReason.WRONG_FIELD_COUNT


def combine(*groups: Iterable[tuple[int, str]]) -> dict[int, RejectReason]:
    """One reason per line number; the first group that names a line wins (parse, then SQL checks)."""
    combined: dict[int, RejectReason] = {}
    for group in groups:
        for line_no, reason in group:
            combined.setdefault(line_no, RejectReason(reason))
    return combined
