"""Given/when/then for the custom-table aggregate: define once, every error reported at once."""

from __future__ import annotations

from typing import Any

import pytest

from connect_events import DefineTable, DefineTablePayload, Event, TableDefined, TableSpec
from connect_scheduler.domain.rejection import Rejected
from connect_scheduler.domain.tables import decide_define_table, fold_table
from tests.unit.scheduler.scheduler_builders import ACTOR, T0, causation, column, customers, meta


def define(spec: TableSpec) -> DefineTable:
    return DefineTable(**meta(), payload=DefineTablePayload(table=spec))


def table(**overrides: Any) -> TableSpec:
    fields: dict[str, Any] = {"name": "Customers", "columns": customers().columns, "primary_key": ("id",)}
    return TableSpec(**{**fields, **overrides})


def rejection(spec: TableSpec) -> Rejected:
    cmd = define(spec)
    with pytest.raises(Rejected) as caught:
        decide_define_table(None, cmd, causation(cmd))
    return caught.value


class TestDefineTable:
    def test_a_new_table_is_defined_with_the_commands_envelope(self) -> None:
        cmd = define(customers("Customers"))

        [event] = decide_define_table(None, cmd, causation(cmd))

        assert isinstance(event, TableDefined)
        assert event.payload.table == customers("Customers")
        assert (event.aggregate_type, event.aggregate_id, event.aggregate_version) == (
            "table",
            "customers",
            1,
        )
        assert event.event_id == causation(cmd).event_id(0)
        assert (event.actor, event.occurred_at) == (ACTOR, T0)
        assert (event.correlation_id, event.causation_id) == (cmd.correlation_id, cmd.command_id)

    def test_the_same_command_yields_the_same_event_id(self) -> None:
        cmd = define(customers())
        first = decide_define_table(None, cmd, causation(cmd))
        again = decide_define_table(None, cmd, causation(cmd))
        assert first == again

    @pytest.mark.parametrize("name", ["Customers", "CUSTOMERS", "customers"])
    def test_a_defined_name_is_taken_in_any_case(self, name: str) -> None:
        given = fold_table(defined(customers("Customers")))
        cmd = define(customers(name))

        with pytest.raises(Rejected) as caught:
            decide_define_table(given, cmd, causation(cmd))

        assert caught.value.code == "conflict"
        assert caught.value.message == "a table named Customers already exists"

    def test_folding_the_definition_gives_version_1(self) -> None:
        state = fold_table(defined(customers()))
        assert state is not None
        assert (state.spec, state.version) == (customers(), 1)


def defined(spec: TableSpec) -> list[Event]:
    cmd = define(spec)
    return decide_define_table(None, cmd, causation(cmd))


VALID_EDGES = {
    "one-letter name": table(name="T"),
    "63-character name": table(name="T" + "a" * 62),
    "text of 65535": table(columns=(column("id", max_length=65535),)),
    "text of 1": table(columns=(column("id", max_length=1),)),
    "number 38,38": table(columns=(column("id", "number", precision=38, scale=38),)),
    "number 1,0": table(columns=(column("id", "number", precision=1, scale=0),)),
    "plain number": table(columns=(column("id", "number"),)),
    "composite key": table(primary_key=("id", "email")),
    "key in other case": table(primary_key=("ID",)),
}


@pytest.mark.parametrize("spec", VALID_EDGES.values(), ids=VALID_EDGES.keys())
def test_valid_edge_cases_are_accepted(spec: TableSpec) -> None:
    cmd = define(spec)
    assert len(decide_define_table(None, cmd, causation(cmd))) == 1


INVALID = {
    "empty name": (table(name=""), "table.name"),
    "64-character name": (table(name="T" + "a" * 63), "table.name"),
    "name starting with a digit": (table(name="1st"), "table.name"),
    "name with a quote": (table(name='Cus"tomers'), "table.name"),
    "name with a space": (table(name="My table"), "table.name"),
    "name with a non-ASCII letter": (table(name="Kundenübersicht"), "table.name"),
    "no columns": (table(columns=(), primary_key=()), "table.columns", "table.primary_key"),
    "bad column name": (table(columns=(*customers().columns, column("two words"))), "table.columns[3].name"),
    "duplicate column": (table(columns=(*customers().columns, column("EMAIL"))), "table.columns[3].name"),
    "text of 0": (table(columns=(column("id", max_length=0),)), "table.columns[0].max_length"),
    "text of 65536": (table(columns=(column("id", max_length=65536),)), "table.columns[0].max_length"),
    "length on integer": (
        table(columns=(column("id", "integer", max_length=5),)),
        "table.columns[0].max_length",
    ),
    "precision 0": (table(columns=(column("id", "number", precision=0),)), "table.columns[0].precision"),
    "precision 39": (table(columns=(column("id", "number", precision=39),)), "table.columns[0].precision"),
    "scale over precision": (
        table(columns=(column("id", "number", precision=5, scale=6),)),
        "table.columns[0].scale",
    ),
    "negative scale": (
        table(columns=(column("id", "number", precision=5, scale=-1),)),
        "table.columns[0].scale",
    ),
    "scale without precision": (table(columns=(column("id", "number", scale=2),)), "table.columns[0].scale"),
    "precision on text": (table(columns=(column("id", precision=5),)), "table.columns[0].precision"),
    "no primary key": (table(primary_key=()), "table.primary_key"),
    "key of a missing column": (table(primary_key=("id", "nope")), "table.primary_key[1]"),
    "key named twice": (table(primary_key=("id", "ID")), "table.primary_key[1]"),
}


@pytest.mark.parametrize("case", INVALID.values(), ids=INVALID.keys())
def test_invalid_tables_are_refused_naming_the_field(case: tuple[Any, ...]) -> None:
    spec, *fields = case

    refused = rejection(spec)

    assert refused.code == "validation"
    assert [e.field for e in refused.errors] == fields


def test_all_errors_are_reported_at_once() -> None:
    spec = TableSpec(
        name="bad name",
        columns=(column("id", "integer"), column("id"), column("x", max_length=0)),
        primary_key=("missing",),
    )

    refused = rejection(spec)

    assert [e.field for e in refused.errors] == [
        "table.name",
        "table.columns[1].name",
        "table.columns[2].max_length",
        "table.primary_key[0]",
    ]
    assert refused.errors[3].message == "table bad name has no column missing"
