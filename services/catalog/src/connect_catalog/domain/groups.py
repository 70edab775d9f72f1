"""Projection rules for group events: the group row, its members, its group runs and their logs.

A group's definition and run events share one partition (keyed by group id), so they arrive in order; outbox
relays may republish, so each aggregate only moves forward (its version), and a group run's ended status is
final. Member runs' own statuses come from `connect.runs` and are joined at read time.
"""

from __future__ import annotations

from connect_catalog.domain.changes import (
    AddGroupRunMember,
    Change,
    EndGroupRun,
    GroupFields,
    GroupLogLine,
    InsertGroup,
    InsertGroupRun,
    LogLevel,
    MarkGroupDeleted,
    MarkGroupRunStopRequested,
    SetGroupLastRun,
    SetGroupMembers,
    UpdateGroupDefinition,
)
from connect_catalog.domain.definitions import definition_fields, edit_of, is_news
from connect_catalog.domain.runs import missed_text, span, utc
from connect_catalog.domain.views import GroupRunView, GroupView
from connect_events import (
    TERMINAL,
    GroupCreated,
    GroupDefined,
    GroupDeleted,
    GroupEvent,
    GroupRunEnded,
    GroupRunEndedPayload,
    GroupRunEvent,
    GroupRunMemberRequested,
    GroupRunRequested,
    GroupRunStopRequested,
    GroupUpdated,
    RunStatus,
    run_key,
)


def group_fields(payload: GroupDefined) -> GroupFields:
    """The group columns a definition determines, and its next fire."""
    return GroupFields(**vars(definition_fields(payload.definition)), next_run_at=payload.next_run_at)


def project_group(event: GroupEvent, group: GroupView | None) -> tuple[Change, ...]:
    """The changes a group definition event makes to `groups` and `group_members`."""
    if not is_news(event, group):
        return ()
    edit, at = edit_of(event), event.occurred_at
    match event:
        case GroupCreated(payload=p):
            members = p.definition.members
            return InsertGroup(p.group_id, group_fields(p), edit), SetGroupMembers(p.group_id, members, at)
        case GroupUpdated(payload=p):
            members = p.definition.members
            return UpdateGroupDefinition(p.group_id, group_fields(p), edit), SetGroupMembers(p.group_id, members, at)
        case GroupDeleted(payload=p):
            return MarkGroupDeleted(p.group_id, p.reason, edit), SetGroupMembers(p.group_id, (), at)
    return ()


def group_status_after(current: GroupRunView | None, event: GroupRunEvent) -> RunStatus | None:
    """The group run's status after `event`, or None when the event does not move it: a request makes a new run
    running (its first member starts at once), an end makes a run not yet ended final (a skipped run is born
    ended); anything else, or anything after the end, moves nothing."""
    match event:
        case GroupRunRequested():
            return RunStatus.RUNNING if current is None else None
        case GroupRunEnded(payload=p):
            return p.status if current is None or current.status not in TERMINAL else None
    return None


def project_group_run(event: GroupRunEvent, run: GroupRunView | None) -> tuple[Change, ...]:
    """The changes a group run event makes to `group_runs`, `group_run_members`, `group_run_log` and `groups`."""
    if run is not None and event.aggregate_version <= run.version:
        return ()
    match event:
        case GroupRunRequested():
            return _requested(event, run)
        case GroupRunMemberRequested(payload=p) if run is not None and not run.ended:
            line = f"Member {p.position + 1} started as run {run_key(p.job_id, p.member_run_id)}"
            started = (p.position, p.job_id, p.member_run_id)
            member = AddGroupRunMember(p.group_id, p.run_id, event.aggregate_version, *started)
            return member, GroupLogLine(p.group_id, p.run_id, event.occurred_at, "INFO", line)
        case GroupRunStopRequested():
            return _stop_requested(event, run)
        case GroupRunEnded():
            return _ended(event, run)
    return ()


def _requested(event: GroupRunRequested, run: GroupRunView | None) -> tuple[Change, ...]:
    if group_status_after(run, event) is None:
        return ()
    p, at = event.payload, event.occurred_at
    scheduled_for = None if p.scheduled_for is None else utc(p.scheduled_for)
    members = ", ".join(str(m) for m in p.members)
    changes: list[Change] = [
        InsertGroupRun(
            p.group_id,
            p.run_id,
            p.group_name,
            RunStatus.RUNNING,
            p.trigger,
            p.members,
            event.aggregate_version,
            at,
            scheduled_for,
        ),
        SetGroupLastRun(p.group_id, p.run_id, scheduled_for or at, p.next_run_at, scheduled_for is not None),
        GroupLogLine(p.group_id, p.run_id, at, "INFO", f"Group run requested ({p.trigger}); members {members}"),
    ]
    if p.missed_fires > 0:
        changes.append(GroupLogLine(p.group_id, p.run_id, at, "WARN", missed_text(p.missed_fires)))
    return tuple(changes)


def _stop_requested(event: GroupRunStopRequested, run: GroupRunView | None) -> tuple[Change, ...]:
    """Who asked the group run to stop (the scheduler refuses a stop after the end, so none follows it)."""
    if run is None or run.ended:
        return ()
    p = event.payload
    line = GroupLogLine(p.group_id, p.run_id, event.occurred_at, "INFO", f"Stop requested by {event.actor}")
    return MarkGroupRunStopRequested(p.group_id, p.run_id, event.aggregate_version), line


def _ended(event: GroupRunEnded, run: GroupRunView | None) -> tuple[Change, ...]:
    """The group run's one final status with a closing log line; a skipped run is born here, ended."""
    status = group_status_after(run, event)
    if status is None:
        return ()
    p, at = event.payload, event.occurred_at
    times = span(p.started_at, p.finished_at)
    changes: list[Change] = []
    if run is None:
        trigger, started_at = p.trigger or "schedule", times.started_at
        born = InsertGroupRun(p.group_id, p.run_id, None, status, trigger, (), event.aggregate_version, at, started_at)
        last = SetGroupLastRun(p.group_id, p.run_id, started_at, p.next_run_at, scheduled=p.trigger == "schedule")
        changes += [born, last]
    failed = (p.failed_job_id, p.failed_run_id, p.error)
    end = EndGroupRun(p.group_id, p.run_id, event.aggregate_version, status, times, *failed)
    level, text = _closing_line(event)
    return (*changes, end, GroupLogLine(p.group_id, p.run_id, at, level, text))


def _failed_member(p: GroupRunEndedPayload) -> str | None:
    """The member that did not succeed: its run `JobID.RunID`, or its job when its run never started."""
    if p.failed_job_id is None:
        return None
    return f"job {p.failed_job_id}" if p.failed_run_id is None else run_key(p.failed_job_id, p.failed_run_id)


def _closing_line(event: GroupRunEnded) -> tuple[LogLevel, str]:
    """The group run's last log line: how it ended and, when it did not succeed, at which member."""
    p, failed = event.payload, _failed_member(event.payload)
    at = "" if failed is None else f" at {failed}"
    match p.status:
        case RunStatus.SUCCEEDED:
            return "INFO", "Succeeded: every member succeeded"
        case RunStatus.STOPPED:
            return "WARN", f"Stopped{at}; the rest did not start"
        case RunStatus.SKIPPED:
            return "WARN", f"Skipped: {p.error or 'a group run was still running'}"
    return "ERROR", f"Failed{at}: {p.error or 'a member did not succeed'}; the rest did not start"
