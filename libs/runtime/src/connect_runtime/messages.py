"""Envelope metadata for new events, kept deterministic so handlers stay pure and retries idempotent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid5


@dataclass(frozen=True)
class Causation:
    """Who and what caused new events: copied into every event's envelope."""

    actor: str
    correlation_id: UUID
    causation_id: UUID
    occurred_at: datetime

    def event_id(self, index: int) -> UUID:
        """The id of the `index`-th event caused by `causation_id`: the same on every retry."""
        return uuid5(self.causation_id, str(index))
