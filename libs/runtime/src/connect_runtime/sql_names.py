"""Names in SQL text: identifiers quoted (`"` doubled, case and spaces kept), and where the audience store keeps
profile lists (`"lists"."<name>"`) and PETs (`"pets"."<name>"`), by the exact names of their definitions."""

from __future__ import annotations

LIST_SCHEMA = "lists"
PET_SCHEMA = "pets"


class UnquotableNameError(ValueError):
    """A name no SQL identifier can hold (empty, or with a NUL character)."""


def quote_ident(name: str) -> str:
    """`name` as a quoted SQL identifier."""
    if not name or "\x00" in name:
        raise UnquotableNameError("an identifier must be non-empty text without NUL characters")
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, name: str) -> str:
    """`"schema"."name"`, both quoted."""
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def list_table(name: str) -> str:
    """The qualified, quoted table of the list `name` (its definition's spelling)."""
    return qualified(LIST_SCHEMA, name)


def pet_table(name: str) -> str:
    """The qualified, quoted table of the PET `name` (its definition's spelling)."""
    return qualified(PET_SCHEMA, name)
