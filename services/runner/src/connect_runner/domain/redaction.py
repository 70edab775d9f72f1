"""Defence in depth for the runner's own log lines about exceptions: they must not give the credential away.

Texts users see (`RunFailed.error`) never need this: they are built from the runner's own sentences and the
job's public settings only (see `failures`), so no secret can get into them. Operators' log lines, though,
carry exception details, and a library's message is not ours: it might quote what it was given.

Replacing the secret inside such a text would reveal it: a password `0.0` turns `127.0.0.1` into
`127.[redacted].1`, a password `idna` marks where it stands in `encoding with 'idna' codec failed`. Withholding
only the texts that contain the secret would reveal it too: many library messages are predictable, so a
withheld one says the credential is part of it. So once a run holds a credential, every message that could have
seen it is withheld whole, whatever it says, and exceptions are logged as their types and code locations, which
no secret can change (`exception_outline`).
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable

WITHHELD = "[withheld: it may contain the run's credential]"


def withhold(text: str, secrets: Iterable[str]) -> str:
    """`text` unchanged while no credential is held, else `WITHHELD`: the decision never depends on the text."""
    return WITHHELD if any(secrets) else text


def exception_outline(exc: BaseException) -> list[str]:
    """The exception with its causes, oldest first, as types and code locations (`file:line in function`):
    what an operator needs to find the fault, and the same whatever the run's data or secret is."""
    outline: list[str] = []
    for summary in _chain(traceback.TracebackException.from_exception(exc)):
        outline.append(_qualified(summary.exc_type))
        outline.extend(f"  {frame.filename}:{frame.lineno} in {frame.name}" for frame in summary.stack)
    return outline


def type_name(exc: BaseException) -> str:
    """The exception's class, qualified by its module (`asyncpg.exceptions.DataError`, `ValueError`)."""
    return _qualified(type(exc))


MAX_CHAIN = 10  # causes and contexts followed at most


def _chain(summary: traceback.TracebackException) -> list[traceback.TracebackException]:
    chain: list[traceback.TracebackException] = []
    current: traceback.TracebackException | None = summary
    while current is not None and len(chain) < MAX_CHAIN:
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return chain[::-1]


def _qualified(cls: type[BaseException] | None) -> str:
    if cls is None:
        return "?"
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
