"""The scheduler's metrics (issue 10, spec §8.4): commands by type and outcome and how long they waited to be
decided, and scheduled fires by outcome and how late they were recorded (lateness: from the fire's due time to
the tick that recorded it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram

from connect_events import Command, CommandRejected, ReplyEvent
from connect_scheduler.domain.envelope import occurred_at
from connect_scheduler.domain.slots import Decision, Due

COMMANDS = Counter(
    "connect_commands_total",
    "Commands decided, by type and outcome (accepted, or the refusal's code)",
    ["type", "outcome"],
)
COMMAND_LATENCY = Histogram(
    "connect_command_latency_seconds",
    "From a command's issue to its decision, by type",
    ["type"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
FIRES = Counter(
    "connect_scheduler_fires_total", "Due rows the ticker recorded, by kind and outcome", ["kind", "outcome"]
)
LATENESS = Histogram(
    "connect_scheduler_lateness_seconds",
    "From a due row's time to the tick that recorded it, by kind",
    ["kind"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600),
)

DUE_BACKLOG = Gauge(
    "connect_scheduler_due_backlog",
    "Due rows not recorded yet after a tick (past a full batch, or held by another instance), by kind",
    ["kind"],
)


def observe_command(command: Command, reply: ReplyEvent, now: datetime) -> None:
    """Count a decided command and how long it waited since it was issued."""
    kind = str(getattr(command, "type", type(command).__name__))
    outcome = reply.payload.code if isinstance(reply, CommandRejected) else "accepted"
    COMMANDS.labels(kind, outcome).inc()
    issued = occurred_at(command.issued_at, fallback=now)  # a producer's clock may say anything
    COMMAND_LATENCY.labels(kind).observe(max((now - issued).total_seconds(), 0.0))


def observe_fires(kind: str, recorded: Sequence[tuple[Due, Decision]], now: datetime) -> None:
    """Count what a tick recorded, and how late each row came."""
    for row, decision in recorded:
        FIRES.labels(kind, decision.outcome).inc()
        due_at = row.slot.wake_at
        if due_at is not None:
            LATENESS.labels(kind).observe(max((now - due_at).total_seconds(), 0.0))
