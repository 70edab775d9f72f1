"""From an event and the rows it touches, the read-model changes it causes (as data)."""

from __future__ import annotations

from connect_catalog.domain.changes import Change
from connect_catalog.domain.commands import project_reply
from connect_catalog.domain.jobs import project_job, project_table
from connect_catalog.domain.runs import project_run
from connect_catalog.domain.storable import storable
from connect_catalog.domain.views import Snapshot, Subject
from connect_events import Event, JobEvent, ReplyEvent, RunEvent, RunStopRequested, TableDefined


def subject_of(event: Event) -> Subject:
    """The job or run rows whose current state decides what `event` changes (none for tables and replies)."""
    if isinstance(event, JobEvent):
        return Subject(job_id=int(getattr(event, "payload").job_id))  # noqa: B009 - every job event names it
    if isinstance(event, RunEvent | RunStopRequested):
        payload = getattr(event, "payload")  # noqa: B009 - every run event names its run
        return Subject(run=(int(payload.job_id), int(payload.run_id)))
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
    if isinstance(event, TableDefined):
        return project_table(event)
    if isinstance(event, ReplyEvent):
        return project_reply(event)
    return ()
