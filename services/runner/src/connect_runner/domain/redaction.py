"""Keeping a run's credential out of the texts it produces (failure messages, logs).

The runner's own messages never contain the secret; this guards the texts it does not write itself, such
as an unexpected exception's message, which end up in `RunFailed.error` and in the logs.
"""

from __future__ import annotations

from collections.abc import Iterable

REDACTED = "[redacted]"
# A private key may surface re-wrapped or escaped (`\n` in a repr), so its long lines are removed one by one too.
MIN_LINE_CHARS = 16


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret, and every long line of a multi-line secret, replaced by `[redacted]`."""
    for secret in secrets:
        lines = (line.strip() for line in secret.splitlines())
        parts = {secret, *(line for line in lines if len(line) >= MIN_LINE_CHARS)}
        for part in sorted(parts, key=len, reverse=True):  # the whole secret before its pieces
            if part:
                text = text.replace(part, REDACTED)
    return text
