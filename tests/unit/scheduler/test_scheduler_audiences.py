"""Given/when/then for the audience aggregate: defined against its list and PETs, replaced, deleted, defined again."""

from __future__ import annotations

from typing import Any

import pytest

from connect_events import (
    AudienceDefined,
    AudienceDeleted,
    AudienceNamePayload,
    AudiencePayload,
    AudienceSpec,
    AudienceUpdated,
    ColumnRef,
    Condition,
    ConditionGroup,
    DefineAudience,
    DeleteAudience,
    Event,
    UpdateAudience,
)
from connect_scheduler.domain.audiences import (
    decide_define_audience,
    decide_delete_audience,
    decide_update_audience,
    fold_audience,
)
from connect_scheduler.domain.rejection import Rejected
from tests.unit.scheduler.scheduler_builders import causation, members, meta, orders_pet

PETS = {"orders": orders_pet()}


def gold(**fields: Any) -> AudienceSpec:
    condition = Condition(column=ColumnRef(column="TOTAL", pet="ORDERS"), operator="greater_than", values=("100",))
    body: dict[str, Any] = {
        "name": "Gold",
        "list_name": "MEMBERS",
        "pets": ("orders",),
        "filter": ConditionGroup(conditions=(condition,)),
        "columns": (ColumnRef(column="EMAIL_ADDRESS_"), ColumnRef(column="total", pet="Orders")),
    }
    return AudienceSpec(**(body | fields))


def define(spec: AudienceSpec) -> DefineAudience:
    return DefineAudience(**meta(), payload=AudiencePayload(audience=spec))


def update(spec: AudienceSpec) -> UpdateAudience:
    return UpdateAudience(**meta(), payload=AudiencePayload(audience=spec))


def delete(name: str) -> DeleteAudience:
    return DeleteAudience(**meta(), payload=AudienceNamePayload(name=name))


def defined(spec: AudienceSpec | None = None) -> list[Event]:
    cmd = define(spec or gold())
    return decide_define_audience(None, members(), PETS, cmd, causation(cmd))


def refusal(exc: pytest.ExceptionInfo[Rejected]) -> tuple[str, str | None, list[tuple[str, str]]]:
    return exc.value.code, exc.value.reason, [(e.field, e.message) for e in exc.value.errors]


def test_a_defined_audience_names_its_list_and_pets_as_they_were_defined() -> None:
    [event] = defined()
    assert isinstance(event, AudienceDefined)
    assert (event.aggregate_id, event.aggregate_version) == ("gold", 1)
    assert (event.payload.audience.list_name, event.payload.audience.pets) == ("Members", ("Orders",))
    assert fold_audience([event]) is not None


def test_a_name_in_use_is_a_conflict_in_any_case() -> None:
    cmd = define(gold(name="GOLD"))
    with pytest.raises(Rejected) as exc:
        decide_define_audience(fold_audience(defined()), members(), PETS, cmd, causation(cmd))
    assert refusal(exc) == ("conflict", "AUDIENCE_EXISTS", [])


def test_every_error_is_refused_at_once_under_audience() -> None:
    bad = Condition(column=ColumnRef(column="FIRST_NAME"), operator="between", values=("a",))
    cmd = define(gold(name="bad name!", filter=ConditionGroup(conditions=(bad,)), columns=()))
    with pytest.raises(Rejected) as exc:
        decide_define_audience(None, members(), PETS, cmd, causation(cmd))
    code, reason, errors = refusal(exc)
    assert (code, reason) == ("validation", "AUDIENCE_INVALID")
    assert [field for field, _ in errors] == [
        "audience.name",
        "audience.columns",
        "audience.filter.conditions[0].values",
    ]


def test_an_undefined_list_is_list_not_found() -> None:
    cmd = define(gold())
    with pytest.raises(Rejected) as exc:
        decide_define_audience(None, None, {}, cmd, causation(cmd))
    code, reason, errors = refusal(exc)
    assert (code, reason) == ("validation", "LIST_NOT_FOUND")
    assert errors[0] == ("audience.list_name", "no list 'MEMBERS' is defined")


def test_an_update_replaces_the_definition_but_never_the_list() -> None:
    state = fold_audience(defined())
    cmd = update(gold(name="gold", pets=(), filter=None, columns=(ColumnRef(column="CITY_"),)))
    [event] = decide_update_audience(state, members(), {}, cmd, causation(cmd))
    assert isinstance(event, AudienceUpdated) and event.aggregate_version == 2
    assert event.payload.audience.name == "Gold" and event.payload.audience.filter is None

    moved = update(gold(list_name="Others"))
    with pytest.raises(Rejected) as exc:
        decide_update_audience(state, members(), PETS, moved, causation(moved))
    assert refusal(exc)[2][0][0] == "audience.list_name"


def test_a_deleted_audience_is_gone_and_its_name_free_again() -> None:
    history = defined()
    cmd = delete("GOLD")
    [gone] = decide_delete_audience(fold_audience(history), cmd, causation(cmd))
    assert isinstance(gone, AudienceDeleted) and (gone.payload.name, gone.aggregate_version) == ("Gold", 2)
    state = fold_audience([*history, gone])

    for again in (delete("gold"), update(gold())):
        with pytest.raises(Rejected) as exc:
            if isinstance(again, DeleteAudience):
                decide_delete_audience(state, again, causation(again))
            else:
                decide_update_audience(state, members(), PETS, again, causation(again))
        assert refusal(exc)[:2] == ("not_found", "AUDIENCE_NOT_FOUND")

    cmd2 = define(gold())
    [reborn] = decide_define_audience(state, members(), PETS, cmd2, causation(cmd2))
    assert isinstance(reborn, AudienceDefined) and reborn.aggregate_version == 3
