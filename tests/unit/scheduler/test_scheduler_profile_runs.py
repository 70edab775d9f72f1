"""Run requests of profile imports (run now, scheduled fires, group members) freeze the list and the PETs the job
names as they are at request time; a list or PET that is gone refuses the run as a missing table does."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from connect_events import (
    Cron,
    Event,
    GroupRunEnded,
    PetImport,
    RunGroupNow,
    RunGroupNowPayload,
    RunJobNow,
    RunJobNowPayload,
    RunRequested,
)
from connect_scheduler.domain.fires import decide_due
from connect_scheduler.domain.group_runs import MemberFacts, decide_run_group_now
from connect_scheduler.domain.groups import fold as fold_group
from connect_scheduler.domain.jobs import JobState, fold
from connect_scheduler.domain.rejection import Rejected
from connect_scheduler.domain.run_control import decide_run_job_now
from connect_scheduler.domain.slots import Due, Slot
from connect_scheduler.domain.targets import Profile, Target
from tests.unit.scheduler.group_builders import GROUP, group_created
from tests.unit.scheduler.scheduler_builders import (
    T0,
    activated,
    causation,
    column,
    created,
    mappings,
    members,
    meta,
    orders_pet,
    profile_definition,
)

JOB = 5
VISITS = orders_pet("Visits")
PROFILE = Profile(members(), {"orders": orders_pet(), "visits": VISITS})
BOTH_PETS = (
    PetImport(pet="visits", mapping=mappings(("v", "TOTAL"))),
    PetImport(pet="Orders", mapping=mappings(("l", "LAST_ORDER"))),
)


def profile_job(job_id: int = JOB, **overrides: Any) -> JobState:
    state = fold([created(job_id, profile_definition(**overrides)), activated(job_id, 2)])
    assert state is not None
    return state


def run_now(state: JobState, target: Target) -> list[Event]:
    cmd = RunJobNow(**meta(), payload=RunJobNowPayload(job_id=state.job_id))
    return decide_run_job_now(state, cmd, target, None, T0, causation(cmd))


def test_run_now_freezes_the_list_and_the_named_pets_in_the_jobs_order() -> None:
    [event] = run_now(profile_job(pets=BOTH_PETS), PROFILE)

    assert isinstance(event, RunRequested)
    p = event.payload
    assert (p.list, p.pets) == (members(), (VISITS, orders_pet()))
    assert p.table == members().as_table()


def test_a_list_grown_since_the_job_was_saved_is_frozen_as_it_is_now() -> None:
    grown = members().model_copy(update={"columns": (*members().columns, column("SCORE", "integer"))})
    [event] = run_now(profile_job(), Profile(grown, {"orders": orders_pet()}))
    assert isinstance(event, RunRequested)
    assert event.payload.list == grown


@pytest.mark.parametrize(
    ("target", "reason", "message"),
    [
        (Profile(None), "LIST_NOT_FOUND", f"list Members of job {JOB} does not exist"),
        (None, "LIST_NOT_FOUND", f"list Members of job {JOB} does not exist"),
        (Profile(members()), "PET_NOT_FOUND", f"PET Orders of job {JOB} does not exist"),
    ],
)
def test_a_missing_list_or_pet_refuses_the_run(target: Target, reason: str, message: str) -> None:
    with pytest.raises(Rejected) as caught:
        run_now(profile_job(), target)
    assert (caught.value.code, caught.value.reason, caught.value.message) == ("invalid_state", reason, message)


def test_a_scheduled_fire_carries_the_specs_and_skips_a_missing_pet() -> None:
    every_minute = profile_definition(pets=BOTH_PETS).model_copy(update={"schedule": Cron(expression="* * * * *")})
    state = fold([created(JOB, every_minute), activated(JOB, 2)])
    assert state is not None
    at = T0.replace(second=0, microsecond=0) + timedelta(minutes=1)
    row = Due(id=JOB, slot=Slot(at, at, None))

    decision = decide_due(state, row, PROFILE, None, at)
    [requested] = decision.events
    assert isinstance(requested, RunRequested)
    assert (requested.payload.trigger, requested.payload.list, requested.payload.pets) == (
        "schedule",
        members(),
        (VISITS, orders_pet()),
    )

    missing = decide_due(state, row, Profile(members(), {"orders": orders_pet()}), None, at)
    assert (missing.outcome, missing.events) == ("table_missing", ())


def test_a_group_member_carries_the_specs_or_fails_the_group_run_in_words() -> None:
    history = [group_created()]
    cmd = RunGroupNow(**meta(), payload=RunGroupNowPayload(group_id=GROUP))
    started = decide_run_group_now(
        fold_group(history), cmd, MemberFacts(1, profile_job(1), PROFILE), T0, causation(cmd)
    )
    member = next(e for e in started if isinstance(e, RunRequested))
    assert (member.payload.list, member.payload.pets) == (members(), (orders_pet(),))

    failed = decide_run_group_now(
        fold_group(history), cmd, MemberFacts(1, profile_job(1), Profile(None)), T0, causation(cmd)
    )
    ended = next(e for e in failed if isinstance(e, GroupRunEnded))
    assert ended.payload.error == "member 1 could not start: list Members of job 1 does not exist"
