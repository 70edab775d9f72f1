"""Envelope fields of new events, all derived from the command's causation so retries are identical."""

from __future__ import annotations

from typing import Any

from connect_runtime.messages import Causation


def envelope(causation: Causation, index: int, aggregate_id: str, version: int) -> dict[str, Any]:
    """Keyword arguments for the `index`-th event a command causes on one aggregate."""
    return {
        "event_id": causation.event_id(index),
        "aggregate_id": aggregate_id,
        "aggregate_version": version,
        "occurred_at": causation.occurred_at,
        "actor": causation.actor,
        "correlation_id": causation.correlation_id,
        "causation_id": causation.causation_id,
    }
