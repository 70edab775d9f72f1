"""Defence in depth for the runner's own log lines about exceptions: they must not give the credential away.

Texts users see (`RunFailed.error`) never need this: they are built from the runner's own sentences and the
job's public settings only (see `failures`), so no secret can get into them. Operators' log lines, though,
carry exception details, and a library's message is not ours: it might quote what it was given.

Replacing the secret inside such a text would reveal it: a password `0.0` turns `127.0.0.1` into
`127.[redacted].1`, a password `idna` marks where it stands in `encoding with 'idna' codec failed`. So a text
is either kept whole or withheld whole, and exceptions are logged as their types and code locations, which
no secret can change (`exception_outline`).
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable

WITHHELD = "[withheld: it may contain the run's credential]"
# A secret this short is likely to occur in ordinary text by chance (`0.0`, `idna`, `admin`): whether a text
# contains it says something about it, so every message of such a run is withheld, whatever it says.
MIN_SECRET_CHARS = 12
# A private key may surface re-wrapped or escaped (`\n` in a repr), so each of its long lines counts on its own.
MIN_LINE_CHARS = 16


def withhold(text: str, secrets: Iterable[str]) -> str:
    """`text` unchanged, or `WITHHELD` when it contains a secret (or a long line of one), or a secret is short."""
    for secret in secrets:
        if not secret:
            continue
        if len(secret) < MIN_SECRET_CHARS or any(part in text for part in _parts(secret)):
            return WITHHELD
    return text


def _parts(secret: str) -> set[str]:
    lines = (line.strip() for line in secret.splitlines())
    escaped = repr(secret)[1:-1]  # as it appears inside a repr(): quotes, backslashes and line breaks escaped
    return {secret, escaped, *(line for line in lines if len(line) >= MIN_LINE_CHARS)}


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
