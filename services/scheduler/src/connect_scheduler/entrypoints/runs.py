"""Adapter from a `connect.runs` record to the scheduler's view of runs, the notifications their ends owe and
the group runs their ends move on, inside the consumer's transaction.

A member run's end moves its group run on in a savepoint, decided again on a concurrent change to the group
or its next member (a command, a tick): the consumer dead-letters a record that keeps failing, and a run
whose end is dead-lettered would stay running in this view, its job and group run with it.
"""

from __future__ import annotations

import logging

from connect_events import (
    RUNS_TOPIC,
    TERMINAL,
    RunEndedPayload,
    RunEvent,
    RunRequested,
    RunStatus,
    RunStopRequested,
    decode,
)
from connect_runtime.db import Conn
from connect_runtime.offsets import Record
from connect_scheduler.adapters import notifications, run_view
from connect_scheduler.adapters.event_store import ConcurrencyError
from connect_scheduler.domain.notifications import deliveries, job_run_notice, keeps
from connect_scheduler.group_handlers import on_member_end

log = logging.getLogger(__name__)

MEMBER_END_TRIES = 20  # decisions of a member run's end, each on freshly loaded state, before the record fails


class PoisonRunRecordError(ValueError):
    """A record on the runs topic that is not a run event; it goes to the dead-letter topic."""


class MemberEndContendedError(RuntimeError):
    """A member run's end met a concurrent change on every one of its `MEMBER_END_TRIES` tries."""


async def on_run_record(conn: Conn, record: Record) -> None:
    """Decode one run event, move its run's status and queue what its end owes; an event the transition table
    refuses changes nothing.

    A record that does not decode raises: it is retried, then dead-lettered with its error.
    """
    if record.value is None:
        raise PoisonRunRecordError(f"empty record at offset {record.offset}")
    event = decode(RUNS_TOPIC, record.value)
    if not isinstance(event, RunEvent | RunStopRequested):
        raise PoisonRunRecordError(f"{type(event).__name__} is not a run event")
    status = await run_view.apply(conn, event)
    if status is not None:
        await _follow_notifications(conn, event, status)
    if status in TERMINAL and isinstance(event, RunEvent):
        await _move_group_run(conn, event, status)


async def _move_group_run(conn: Conn, event: RunEvent, status: RunStatus) -> None:
    """Move on the group run of the run `event` ended, if any, in a savepoint: a concurrent change rolls back
    what this try wrote, and the next try reloads and decides again."""
    fields = {"run": event.aggregate_id}
    for attempt in range(1, MEMBER_END_TRIES + 1):
        try:
            async with conn.transaction():
                await on_member_end(conn, event, status)
            return
        except ConcurrencyError as exc:
            if attempt == MEMBER_END_TRIES:
                message = f"the group run of run {event.aggregate_id} changed concurrently on each of {attempt} tries"
                raise MemberEndContendedError(message) from exc
            log.info("group run changed concurrently; deciding the member run's end again", extra=fields)


async def _follow_notifications(conn: Conn, event: RunEvent | RunStopRequested, status: RunStatus) -> None:
    """A request keeps its frozen settings when they may notify; its end queues the deliveries they ask for.

    Both happen only when the run's status moved, so a redelivered event decides nothing twice.
    """
    if isinstance(event, RunRequested):
        request = event.payload
        settings = request.definition.notifications
        if keeps(settings):
            await notifications.keep_settings(conn, request.job_id, request.run_id, request.definition.name, settings)
        return
    ended: object = getattr(event, "payload")  # noqa: B009 - every concrete run event has one
    if not isinstance(ended, RunEndedPayload):  # a start, a retry, a skip (the run never ran)
        return
    kept = await notifications.take_settings(conn, ended.job_id, ended.run_id)
    if kept is not None:
        name, settings = kept
        await notifications.enqueue(conn, job_run_notice(name, status, ended), deliveries(settings, status))
