"""Field errors of single texts, in the shared rules' words (`connect_events.values`), never quoting the text."""

from __future__ import annotations

from collections.abc import Callable

from connect_events import FieldError
from connect_events.values import control_problem


def text_errors(field: str, value: str, problem: Callable[[str], str | None] = control_problem) -> list[FieldError]:
    """The error of a text that breaks `problem`'s rule (by default: a single-line value), naming `field`."""
    message = problem(value)
    return [] if message is None else [FieldError(field=field, message=message)]
