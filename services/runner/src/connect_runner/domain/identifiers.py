"""Quoting of user-given identifiers: table and column names are always quoted, never spliced raw. The rule lives
in `connect_runtime.sql_names` (shared with the audience compiler); these are its names for the runner."""

from __future__ import annotations

from connect_runtime.sql_names import (
    MAX_IDENTIFIER_BYTES,
    InvalidIdentifierError,
    check_identifier,
    qualified,
    quote_ident,
)

__all__ = ["MAX_IDENTIFIER_BYTES", "InvalidIdentifierError", "check_identifier", "qualified", "quote_ident"]
