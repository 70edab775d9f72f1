"""Adapter from `connect.runs` records to the scheduler's view of runs, the notifications their ends owe and
the group runs their ends move on, inside the consumer's transaction.

A batch of records costs a few statements whatever its size (statuses, notification settings and member-run
links are read and written for all its runs at once); only the end of a member run does more.

A member run's end moves its group run on in a savepoint, decided again on a concurrent change to the group
or its next member (a command, a tick): the consumer dead-letters a record that keeps failing, and a run
whose end is dead-lettered would stay running in this view, its job and group run with it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from connect_events import (
    EVENT_STATUS,
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
from connect_scheduler.adapters import group_members, notifications, run_view
from connect_scheduler.adapters.event_store import ConcurrencyError
from connect_scheduler.adapters.run_view import run_of
from connect_scheduler.domain.notifications import deliveries, job_run_notice, keeps
from connect_scheduler.group_handlers import on_member_end

log = logging.getLogger(__name__)

MEMBER_END_TRIES = 20  # decisions of a member run's end, each on freshly loaded state, before the record fails


class PoisonRunRecordError(ValueError):
    """A record on the runs topic that is not a run event; it goes to the dead-letter topic."""


class MemberEndContendedError(RuntimeError):
    """A member run's end met a concurrent change on every one of its `MEMBER_END_TRIES` tries."""


async def on_run_records(conn: Conn, records: Sequence[Record]) -> None:
    """Decode the run events, move their runs' statuses and queue what their ends owe; an event the transition
    table refuses changes nothing.

    A record that does not decode raises: its batch is applied again record by record, and it is retried, then
    dead-lettered with its error.
    """
    # Progress and log entries, frequent while a run goes, and stop requests move no status: they cost no
    # statement (they are still decoded, so that a malformed record is dead-lettered all the same).
    events = [event for event in map(_run_event, records) if _may_move(event)]
    if not events:
        return
    statuses = await run_view.apply_all(conn, events)
    moved = [(event, status) for event, status in zip(events, statuses, strict=True) if status is not None]
    await _follow_notifications(conn, moved)
    ends = [(event, status) for event, status in moved if status in TERMINAL and isinstance(event, RunEvent)]
    members = await group_members.member_runs_among(conn, {run_of(event) for event, _ in ends})
    for event, status in ends:
        if run_of(event) in members:
            await _move_group_run(conn, event, status)


async def on_run_record(conn: Conn, record: Record) -> None:
    """`on_run_records` of one record."""
    await on_run_records(conn, [record])


def _may_move(event: RunEvent | RunStopRequested) -> bool:
    """Whether the event is of a type that moves a run's status (`status_after` may still refuse it)."""
    return getattr(event, "type") in EVENT_STATUS  # noqa: B009 - every concrete event pins `type`


def _run_event(record: Record) -> RunEvent | RunStopRequested:
    if record.value is None:
        raise PoisonRunRecordError(f"empty record at offset {record.offset}")
    event = decode(RUNS_TOPIC, record.value)
    if not isinstance(event, RunEvent | RunStopRequested):
        raise PoisonRunRecordError(f"{type(event).__name__} is not a run event")
    return event


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


async def _follow_notifications(conn: Conn, moved: Sequence[tuple[RunEvent | RunStopRequested, RunStatus]]) -> None:
    """A request keeps its frozen settings when they may notify; its end queues the deliveries they ask for.
    A dry run notifies no one: it tests the job and writes nothing, so its end is no news of the data.

    Both happen only when the run's status moved, so a redelivered event decides nothing twice. Every request
    is kept before any end is taken: a run's request comes before its end, in a batch too.
    """
    ended: list[tuple[RunEndedPayload, RunStatus]] = []
    for event, status in moved:
        if isinstance(event, RunRequested):
            asked = event.payload
            settings = asked.definition.notifications
            if keeps(settings) and not asked.dry_run:
                await notifications.keep_settings(conn, asked.job_id, asked.run_id, asked.definition.name, settings)
        # Any other event that moved a run is a start, a retry, a skip (the run never ran) or an end.
        elif isinstance(payload := getattr(event, "payload"), RunEndedPayload):  # noqa: B009 - all have one
            ended.append((payload, status))
    kept = await notifications.take_settings(conn, {(payload.job_id, payload.run_id) for payload, _ in ended})
    for payload, status in ended:
        if (found := kept.get((payload.job_id, payload.run_id))) is not None:
            name, settings = found
            await notifications.enqueue(conn, job_run_notice(name, status, payload), deliveries(settings, status))
