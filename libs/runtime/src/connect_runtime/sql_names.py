"""Names in SQL text: identifiers checked (PostgreSQL must hold them exactly as written) and quoted (`"` doubled,
case and spaces kept), and where the audience store keeps profile lists (`"lists"."<name>"`) and PETs
(`"pets"."<name>"`), by the exact names of their definitions. User-given names are matched against the
definitions first; what reaches these functions is a definition's own spelling."""

from __future__ import annotations

LIST_SCHEMA = "lists"
PET_SCHEMA = "pets"
# PostgreSQL silently truncates longer identifiers, which could make two names collide.
MAX_IDENTIFIER_BYTES = 63


class InvalidIdentifierError(ValueError):
    """A table or column name PostgreSQL cannot hold exactly as written."""


def check_identifier(name: str) -> str:
    """`name` unchanged when PostgreSQL can store it exactly; raises `InvalidIdentifierError` otherwise."""
    if not name or not name.strip():
        raise InvalidIdentifierError("an identifier must not be empty")
    if "\x00" in name:
        raise InvalidIdentifierError(f"identifier {name!r} contains a NUL character")
    if len(name.encode()) > MAX_IDENTIFIER_BYTES:
        raise InvalidIdentifierError(f"identifier {name!r} is longer than {MAX_IDENTIFIER_BYTES} bytes")
    return name


def quote_ident(name: str) -> str:
    """`name` as a quoted SQL identifier: `"` doubled, case and spaces kept exactly."""
    return '"' + check_identifier(name).replace('"', '""') + '"'


def qualified(schema: str, name: str) -> str:
    """`"schema"."name"`, both quoted."""
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def list_table(name: str) -> str:
    """The qualified, quoted table of the list `name` (its definition's spelling)."""
    return qualified(LIST_SCHEMA, name)


def pet_table(name: str) -> str:
    """The qualified, quoted table of the PET `name` (its definition's spelling)."""
    return qualified(PET_SCHEMA, name)
