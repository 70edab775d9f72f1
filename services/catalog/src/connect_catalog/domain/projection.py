"""From an event and the rows it touches, the read-model changes it causes (as data)."""

from __future__ import annotations

from connect_catalog.domain.changes import Change
from connect_catalog.domain.commands import project_reply
from connect_catalog.domain.groups import project_group, project_group_run
from connect_catalog.domain.jobs import project_job, project_table
from connect_catalog.domain.lists import project_audience, project_list
from connect_catalog.domain.runs import project_run
from connect_catalog.domain.storable import storable
from connect_catalog.domain.views import Snapshot, Subject
from connect_events import (
    AudienceEvent,
    Event,
    GroupEvent,
    GroupRunEvent,
    JobEvent,
    ListEvent,
    PetEvent,
    ReplyEvent,
    RunEvent,
    RunStopRequested,
    TableDefined,
)


def subject_of(event: Event) -> Subject:
    """The job, run, group or group run rows whose current state decides what `event` changes (none for tables,
    lists, PETs and replies)."""
    if isinstance(event, JobEvent):
        return Subject(job_id=int(getattr(event, "payload").job_id))  # noqa: B009 - every job event names it
    if isinstance(event, RunEvent | RunStopRequested):
        payload = getattr(event, "payload")  # noqa: B009 - every run event names its run
        return Subject(run=(int(payload.job_id), int(payload.run_id)))
    if isinstance(event, GroupEvent):
        return Subject(group_id=int(getattr(event, "payload").group_id))  # noqa: B009 - every group event names it
    if isinstance(event, GroupRunEvent):
        payload = getattr(event, "payload")  # noqa: B009 - every group run event names its group run
        return Subject(group_run=(int(payload.group_id), int(payload.run_id)))
    return Subject()


def project(event: Event, current: Snapshot) -> tuple[Change, ...]:
    """The changes `event` makes, given the current rows of its subject; () when it changes nothing.

    Every text is made storable first (NUL and unpaired surrogates become U+FFFD): the one place where
    values on their way into PostgreSQL are repaired, so no event is refused for a character.
    """
    event = storable(event)
    if isinstance(event, JobEvent):
        return project_job(event, current.job)
    if isinstance(event, RunEvent | RunStopRequested):
        return project_run(event, current.run)
    if isinstance(event, GroupEvent):
        return project_group(event, current.group)
    if isinstance(event, GroupRunEvent):
        return project_group_run(event, current.group_run)
    if isinstance(event, TableDefined):
        return project_table(event)
    if isinstance(event, ListEvent | PetEvent):
        return project_list(event)
    if isinstance(event, AudienceEvent):
        return project_audience(event)
    if isinstance(event, ReplyEvent):
        return project_reply(event)
    return ()
