"""Envelope fields of new events, all derived from the command's causation so retries are identical."""

from __future__ import annotations

from datetime import UTC, datetime
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


# Instants every store can hold: PostgreSQL's timestamptz and Python's datetime agree well inside these years.
EARLIEST_YEAR = 1970
LATEST_YEAR = 9998


def occurred_at(issued_at: datetime, fallback: datetime) -> datetime:
    """The time of what a command causes: when it was issued (in UTC), unless that instant is absurd.

    The sender chooses `issued_at`; one near year 1 or 9999 cannot even be converted to UTC, and its reply
    would then fail to be stored downstream (leaving the caller without an answer), so `fallback` stands in.
    """
    aware = issued_at if issued_at.tzinfo is not None else issued_at.replace(tzinfo=UTC)  # naive means UTC
    try:
        utc = aware.astimezone(UTC)
    except OverflowError:
        return fallback
    return utc if EARLIEST_YEAR <= utc.year <= LATEST_YEAR else fallback
