"""The groups' share of each tick: record the group fires and expirations that came due, in a transaction of
their own, after the jobs' (`entrypoints/ticker.py` calls `tick_groups` in its loop).

Each claimed group is recorded in a savepoint of its own, so one bad group never holds up the rest: one that met
a concurrent change (an edit, a member run's end, another instance) stays due for the next tick, one whose
fire fails on its own is looked at again `RETRY_AFTER_S` later.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import asyncpg

from connect_runtime import outbox
from connect_runtime.db import Conn
from connect_runtime.retry import TRANSIENT_ERRORS
from connect_scheduler.adapters import group_due
from connect_scheduler.adapters.event_store import ConcurrencyError
from connect_scheduler.domain.fires import Decision
from connect_scheduler.domain.group_fires import GroupDue
from connect_scheduler.group_handlers import record_group_due

log = logging.getLogger(__name__)

RETRY_AFTER_S = 60.0  # a group whose fire failed on its own is looked at again this much later, not every tick
# Another writer holds the group or its first member: the row stays due and the next tick tries again.
CONTENTION: tuple[type[Exception], ...] = (
    ConcurrencyError,
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.LockNotAvailableError,
)


async def tick_groups(conn: Conn, now: datetime, batch_size: int) -> int:
    """Record what the due group rows lead to at `now`, in one transaction; returns how many were claimed."""
    async with conn.transaction():
        claimed = await group_due.claim(conn, now, batch_size)
        for row in claimed:
            decision = await _record(conn, row, now)
            if decision is not None:
                await outbox.append(conn, decision.events)
                await group_due.store(conn, [(row.group_id, decision.slot)])
    return len(claimed)


async def _record(conn: Conn, row: GroupDue, now: datetime) -> Decision | None:
    """The row's decision, recorded in a savepoint; None when it was set aside."""
    fire_at = row.slot.fire_at
    fields = {"group_id": row.group_id, "fire_at": fire_at.isoformat() if fire_at else None}
    try:
        async with conn.transaction():
            decision = await record_group_due(conn, row, now)
    except Exception as exc:
        # A lost connection fails the tick (its transaction is gone); contention and bugs stay with their group.
        if not isinstance(exc, CONTENTION) and (isinstance(exc, TRANSIENT_ERRORS) or conn.is_closed()):
            raise
        if isinstance(exc, CONTENTION):
            log.info("group changed concurrently; its due work waits for the next tick", extra=fields)
        else:
            log.error("could not record the group's due work; trying again later", exc_info=exc, extra=fields)
            await group_due.postpone(conn, row.group_id, now + timedelta(seconds=RETRY_AFTER_S))
        return None
    if decision.missed_fires:
        log.warning("group fires were missed while the scheduler was down; one run stands for them", extra=fields)
    log.info("group due work recorded", extra={**fields, "outcome": decision.outcome})
    return decision
