"""Given/when/then for group runs: run now, the sequencing of members (success, failure, skip, stop) and stopping
a group run."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from connect_events import (
    Event,
    FieldError,
    GroupRunEnded,
    GroupRunMemberRequested,
    GroupRunRequested,
    GroupRunStopRequested,
    RunGroupNow,
    RunGroupNowPayload,
    RunRequested,
    RunStatus,
    RunStopRequested,
    StopGroupRun,
    StopGroupRunPayload,
)
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
from connect_scheduler.domain.groups import fold
from connect_scheduler.domain.rejection import Rejected
from tests.unit.scheduler.group_builders import (
    GROUP,
    RUN_CORRELATION,
    at_member,
    deleted_job,
    facts,
    group_created,
    group_definition,
    group_deleted,
    group_run_ended,
    group_run_requested,
    group_stop_requested,
    inactive_job,
    job,
    running_job,
)
from tests.unit.scheduler.scheduler_builders import (
    ACTOR,
    T0,
    causation,
    customers,
    meta,
    run_requested,
    stop_requested,
)

LATER = T0 + timedelta(minutes=5)
CAUSE = UUID("00000000-0000-0000-0000-0000000000e1")


def run_now(key: str | None = None) -> RunGroupNow:
    return RunGroupNow(**meta(), payload=RunGroupNowPayload(group_id=GROUP, idempotency_key=key))


def when_run_now(history: list[Event], cmd: RunGroupNow, first: MemberFacts | None = None) -> list[Event]:
    return decide_run_group_now(fold(history), cmd, first or facts(1), T0, causation(cmd))


def group_stream(events: list[Event]) -> list[Event]:
    """The events a decision appends to the group's stream (member runs and stops go to their job's)."""
    return [e for e in events if e.aggregate_type in ("group", "group_run")]


def refusal(call: object) -> Rejected:
    with pytest.raises(Rejected) as caught:
        call()  # type: ignore[operator]
    return caught.value


class TestRunGroupNow:
    def test_requests_the_group_run_and_its_first_members_run_at_once(self) -> None:
        cmd = run_now("daily-1")
        first = facts(1, running_job(1, 4), running=None)  # runs 1.1 to 1.4 ended before

        requested, member_run, member = when_run_now([group_created()], cmd, first)

        assert isinstance(requested, GroupRunRequested)
        assert (requested.aggregate_type, requested.aggregate_id, requested.aggregate_version) == (
            "group_run",
            "7.1",
            1,
        )
        assert (requested.partition_key, requested.event_id, requested.actor) == (
            "7",
            causation(cmd).event_id(0),
            ACTOR,
        )
        p = requested.payload
        assert (p.group_id, p.run_id, p.trigger, p.group_name, p.members, p.idempotency_key) == (
            GROUP,
            1,
            "manual",
            "Morning loads",
            (1, 2, 3),
            "daily-1",
        )
        assert isinstance(member_run, RunRequested)
        assert (member_run.aggregate_id, member_run.event_id, member_run.correlation_id) == (
            "1.5",
            causation(cmd).event_id(1),
            cmd.correlation_id,
        )
        r = member_run.payload
        assert (r.trigger, r.group_id, r.group_run_id, r.idempotency_key, r.table) == (
            "group",
            GROUP,
            1,
            None,
            customers(),
        )
        assert isinstance(member, GroupRunMemberRequested)
        assert (member.aggregate_id, member.aggregate_version, member.event_id) == (
            "7.1",
            2,
            causation(cmd).event_id(2),
        )
        assert (member.payload.position, member.payload.job_id, member.payload.member_run_id) == (0, 1, 5)

    def test_group_run_ids_count_per_group(self) -> None:
        history = [group_created(), group_run_requested(1), group_run_ended(1, 2)]
        cmd = run_now()
        events = when_run_now(history, cmd)
        state = fold([*history, *group_stream(events)])
        assert state is not None
        assert (events[0].aggregate_id, requested_group_run_id(state, cmd)) == ("7.2", 2)

    def test_a_repeated_idempotency_key_returns_the_first_group_run(self) -> None:
        history = [group_created(), group_run_requested(1, key="k1")]
        cmd = run_now("k1")
        assert when_run_now(history, cmd) == []  # even while it runs
        state = fold(history)
        assert state is not None
        assert requested_group_run_id(state, cmd) == 1

    def test_the_group_run_freezes_its_members(self) -> None:
        history = [group_created(group_definition((2, 3)))]
        [requested, *_] = when_run_now(history, run_now(), facts(2))
        assert isinstance(requested, GroupRunRequested)
        assert requested.payload.members == (2, 3)
        assert first_member(fold(history)) == 2

    def test_a_group_run_in_progress_refuses_another(self) -> None:
        rejected = refusal(lambda: when_run_now([group_created(), group_run_requested(1)], run_now()))
        assert (rejected.code, rejected.reason, rejected.message) == (
            "invalid_state",
            "GROUP_RUNNING",
            "group 7 is running (group run 7.1)",
        )

    @pytest.mark.parametrize(
        ("history", "message"),
        [([], "group 7 does not exist"), ([group_created(), group_deleted(2)], "group 7 was deleted")],
    )
    def test_a_missing_group_cannot_run(self, history: list[Event], message: str) -> None:
        rejected = refusal(lambda: when_run_now(history, run_now()))
        assert (rejected.code, rejected.reason, rejected.message) == ("not_found", "GROUP_NOT_FOUND", message)
        assert first_member(fold(history)) is None

    def test_an_expired_group_cannot_run(self) -> None:
        history = [group_created(group_definition(expires_at=T0))]
        assert refusal(lambda: when_run_now(history, run_now())).reason == "EXPIRED"

    def test_an_unstorable_key_is_refused(self) -> None:
        rejected = refusal(lambda: when_run_now([group_created()], run_now("a\x00b")))
        assert (rejected.reason, [e.field for e in rejected.errors]) == ("INVALID_VALUE", ["idempotency_key"])


CANNOT_START = {
    "never existed": (MemberFacts(job_id=1, job=None), "job 1 does not exist"),
    "deleted": (facts(1, deleted_job(1)), "job 1 was deleted"),
    "inactive": (facts(1, inactive_job(1)), "job 1 is inactive"),
    "running already": (facts(1, running_job(1, 2), running=2), "job 1 is running (run 1.2)"),
    "table missing": (facts(1, table=False), "table Customers of job 1 does not exist"),
}


@pytest.mark.parametrize(("first", "words"), CANNOT_START.values(), ids=CANNOT_START.keys())
def test_a_first_member_that_cannot_start_fails_the_group_run(first: MemberFacts, words: str) -> None:
    cmd = run_now()

    requested, ended = when_run_now([group_created()], cmd, first)

    assert isinstance(requested, GroupRunRequested)
    assert isinstance(ended, GroupRunEnded)
    assert (ended.aggregate_id, ended.aggregate_version, ended.event_id) == ("7.1", 2, causation(cmd).event_id(1))
    p = ended.payload
    assert (p.status, p.failed_job_id, p.failed_run_id, p.started_at, p.finished_at) == (
        RunStatus.FAILED,
        1,
        None,
        T0,
        T0,
    )
    assert (p.error, p.errors) == (
        f"member 1 could not start: {words}",
        (FieldError(field="members[0]", message=words),),
    )


def end(job_id: int, status: RunStatus, run_id: int = 1, error: str | None = None) -> MemberEnd:
    return MemberEnd(job_id=job_id, run_id=run_id, status=status, error=error)


def after(history: list[Event], member_end: MemberEnd, following: MemberFacts | None = None) -> list[Event]:
    return decide_after_member(fold(history), member_end, following, CAUSE, LATER)


class TestSequencing:
    def test_a_success_starts_the_next_member(self) -> None:
        history = at_member(0)
        assert member_to_start(fold(history), end(1, RunStatus.SUCCEEDED)) == 2

        member_run, member = after(history, end(1, RunStatus.SUCCEEDED), facts(2))

        assert isinstance(member_run, RunRequested)
        assert (member_run.aggregate_id, member_run.actor, member_run.correlation_id, member_run.causation_id) == (
            "2.1",
            "scheduler",
            RUN_CORRELATION,
            CAUSE,
        )
        assert (member_run.payload.group_id, member_run.payload.group_run_id, member_run.occurred_at) == (
            GROUP,
            1,
            LATER,
        )
        assert isinstance(member, GroupRunMemberRequested)
        assert (member.aggregate_version, member.payload.position, member.payload.job_id) == (3, 1, 2)

    def test_the_same_end_always_leads_to_the_same_events(self) -> None:
        first = after(at_member(0), end(1, RunStatus.SUCCEEDED), facts(2))
        again = after(at_member(0), end(1, RunStatus.SUCCEEDED), facts(2))
        assert [e.event_id for e in first] == [e.event_id for e in again]

    def test_the_success_of_the_last_member_ends_the_group_run_succeeded(self) -> None:
        history = at_member(2)
        assert member_to_start(fold(history), end(3, RunStatus.SUCCEEDED)) is None

        [ended] = after(history, end(3, RunStatus.SUCCEEDED))

        assert isinstance(ended, GroupRunEnded)
        assert (ended.aggregate_version, ended.correlation_id, ended.causation_id) == (5, RUN_CORRELATION, CAUSE)
        p = ended.payload
        assert (p.status, p.failed_job_id, p.failed_run_id, p.error, p.started_at, p.finished_at) == (
            RunStatus.SUCCEEDED,
            None,
            None,
            None,
            T0,
            LATER,
        )

    def test_a_whole_group_run_of_three_succeeds_member_by_member(self) -> None:
        history: list[Event] = [group_created()]
        events = when_run_now(history, run_now(), facts(1))
        requested = [e for e in events if isinstance(e, RunRequested)]
        history += group_stream(events)
        for member_end, following in [(1, facts(2)), (2, facts(3)), (3, None)]:
            events = after(history, end(member_end, RunStatus.SUCCEEDED), following)
            requested += [e for e in events if isinstance(e, RunRequested)]
            history += group_stream(events)
        state = fold(history)
        assert state is not None and state.run is not None
        assert [e.aggregate_id for e in requested] == ["1.1", "2.1", "3.1"]
        assert state.run.ended is RunStatus.SUCCEEDED

    def test_the_failure_of_member_2_of_3_ends_the_group_run_and_the_rest_never_start(self) -> None:
        history = at_member(1)
        failed = end(2, RunStatus.FAILED, error="the file upload/customers.csv was not found")
        assert member_to_start(fold(history), failed) is None

        [ended] = after(history, failed)

        assert isinstance(ended, GroupRunEnded)
        p = ended.payload
        assert (p.status, p.failed_job_id, p.failed_run_id, p.error) == (
            RunStatus.FAILED,
            2,
            1,
            "the file upload/customers.csv was not found",
        )
        state = fold([*history, ended])
        assert state is not None
        assert after([*history, ended], end(3, RunStatus.SUCCEEDED)) == []
        assert current_member(state, 1) is None

    def test_a_skipped_member_fails_the_group_run_in_words(self) -> None:
        [ended] = after(at_member(0), end(1, RunStatus.SKIPPED))
        assert isinstance(ended, GroupRunEnded)
        assert (ended.payload.status, ended.payload.failed_job_id, ended.payload.error) == (
            RunStatus.FAILED,
            1,
            "run 1.1 was skipped",
        )

    def test_a_stopped_member_stops_the_group_run(self) -> None:
        [ended] = after(at_member(1), end(2, RunStatus.STOPPED))
        assert isinstance(ended, GroupRunEnded)
        p = ended.payload
        assert (p.status, p.failed_job_id, p.failed_run_id, p.error) == (RunStatus.STOPPED, 2, 1, None)

    def test_a_next_member_that_cannot_start_fails_the_group_run(self) -> None:
        [ended] = after(at_member(0), end(1, RunStatus.SUCCEEDED), facts(2, inactive_job(2)))
        assert isinstance(ended, GroupRunEnded)
        assert (ended.payload.status, ended.payload.failed_job_id, ended.payload.error) == (
            RunStatus.FAILED,
            2,
            "member 2 could not start: job 2 is inactive",
        )
        assert ended.payload.errors == (FieldError(field="members[1]", message="job 2 is inactive"),)

    @pytest.mark.parametrize(
        "member_end",
        [end(2, RunStatus.FAILED), end(1, RunStatus.FAILED, run_id=2), end(9, RunStatus.SUCCEEDED)],
        ids=["a member not yet started", "another run of the member", "a job not in the group"],
    )
    def test_an_end_that_is_not_the_member_in_progress_leads_to_nothing(self, member_end: MemberEnd) -> None:
        assert after(at_member(0), member_end) == []
        assert member_to_start(fold(at_member(0)), member_end) is None

    def test_an_end_after_the_group_run_ended_leads_to_nothing(self) -> None:
        history = [*at_member(0), group_run_ended(1, 3, RunStatus.STOPPED)]
        assert after(history, end(1, RunStatus.SUCCEEDED), facts(2)) == []

    def test_the_next_member_needs_its_facts(self) -> None:
        with pytest.raises(ValueError, match="job 2"):
            after(at_member(0), end(1, RunStatus.SUCCEEDED), facts(3))


def stop(run_id: int = 1) -> StopGroupRun:
    return StopGroupRun(**meta(), payload=StopGroupRunPayload(group_id=GROUP, run_id=run_id))


def when_stopped(history: list[Event], cmd: StopGroupRun, member: MemberFacts | None) -> list[Event]:
    return decide_stop_group_run(fold(history), cmd, member, causation(cmd))


class TestStopGroupRun:
    def test_stops_the_group_run_and_its_member_in_progress(self) -> None:
        history = at_member(1)
        cmd = stop()
        assert current_member(fold(history), 1) == 2

        group_stop, member_stop = when_stopped(history, cmd, facts(2, running_job(2, 1), running=1))

        assert isinstance(group_stop, GroupRunStopRequested)
        assert (group_stop.aggregate_id, group_stop.aggregate_version, group_stop.event_id) == (
            "7.1",
            4,
            causation(cmd).event_id(0),
        )
        assert isinstance(member_stop, RunStopRequested)
        assert (member_stop.aggregate_id, member_stop.event_id) == ("2.1", causation(cmd).event_id(1))

    def test_the_member_stopping_then_ends_the_group_run_stopped(self) -> None:
        stops = when_stopped(at_member(1), stop(), facts(2, running_job(2, 1), running=1))
        history = [*at_member(1), *group_stream(stops)]
        [ended] = after(history, end(2, RunStatus.STOPPED))
        assert isinstance(ended, GroupRunEnded)
        assert ended.payload.status is RunStatus.STOPPED

    def test_a_member_that_succeeded_before_its_stop_starts_no_other(self) -> None:
        history = [*at_member(0), group_stop_requested(1, 3)]
        assert member_to_start(fold(history), end(1, RunStatus.SUCCEEDED)) is None
        [ended] = after(history, end(1, RunStatus.SUCCEEDED))
        assert isinstance(ended, GroupRunEnded)
        assert (ended.payload.status, ended.payload.failed_job_id) == (RunStatus.STOPPED, None)

    def test_a_member_already_stopped_by_a_user_is_not_asked_again(self) -> None:
        stopped = facts(2, job(2, run_requested(2, 1), stop_requested(2, 1)), running=1)
        assert [type(e) for e in when_stopped(at_member(1), stop(), stopped)] == [GroupRunStopRequested]

    def test_a_member_whose_end_is_on_its_way_is_not_asked(self) -> None:
        events = when_stopped(at_member(1), stop(), facts(2, running_job(2, 1), running=None))
        assert [type(e) for e in events] == [GroupRunStopRequested]

    def test_a_second_stop_adds_nothing(self) -> None:
        history = [*at_member(1), group_stop_requested(1, 4)]
        assert when_stopped(history, stop(), facts(2, running_job(2, 1), running=1)) == []
        assert when_stopped([*history, group_run_ended(1, 5, RunStatus.STOPPED)], stop(), None) == []

    def test_a_group_run_that_ended_cannot_be_stopped(self) -> None:
        history = [*at_member(2), group_run_ended(1, 5)]
        rejected = refusal(lambda: when_stopped(history, stop(), None))
        assert (rejected.code, rejected.reason, rejected.message) == (
            "invalid_state",
            "RUN_NOT_RUNNING",
            "group run 7.1 already ended",
        )

    @pytest.mark.parametrize("run_id", [0, 2])
    def test_a_group_run_that_does_not_exist_is_not_found(self, run_id: int) -> None:
        rejected = refusal(lambda: when_stopped(at_member(0), stop(run_id), None))
        assert (rejected.code, rejected.reason, rejected.message) == (
            "not_found",
            "RUN_NOT_FOUND",
            f"group run 7.{run_id} does not exist",
        )

    def test_a_deleted_groups_run_can_still_be_stopped(self) -> None:
        history = [*at_member(0), group_deleted(2)]
        assert len(when_stopped(history, stop(), facts(1, running_job(1, 1), running=1))) == 2

    def test_an_unknown_group_is_not_found(self) -> None:
        assert refusal(lambda: when_stopped([], stop(), None)).reason == "GROUP_NOT_FOUND"


def test_a_group_run_has_no_member_in_progress_before_its_first_starts() -> None:
    assert current_member(fold([group_created(), group_run_requested(1)]), 1) is None
