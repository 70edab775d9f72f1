"""What an accepted command produced: the one result every use case hands back to `handlers.handle_command`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from connect_events import Event, FieldError


@dataclass(frozen=True)
class Outcome:
    """What an accepted command produced, for its events and its `CommandAccepted` reply; `errors` are the
    validation errors a definition was saved with."""

    events: Sequence[Event]
    target_type: str
    target_id: str
    target_version: int
    run_id: int | None = None
    errors: tuple[FieldError, ...] = ()
    state: Literal["active", "inactive"] | None = None
