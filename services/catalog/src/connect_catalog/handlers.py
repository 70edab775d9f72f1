"""Use cases: apply one event to the read models, exactly once."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol
from uuid import UUID

from connect_catalog.domain.changes import Change, EndRun
from connect_catalog.domain.projection import project, subject_of
from connect_catalog.domain.views import Snapshot, Subject
from connect_catalog.metrics import observe
from connect_events import GROUPS_TOPIC, JOBS_TOPIC, REPLIES_TOPIC, RUNS_TOPIC, TABLES_TOPIC, Event, run_key

log = logging.getLogger(__name__)


class ReadModel(Protocol):
    """The read models as the use case needs them; one instance lives inside one transaction."""

    async def mark_processed(self, event_id: UUID) -> bool:
        """Record the event id; False when it was recorded before."""
        ...

    async def load(self, subject: Subject) -> Snapshot:
        """The current rows the event's projection depends on."""
        ...

    async def apply(self, changes: Sequence[Change]) -> None:
        """Write the changes in order."""
        ...


async def project_event(read_model: ReadModel, event: Event) -> bool:
    """Apply `event` to the read models; False when its id was applied before.

    The outbox relays may republish an event after a crash (under the same id), so de-duplicating by id
    is needed on top of the stored offsets; both happen in the caller's transaction.
    """
    if not await read_model.mark_processed(event.event_id):
        log.info("duplicate event skipped", extra={"event_id": str(event.event_id), "type": event_type(event)})
        return False
    changes = project(event, await read_model.load(subject_of(event)))
    await read_model.apply(changes)
    observe(event, changes)
    for change in changes:
        if isinstance(change, EndRun):  # one line per run in the catalog's log, for following a run across services
            log.info("run ended", extra={"run": run_key(change.job_id, change.run_id), "status": change.status.value})
    return True


def event_type(event: Event) -> str:
    """The event's wire name."""
    return str(getattr(event, "type", type(event).__name__))


EventHandler = Callable[[ReadModel, Event], Awaitable[bool]]

# The topics the catalog projects, and the use case each one's events go to.
HANDLERS: dict[str, EventHandler] = {
    JOBS_TOPIC: project_event,
    TABLES_TOPIC: project_event,
    RUNS_TOPIC: project_event,
    GROUPS_TOPIC: project_event,
    REPLIES_TOPIC: project_event,
}
PROJECTED_TOPICS: tuple[str, ...] = tuple(HANDLERS)
