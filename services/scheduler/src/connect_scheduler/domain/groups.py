"""The group aggregate (spec §7.3): fold a group's stream into `GroupState`, and decide what create, update and
delete produce (group runs: `domain/group_runs.py`).

A group's stream holds its definition events and its group runs' events, as a job's stream holds its runs, so
run ids, idempotency keys and stops are decided against the same state (and the same optimistic lock) as
edits. The group's `version` counts definition events only: it is what clients send back as
`expected_version`. Each group run (`GroupID.RunID`) numbers its own events from 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from uuid import UUID

from connect_events import (
    CreateGroup,
    DeleteGroup,
    Event,
    FieldError,
    GroupCreated,
    GroupDefined,
    GroupDefinition,
    GroupDeleted,
    GroupDeletedPayload,
    GroupRunEnded,
    GroupRunMemberRequested,
    GroupRunRequested,
    GroupRunStopRequested,
    GroupUpdated,
    OnDemand,
    RefusalReason,
    RunStatus,
    UpdateGroup,
    group_run_key,
)
from connect_events.values import control_problem, job_name_problem, storable_problem
from connect_runtime.messages import Causation
from connect_scheduler.domain.envelope import envelope
from connect_scheduler.domain.fields import text_errors
from connect_scheduler.domain.jobs import JobState, UnexpectedEventError, is_partner
from connect_scheduler.domain.rejection import Rejected, invalid
from connect_scheduler.domain.schedules import next_fire, schedule_errors
from connect_scheduler.domain.validation import (
    MAX_DESCRIPTION_LENGTH,
    expiration_errors,
    notification_errors,
)

MIN_MEMBERS = 2
# A group run's events list every member: far more would outgrow a Kafka record, and no one orders that many.
MAX_MEMBERS = 100

Problems = list[tuple[FieldError, RefusalReason]]


@dataclass(frozen=True)
class GroupRunState:
    """One group run: its members (frozen at request time), the runs of those requested so far in order
    (`member_runs[i]` is the run of `members[i]`), whether a stop was asked for, and how it ended (None: in
    progress)."""

    run_id: int
    members: tuple[int, ...]
    started_at: datetime
    correlation_id: UUID
    version: int = 1
    member_runs: tuple[int, ...] = ()
    stop_requested: bool = False
    ended: RunStatus | None = None

    @property
    def in_progress(self) -> bool:
        """Whether the group run has not ended."""
        return self.ended is None

    @property
    def position(self) -> int:
        """The member requested last (0-based); -1 before the first."""
        return len(self.member_runs) - 1

    @property
    def member_run_id(self) -> int | None:
        """The run of the member requested last, if any."""
        return self.member_runs[-1] if self.member_runs else None


@dataclass(frozen=True)
class GroupState:
    """What decisions about one group need to know; `run` is its last requested group run, the only one that
    can be in progress (a group runs once at a time; a skipped group run never starts)."""

    group_id: int
    definition: GroupDefinition
    version: int = 1
    deleted: bool = False
    last_run_id: int = 0
    idempotency_keys: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    stops_requested: frozenset[int] = frozenset()
    run: GroupRunState | None = None


def evolve(state: GroupState | None, event: Event) -> GroupState:
    """The group after `event`."""
    if isinstance(event, GroupCreated):
        return GroupState(group_id=event.payload.group_id, definition=event.payload.definition)
    if state is None:
        raise UnexpectedEventError(f"{type(event).__name__} before group.created")
    match event:
        case GroupUpdated():
            return replace(state, version=state.version + 1, definition=event.payload.definition)
        case GroupDeleted():
            return replace(state, version=state.version + 1, deleted=True)
        case GroupRunRequested():
            return _run_requested(state, event)
        case GroupRunMemberRequested():
            return _with_run(state, _member_requested(_run_of(state, event.payload.run_id), event))
        case GroupRunStopRequested():
            run = replace(_run_of(state, event.payload.run_id), stop_requested=True)
            return _with_run(replace(state, stops_requested=state.stops_requested | {run.run_id}), run)
        case GroupRunEnded() if event.payload.run_id == state.last_run_id + 1:
            return replace(state, last_run_id=event.payload.run_id)  # born ended: a fire that met a group run
        case GroupRunEnded():
            return _with_run(state, replace(_run_of(state, event.payload.run_id), ended=event.payload.status))
    raise UnexpectedEventError(f"a group stream cannot hold {type(event).__name__}")


def _run_requested(state: GroupState, event: GroupRunRequested) -> GroupState:
    p = event.payload
    keys = dict(state.idempotency_keys)
    if p.idempotency_key is not None:
        keys[p.idempotency_key] = p.run_id
    run = GroupRunState(
        run_id=p.run_id, members=p.members, started_at=event.occurred_at, correlation_id=event.correlation_id
    )
    return replace(state, last_run_id=p.run_id, idempotency_keys=MappingProxyType(keys), run=run)


def _member_requested(run: GroupRunState, event: GroupRunMemberRequested) -> GroupRunState:
    p = event.payload
    if p.position != run.position + 1:
        raise UnexpectedEventError(f"member {p.position + 1} requested after member {run.position + 1}")
    return replace(run, member_runs=(*run.member_runs, p.member_run_id))


def _run_of(state: GroupState, run_id: int) -> GroupRunState:
    if state.run is None or state.run.run_id != run_id:
        raise UnexpectedEventError(f"group run {group_run_key(state.group_id, run_id)} is not the last one")
    return state.run


def _with_run(state: GroupState, run: GroupRunState) -> GroupState:
    """The state with `run`'s next event counted."""
    return replace(state, run=replace(run, version=run.version + 1))


def fold(events: Iterable[Event], state: GroupState | None = None) -> GroupState | None:
    """`state` after all of `events` (None: the group never existed)."""
    for event in events:
        state = evolve(state, event)
    return state


def members_to_check(definition: GroupDefinition) -> tuple[int, ...]:
    """The distinct jobs whose state the definition's rules read; none when there are too many to be a group."""
    return () if len(definition.members) > MAX_MEMBERS else tuple(dict.fromkeys(definition.members))


def decide_create_group(
    group_id: int,
    cmd: CreateGroup,
    jobs: Mapping[int, JobState | None],
    groups_of: Mapping[int, int],
    name_owner: int | None,
    now: datetime,
    causation: Causation,
    *,
    allow_private_webhooks: bool = False,
) -> list[Event]:
    """A new group `group_id`, refused with every error at once when its definition breaks a rule.

    `jobs` holds the state of each job in `members_to_check` (None: never existed), `groups_of` the group each
    of them is in, `name_owner` the group holding the name case-insensitively.
    """
    definition = cmd.payload.definition
    problems = definition_problems(definition, None, jobs, groups_of, name_owner, now, allow_private_webhooks)
    _refuse(problems, "the group")
    payload = GroupDefined(group_id=group_id, definition=definition, next_run_at=next_fire(definition.schedule, now))
    return [GroupCreated(**envelope(causation, 0, str(group_id), 1), payload=payload)]


def decide_update_group(
    state: GroupState | None,
    cmd: UpdateGroup,
    jobs: Mapping[int, JobState | None],
    groups_of: Mapping[int, int],
    name_owner: int | None,
    now: datetime,
    causation: Causation,
    *,
    allow_private_webhooks: bool = False,
) -> list[Event]:
    """Replace a group's definition at the version the edit was based on; a group run in progress keeps the
    members it was requested with."""
    group = live_group(state, cmd.payload.group_id)
    _expect_version(group, cmd.payload.expected_version)
    definition = cmd.payload.definition
    problems = definition_problems(definition, group.group_id, jobs, groups_of, name_owner, now, allow_private_webhooks)
    _refuse(problems, f"group {group.group_id}")
    next_run_at = next_fire(definition.schedule, now)
    payload = GroupDefined(group_id=group.group_id, definition=definition, next_run_at=next_run_at)
    return [GroupUpdated(**_next(group, causation), payload=payload)]


def decide_delete_group(state: GroupState | None, cmd: DeleteGroup, causation: Causation) -> list[Event]:
    """Delete a group by a user's request; its jobs stay, and a group run in progress goes on to its end."""
    group = live_group(state, cmd.payload.group_id)
    _expect_version(group, cmd.payload.expected_version)
    payload = GroupDeletedPayload(group_id=group.group_id, reason="user")
    return [GroupDeleted(**_next(group, causation), payload=payload)]


def definition_problems(
    definition: GroupDefinition,
    group_id: int | None,
    jobs: Mapping[int, JobState | None],
    groups_of: Mapping[int, int],
    name_owner: int | None,
    now: datetime,
    allow_private_webhooks: bool = False,
) -> Problems:
    """Every problem of `definition` for group `group_id` (None: a new group), each with its refusal reason;
    `allow_private_webhooks`: the operator lets webhooks reach private addresses."""
    problems = _name_problems(definition.name, name_owner, group_id)
    problems += _member_problems(definition.members, group_id, jobs, groups_of)
    errors = _description_errors(definition.description) + schedule_errors(definition.schedule, now, "schedule")
    errors += expiration_errors(definition.expires_at, now)
    errors += notification_errors(definition.notifications, allow_private_webhooks=allow_private_webhooks)
    return problems + [(error, "INVALID_VALUE") for error in errors]


def _refuse(problems: Problems, subject: str) -> None:
    """Refuse with every error; the reason is the most precise one found first."""
    if not problems:
        return
    reason: RefusalReason = next((r for _, r in problems if r != "INVALID_VALUE"), "INVALID_VALUE")
    raise invalid(f"{subject} has {len(problems)} error(s)", [error for error, _ in problems], reason)


def group_name_taken_late(name: str, group_id: int | None) -> Rejected:
    """The refusal of a definition whose name another group claimed after the name was checked: the answer a
    taken name gets (a create when `group_id` is None, else an update)."""
    subject = "the group" if group_id is None else f"group {group_id}"
    return invalid(f"{subject} has 1 error(s)", [_name_taken(name)], "NAME_TAKEN")


def _name_problems(name: str, owner: int | None, group_id: int | None) -> Problems:
    """Group names follow the job-name rule (spec §7.1) and are unique among groups, case-insensitively."""
    if problem := job_name_problem(name):
        blank = not name.strip() and control_problem(name) is None
        return [(FieldError(field="name", message="a group needs a name" if blank else problem), "INVALID_VALUE")]
    if owner is not None and owner != group_id:
        return [(_name_taken(name), "NAME_TAKEN")]
    return []


def _name_taken(name: str) -> FieldError:
    return FieldError(field="name", message=f"a group named {name} already exists")


def _description_errors(description: str) -> list[FieldError]:
    if unfit := text_errors("description", description, storable_problem):
        return unfit
    if len(description) > MAX_DESCRIPTION_LENGTH:
        return [FieldError(field="description", message=f"at most {MAX_DESCRIPTION_LENGTH} characters")]
    return []


def _member_problems(
    members: tuple[int, ...], group_id: int | None, jobs: Mapping[int, JobState | None], groups_of: Mapping[int, int]
) -> Problems:
    """At least two distinct jobs, each listed once, each fit to be a member (spec §7.3)."""
    if len(members) > MAX_MEMBERS:
        return [(FieldError(field="members", message=f"at most {MAX_MEMBERS} jobs"), "INVALID_VALUE")]
    problems: Problems = []
    if len(set(members)) < MIN_MEMBERS:
        message = f"a group needs at least {MIN_MEMBERS} different jobs"
        problems.append((FieldError(field="members", message=message), "GROUP_TOO_SMALL"))
    first_at: dict[int, int] = {}
    for i, job_id in enumerate(members):
        if job_id in first_at:
            message = f"job {job_id} is listed twice (also as members[{first_at[job_id]}])"
            problem: tuple[str, RefusalReason] | None = (message, "GROUP_MEMBER_REPEATED")
        else:
            first_at[job_id] = i
            problem = _member_problem(job_id, jobs.get(job_id), groups_of.get(job_id), group_id)
        if problem is not None:
            problems.append((FieldError(field=f"members[{i}]", message=problem[0]), problem[1]))
    return problems


def _member_problem(
    job_id: int, job: JobState | None, in_group: int | None, group_id: int | None
) -> tuple[str, RefusalReason] | None:
    """Why job `job_id` cannot be a member of group `group_id`; `in_group` is the group it is in now."""
    if job is None or job.deleted:
        return f"job {job_id} {'was deleted' if job else 'does not exist'}", "GROUP_MEMBER_NOT_FOUND"
    if is_partner(job.definition):
        return f"job {job_id} is a partner job", "PARTNER_JOB_NOT_RUNNABLE"
    if not job.active:
        return f"job {job_id} is inactive", "GROUP_MEMBER_INACTIVE"
    if not isinstance(job.definition.schedule, OnDemand):
        return f"job {job_id} runs on a schedule; a member runs on demand only", "GROUP_MEMBER_NOT_ON_DEMAND"
    if in_group is not None and in_group != group_id:
        return f"job {job_id} is already a member of group {in_group}", "GROUP_MEMBER_IN_OTHER_GROUP"
    return None


def existing_group(state: GroupState | None, group_id: int) -> GroupState:
    """The group, deleted or not; refused when it never existed."""
    if state is None:
        raise Rejected("not_found", f"group {group_id} does not exist", reason="GROUP_NOT_FOUND")
    return state


def live_group(state: GroupState | None, group_id: int) -> GroupState:
    """The group; refused when it never existed or was deleted."""
    group = existing_group(state, group_id)
    if group.deleted:
        raise Rejected("not_found", f"group {group_id} was deleted", reason="GROUP_NOT_FOUND")
    return group


def _expect_version(group: GroupState, expected: int | None) -> None:
    """Optimistic concurrency for edits: a change based on an older version is refused, not merged."""
    if expected is not None and expected != group.version:
        message = f"group {group.group_id} is at version {group.version}, not {expected}"
        raise Rejected("conflict", message, reason="STALE_VERSION")


def _next(group: GroupState, causation: Causation) -> dict[str, object]:
    """Envelope of the one definition event a command adds."""
    return envelope(causation, 0, str(group.group_id), group.version + 1)
