"""Given/when/then for the profile-list and PET aggregates: defined once, a column at a time after that."""

from __future__ import annotations

from typing import Any

import pytest

from connect_events import (
    AddColumnPayload,
    AddListColumn,
    AddPetColumn,
    ColumnSpec,
    DefineList,
    DefineListPayload,
    DefinePet,
    DefinePetPayload,
    Event,
    ListColumnAdded,
    ListDefined,
    ListSpec,
    PetColumnAdded,
    PetDefined,
    PetSpec,
)
from connect_scheduler.domain.lists import (
    Defined,
    decide_add_list_column,
    decide_add_pet_column,
    decide_define_list,
    decide_define_pet,
    fold_list,
    fold_pet,
)
from connect_scheduler.domain.rejection import Rejected
from tests.unit.scheduler.scheduler_builders import causation, column, members, meta, orders_pet


def define_list(spec: ListSpec) -> DefineList:
    return DefineList(**meta(), payload=DefineListPayload(list=spec))


def define_pet(spec: PetSpec) -> DefinePet:
    return DefinePet(**meta(), payload=DefinePetPayload(pet=spec))


def add_list_column(name: str, col: ColumnSpec) -> AddListColumn:
    return AddListColumn(**meta(), payload=AddColumnPayload(name=name, column=col))


def add_pet_column(name: str, col: ColumnSpec) -> AddPetColumn:
    return AddPetColumn(**meta(), payload=AddColumnPayload(name=name, column=col))


def list_history(spec: ListSpec | None = None) -> list[Event]:
    cmd = define_list(spec or members())
    return decide_define_list(None, cmd, causation(cmd))


def given_list(spec: ListSpec | None = None) -> Defined[ListSpec]:
    state = fold_list(list_history(spec))
    assert state is not None
    return state


def given_pet(spec: PetSpec | None = None) -> Defined[PetSpec]:
    cmd = define_pet(spec or orders_pet())
    state = fold_pet(decide_define_pet(None, given_list(), cmd, causation(cmd)))
    assert state is not None
    return state


def refusal(decide: Any, *args: Any) -> Rejected:
    with pytest.raises(Rejected) as caught:
        decide(*args)
    return caught.value


class TestDefineList:
    def test_a_new_list_is_defined_under_its_lower_cased_name(self) -> None:
        cmd = define_list(members())

        [event] = decide_define_list(None, cmd, causation(cmd))

        assert isinstance(event, ListDefined)
        assert event.payload.list == members()
        assert (event.aggregate_type, event.aggregate_id, event.aggregate_version) == ("list", "members", 1)
        assert event.event_id == causation(cmd).event_id(0)

    def test_a_list_without_custom_columns_is_fine(self) -> None:
        cmd = define_list(ListSpec(name="Plain"))
        assert len(decide_define_list(None, cmd, causation(cmd))) == 1

    @pytest.mark.parametrize("name", ["Members", "MEMBERS", "members"])
    def test_a_defined_name_is_taken_in_any_case(self, name: str) -> None:
        cmd = define_list(members(name))
        refused = refusal(decide_define_list, given_list(), cmd, causation(cmd))
        assert (refused.code, refused.reason, refused.message) == (
            "conflict",
            "LIST_EXISTS",
            "a list named Members already exists",
        )

    def test_folding_gives_the_spec_at_version_1(self) -> None:
        assert given_list() == Defined(members(), 1)


INVALID_LISTS: dict[str, tuple[ListSpec, list[tuple[str, str]]]] = {
    "bad name": (
        ListSpec(name="two words"),
        [("list.name", "must start with a letter and hold at most 63 letters, digits or underscores")],
    ),
    "custom name ending with _": (
        ListSpec(name="L", columns=(column("SCORE_"),)),
        [("list.columns[0].name", "must not end with _ (system column names do)")],
    ),
    "a system column's name": (
        ListSpec(name="L", columns=(column("email_address_"),)),
        [("list.columns[0].name", "email_address_ is a system column")],
    ),
    "a column twice in other case": (
        ListSpec(name="L", columns=(column("Score"), column("SCORE"))),
        [("list.columns[1].name", "column SCORE is defined twice")],
    ),
    "type rules as for tables": (
        ListSpec(name="L", columns=(column("Score", "integer", max_length=3),)),
        [("list.columns[0].max_length", "max_length is only for text columns")],
    ),
    "a bad name gets its one error": (
        ListSpec(name="L", columns=(column("bad name_"),)),
        [("list.columns[0].name", "must start with a letter and hold at most 63 letters, digits or underscores")],
    ),
}


@pytest.mark.parametrize(("spec", "expected"), INVALID_LISTS.values(), ids=INVALID_LISTS.keys())
def test_invalid_lists_are_refused_naming_the_field(spec: ListSpec, expected: list[tuple[str, str]]) -> None:
    cmd = define_list(spec)
    refused = refusal(decide_define_list, None, cmd, causation(cmd))
    assert (refused.code, refused.reason) == ("validation", "INVALID_VALUE")
    assert [(e.field, e.message) for e in refused.errors] == expected


class TestDefinePet:
    def test_a_pet_of_an_existing_list_is_defined_naming_the_list_as_defined(self) -> None:
        cmd = define_pet(orders_pet(list_name="MEMBERS"))

        [event] = decide_define_pet(None, given_list(), cmd, causation(cmd))

        assert isinstance(event, PetDefined)
        assert (event.aggregate_type, event.aggregate_id, event.aggregate_version) == ("pet", "orders", 1)
        assert event.payload.pet == orders_pet(list_name="Members")

    def test_a_missing_list_is_a_field_error_with_its_reason(self) -> None:
        cmd = define_pet(orders_pet(list_name="Nobody"))
        refused = refusal(decide_define_pet, None, None, cmd, causation(cmd))
        assert (refused.code, refused.reason) == ("validation", "LIST_NOT_FOUND")
        assert [(e.field, e.message) for e in refused.errors] == [("pet.list_name", "list Nobody does not exist")]

    def test_every_error_comes_at_once(self) -> None:
        cmd = define_pet(PetSpec(name="1st", list_name="Nobody", columns=()))
        refused = refusal(decide_define_pet, None, None, cmd, causation(cmd))
        assert [e.field for e in refused.errors] == ["pet.name", "pet.columns", "pet.list_name"]

    @pytest.mark.parametrize(
        ("columns", "expected"),
        [
            ((column("RIID_", "integer"),), [("pet.columns[0].name", "RIID_ is a system column")]),
            ((column("Total_", "number"),), [("pet.columns[0].name", "must not end with _ (system column names do)")]),
            ((column("A"), column("a")), [("pet.columns[1].name", "column a is defined twice")]),
            ((column("A", "number", scale=2),), [("pet.columns[0].scale", "a scale needs a precision")]),
        ],
    )
    def test_pet_columns_follow_the_custom_column_rules(
        self, columns: tuple[ColumnSpec, ...], expected: list[tuple[str, str]]
    ) -> None:
        cmd = define_pet(PetSpec(name="Orders", list_name="Members", columns=columns))
        refused = refusal(decide_define_pet, None, given_list(), cmd, causation(cmd))
        assert (refused.code, refused.reason) == ("validation", "INVALID_VALUE")
        assert [(e.field, e.message) for e in refused.errors] == expected

    def test_a_defined_name_is_taken_in_any_case(self) -> None:
        cmd = define_pet(orders_pet("ORDERS"))
        refused = refusal(decide_define_pet, given_pet(), given_list(), cmd, causation(cmd))
        assert (refused.code, refused.reason, refused.message) == (
            "conflict",
            "PET_EXISTS",
            "a PET named Orders already exists",
        )


class TestAddColumn:
    def test_a_list_column_is_added_at_the_next_version(self) -> None:
        cmd = add_list_column("members", column("Score", "integer"))

        [event] = decide_add_list_column(given_list(), cmd, causation(cmd))

        assert isinstance(event, ListColumnAdded)
        assert (event.aggregate_type, event.aggregate_id, event.aggregate_version) == ("list", "members", 2)
        assert (event.payload.name, event.payload.column) == ("Members", column("Score", "integer"))
        after = fold_list([*list_history(), event])
        assert after == Defined(ListSpec(name="Members", columns=(*members().columns, column("Score", "integer"))), 2)

    def test_a_pet_column_is_added_at_the_next_version(self) -> None:
        cmd = add_pet_column("orders", column("Count", "integer"))

        [event] = decide_add_pet_column(given_pet(), cmd, causation(cmd))

        assert isinstance(event, PetColumnAdded)
        assert (event.aggregate_type, event.aggregate_id, event.aggregate_version) == ("pet", "orders", 2)
        assert event.payload.name == "Orders"

    def test_a_missing_list_or_pet_is_not_found(self) -> None:
        cmd = add_list_column("Nobody", column("Score"))
        refused = refusal(decide_add_list_column, None, cmd, causation(cmd))
        assert (refused.code, refused.reason, refused.message) == (
            "not_found",
            "LIST_NOT_FOUND",
            "list Nobody does not exist",
        )
        cmd_pet = add_pet_column("two words", column("Score"))
        refused = refusal(decide_add_pet_column, None, cmd_pet, causation(cmd_pet))
        assert (refused.code, refused.reason, refused.message) == (
            "not_found",
            "PET_NOT_FOUND",
            "the PET does not exist",
        )

    @pytest.mark.parametrize("name", ["first_name", "EMAIL_ADDRESS_", "riid_"])
    def test_a_name_the_list_has_is_a_conflict(self, name: str) -> None:
        cmd = add_list_column("Members", column(name))
        refused = refusal(decide_add_list_column, given_list(), cmd, causation(cmd))
        assert (refused.code, refused.reason) == ("conflict", "COLUMN_EXISTS")
        assert refused.message.startswith("list Members already has a column ")

    @pytest.mark.parametrize("name", ["total", "RIID_"])
    def test_a_name_the_pet_has_is_a_conflict(self, name: str) -> None:
        cmd = add_pet_column("Orders", column(name))
        refused = refusal(decide_add_pet_column, given_pet(), cmd, causation(cmd))
        assert (refused.code, refused.reason) == ("conflict", "COLUMN_EXISTS")

    @pytest.mark.parametrize(
        ("col", "expected"),
        [
            (column("Score_"), [("column.name", "must not end with _ (system column names do)")]),
            (column("Score", max_length=0), [("column.max_length", "must be 1 to 65535")]),
            (
                column("9lives"),
                [("column.name", "must start with a letter and hold at most 63 letters, digits or underscores")],
            ),
        ],
    )
    def test_a_new_column_follows_the_custom_column_rules(
        self, col: ColumnSpec, expected: list[tuple[str, str]]
    ) -> None:
        cmd = add_list_column("Members", col)
        refused = refusal(decide_add_list_column, given_list(), cmd, causation(cmd))
        assert refused.code == "validation"
        assert [(e.field, e.message) for e in refused.errors] == expected


def test_a_stream_of_another_kind_does_not_fold() -> None:
    with pytest.raises(TypeError):
        fold_pet(list_history())
    with pytest.raises(TypeError):
        fold_list([*list_history(), *list_history()])
