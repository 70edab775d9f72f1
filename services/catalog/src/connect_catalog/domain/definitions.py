"""What the job and group projections share: the columns a definition determines, who made an edit, and which
events move a projected job or group forward."""

from __future__ import annotations

from connect_catalog.domain.changes import DefinitionFields, Edit
from connect_catalog.domain.views import GroupView, JobView
from connect_events import GroupCreated, GroupDefinition, GroupEvent, JobCreated, JobDefinition, JobEvent


def definition_fields(definition: JobDefinition | GroupDefinition) -> DefinitionFields:
    """The columns any definition determines, a job's or a group's."""
    return DefinitionFields(
        name=definition.name,
        description=definition.description,
        schedule_type=definition.schedule.kind,
        definition_json=definition.model_dump_json(),
        expires_at=definition.expires_at,
    )


def edit_of(event: JobEvent | GroupEvent) -> Edit:
    """Who made `event`'s change, when, and the version it reached."""
    return Edit(event.aggregate_version, event.occurred_at, event.actor)


def is_news(event: JobEvent | GroupEvent, current: JobView | GroupView | None) -> bool:
    """Whether `event` moves the projected job or group forward.

    Its events arrive in version order (one partition, one relay); this guard only makes the projection
    monotonic, so an older event republished under a new id can never roll it back.
    """
    if isinstance(event, JobCreated | GroupCreated):
        return current is None
    return current is not None and event.aggregate_version > current.version
