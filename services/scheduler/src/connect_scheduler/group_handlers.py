"""Group use cases (spec §7.3): create, update and delete groups, run one now, stop a group run (registered in
`handlers.COMMAND_HANDLERS`), and move a group run on when one of its member runs ends (`on_member_end`,
called by the runs consumer).

Everything runs in the caller's transaction: a command's, or the runs consumer's with the record's offset.
Group and group-run events go to the group's stream; a member's run request or stop goes to its job's stream
(under the job's optimistic lock, like a run-now), and the member run is linked to its group run. Wherever a
group run ends, the notifications its group asks for are queued with the end (spec §7.5).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from connect_events import (
    CreateGroup,
    DeleteGroup,
    Event,
    GroupDefinition,
    GroupRunEnded,
    RunEvent,
    RunFailed,
    RunGroupNow,
    RunRequested,
    RunStatus,
    RunStopRequested,
    StopGroupRun,
    UpdateGroup,
)
from connect_events.runs import RunPayload
from connect_runtime import outbox
from connect_runtime.db import Conn
from connect_runtime.messages import Causation
from connect_scheduler.adapters import due, event_store, group_members, group_store, notifications
from connect_scheduler.adapters.group_store import group_stream
from connect_scheduler.adapters.job_names import NameTakenError
from connect_scheduler.adapters.job_store import append_job, load_job
from connect_scheduler.adapters.run_view import run_in_progress
from connect_scheduler.adapters.targets import Targets
from connect_scheduler.domain.group_fires import decide_group_due, group_fire_is_due
from connect_scheduler.domain.group_runs import (
    MemberEnd,
    MemberFacts,
    current_member,
    decide_after_member,
    decide_run_group_now,
    decide_stop_group_run,
    first_member,
    member_to_start,
    requested_group_run_id,
)
from connect_scheduler.domain.groups import (
    GroupState,
    decide_create_group,
    decide_delete_group,
    decide_update_group,
    fold,
    group_name_taken_late,
    members_to_check,
)
from connect_scheduler.domain.jobs import JobState
from connect_scheduler.domain.notifications import deliveries, group_run_notice
from connect_scheduler.domain.rejection import bounded_text
from connect_scheduler.domain.slots import Decision, Due
from connect_scheduler.outcome import Outcome
from connect_scheduler.policy import Policy

log = logging.getLogger(__name__)

# A member's facts and its job stream's version, which its run request or stop is appended after.
Loaded = tuple[MemberFacts, int]


async def create_group(conn: Conn, cmd: CreateGroup, causation: Causation, policy: Policy) -> Outcome:
    """Create a group under the next group id (given back by the savepoint if the group is refused)."""
    definition = cmd.payload.definition
    members, groups = await _members(conn, definition)
    owner = await group_store.name_owner(conn, definition.name)
    group_id = await group_store.next_group_id(conn)
    private = policy.allow_private_webhooks
    events = decide_create_group(
        group_id, cmd, members, groups, owner, causation.occurred_at, causation, allow_private_webhooks=private
    )
    return await _store_definition(conn, group_id, 0, None, events, new=True)


async def update_group(conn: Conn, cmd: UpdateGroup, causation: Causation, policy: Policy) -> Outcome:
    """Replace a group's definition: its name and its members."""
    group_id, definition = cmd.payload.group_id, cmd.payload.definition
    state, version = await load_group(conn, group_id)
    members, groups = await _members(conn, definition)
    owner = await group_store.name_owner(conn, definition.name)
    private = policy.allow_private_webhooks
    events = decide_update_group(
        state, cmd, members, groups, owner, causation.occurred_at, causation, allow_private_webhooks=private
    )
    return await _store_definition(conn, group_id, version, state, events, new=False)


async def delete_group(conn: Conn, cmd: DeleteGroup, causation: Causation, policy: Policy) -> Outcome:
    """Delete a group; its jobs leave it and stay, its name is free again (its id never is)."""
    group_id = cmd.payload.group_id
    state, version = await load_group(conn, group_id)
    events = decide_delete_group(state, cmd, causation)
    after = await _append_group(conn, group_id, version, state, events)
    await _leave(conn, after, causation.occurred_at)
    return Outcome(events, "group", str(group_id), after.version)


async def run_group_now(conn: Conn, cmd: RunGroupNow, causation: Causation, policy: Policy) -> Outcome:
    """Request a group run and start its first member; reply with the group run id."""
    group_id = cmd.payload.group_id
    state, version = await load_group(conn, group_id)
    first = await _member_facts(conn, first_member(state))
    events = decide_run_group_now(state, cmd, _facts(first), causation.occurred_at, causation)
    after = await _store_run_events(conn, group_id, version, state, events, first)
    await _follow_ends(conn, after, events)
    return Outcome(events, "group", str(group_id), after.version, run_id=requested_group_run_id(after, cmd))


async def stop_group_run(conn: Conn, cmd: StopGroupRun, causation: Causation, policy: Policy) -> Outcome:
    """Ask a group run in progress, and its member in progress, to stop."""
    group_id, run_id = cmd.payload.group_id, cmd.payload.run_id
    state, version = await load_group(conn, group_id)
    member = await _member_facts(conn, current_member(state, run_id))
    events = decide_stop_group_run(state, cmd, _facts(member), causation)
    after = await _store_run_events(conn, group_id, version, state, events, member)
    return Outcome(events, "group", str(group_id), after.version, run_id=run_id)


async def on_member_end(conn: Conn, event: RunEvent, status: RunStatus, now: datetime | None = None) -> None:
    """A run reached terminal `status` on `connect.runs`: if it is a member run, start the next member or end
    its group run, queueing the events in the consumer's transaction. Called once per run end (the run view
    moved its status), so a redelivered event decides nothing twice."""
    payload: RunPayload = getattr(event, "payload")  # noqa: B009 - every concrete run event names its run
    job_id, run_id = payload.job_id, payload.run_id
    link = await group_members.group_run_of(conn, job_id, run_id)
    if link is None:
        return
    group_id = link[0]
    state, version = await load_group(conn, group_id)
    error = bounded_text(event.payload.error) if isinstance(event, RunFailed) else None
    end = MemberEnd(job_id=job_id, run_id=run_id, status=status, error=error)
    following = await _member_facts(conn, member_to_start(state, end))
    at = now or datetime.now(UTC)
    events = decide_after_member(state, end, _facts(following), event.event_id, at)
    if not events:
        return
    after = await _store_run_events(conn, group_id, version, state, events, following)
    await outbox.append(conn, events)
    await _follow_ends(conn, after, events, status)


async def record_group_due(conn: Conn, row: Due, now: datetime) -> Decision:
    """Record what a claimed group due row leads to at `now` (a fire, a skip, an expiry) in the group's stream
    and, for a started member, its job's; the caller queues the events and stores the row's next slot."""
    state, version = await load_group(conn, row.id)
    first = await _member_facts(conn, first_member(state)) if group_fire_is_due(state, row, now) else None
    decision = decide_group_due(state, row, _facts(first), now)
    if decision.events:
        after = await _store_run_events(conn, row.id, version, state, decision.events, first)
        if decision.outcome == "expired":
            await _leave(conn, after, now)
        await _follow_ends(conn, after, decision.events)
    return decision


async def load_group(conn: Conn, group_id: int) -> tuple[GroupState | None, int]:
    """The group's state and its stream version."""
    history, version = await event_store.load(conn, group_stream(group_id))
    return fold(history), version


async def _members(conn: Conn, definition: GroupDefinition) -> tuple[Mapping[int, JobState | None], Mapping[int, int]]:
    """The state of each job the definition names and the group each is in, under their membership locks."""
    job_ids = members_to_check(definition)
    await group_members.lock_jobs(conn, job_ids)
    states = {job_id: (await load_job(conn, job_id))[0] for job_id in job_ids}
    return states, await group_members.groups_of(conn, job_ids)


async def _member_facts(conn: Conn, job_id: int | None) -> Loaded | None:
    """What a decision needs of member `job_id` (None: the decision needs no member)."""
    if job_id is None:
        return None
    job, version = await load_job(conn, job_id)
    if job is None:
        return MemberFacts(job_id=job_id, job=None), version
    target = await Targets(conn).of(job.definition.settings)
    return MemberFacts(job_id=job_id, job=job, target=target, running=await run_in_progress(conn, job)), version


def _facts(loaded: Loaded | None) -> MemberFacts | None:
    return None if loaded is None else loaded[0]


async def _store_definition(
    conn: Conn, group_id: int, version: int, state: GroupState | None, events: Sequence[Event], *, new: bool
) -> Outcome:
    """Append a saved definition's events, claim its name and its members; if another group took the name
    since it was checked, refuse as if it had been seen taken."""
    after = await _append_group(conn, group_id, version, state, events)
    try:
        await group_store.claim_name(conn, group_id, after.definition.name)
    except NameTakenError as exc:
        raise group_name_taken_late(after.definition.name, None if new else group_id) from exc
    await group_members.set_members(conn, group_id, after.definition.members)
    await due.reschedule_group(conn, after, events[-1].occurred_at)
    return Outcome(events, "group", str(group_id), after.version)


async def _store_run_events(
    conn: Conn,
    group_id: int,
    version: int,
    state: GroupState | None,
    events: Sequence[Event],
    member: Loaded | None,
) -> GroupState:
    """Append a member's run request or stop to its job's stream (after the version its facts were read at,
    linking a requested run to its group run) and the rest to the group's stream."""
    for event in events:
        if isinstance(event, RunRequested | RunStopRequested):
            assert member is not None and member[0].job_id == event.payload.job_id, "decided on the member's facts"
            await append_job(conn, member[0].job_id, member[1], [event])
        if isinstance(event, RunRequested) and (group_run_id := event.payload.group_run_id) is not None:
            await group_members.link_run(conn, event.payload.job_id, event.payload.run_id, group_id, group_run_id)
    group_events = [e for e in events if not isinstance(e, RunRequested | RunStopRequested)]
    return await _append_group(conn, group_id, version, state, group_events)


async def _append_group(
    conn: Conn, group_id: int, version: int, state: GroupState | None, events: Sequence[Event]
) -> GroupState:
    await event_store.append(conn, group_stream(group_id), version, events)
    after = fold(events, state)
    assert after is not None, "an accepted group command leaves a group"
    return after


async def _leave(conn: Conn, group: GroupState, now: datetime) -> None:
    """A deleted group frees its name and its jobs, and wakes the scheduler no more."""
    await group_store.release_name(conn, group.group_id)
    await group_members.set_members(conn, group.group_id, ())
    await due.reschedule_group(conn, group, now)


async def _follow_ends(
    conn: Conn, group: GroupState, events: Sequence[Event], last_member: RunStatus = RunStatus.SUCCEEDED
) -> None:
    """Log each group run end among `events` and queue the notifications the group's settings ask for, once
    per group run and channel; `group` is the state after `events`, `last_member` how the member run last
    started ended (`notifications.group_run_notice`)."""
    for event in events:
        if isinstance(event, GroupRunEnded):
            p = event.payload
            fields = {"group_run": event.aggregate_id, "status": p.status.value, "failed_job_id": p.failed_job_id}
            log.info("group run ended", extra=fields)
            if owed := deliveries(group.definition.notifications, p.status):
                await notifications.enqueue(conn, group_run_notice(group, p, last_member), owed)
