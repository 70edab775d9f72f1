"""What an edit changed: dotted paths where the old and the new definition (as JSON) differ."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest

from connect_catalog.domain.history import changed_fields
from connect_events import ColumnMapping, Cron, Daily, JobDefinition
from tests.unit.catalog.catalog_builders import definition

OLD = definition()


def diff(new: JobDefinition, old: JobDefinition = OLD) -> tuple[str, ...]:
    return changed_fields(old.model_dump(mode="json"), new.model_dump(mode="json"))


def edited(**settings: Any) -> JobDefinition:
    return OLD.model_copy(update={"settings": OLD.settings.model_copy(update=settings)})


def test_the_same_definition_changed_nothing() -> None:
    assert diff(definition()) == ()


def test_names_each_changed_leaf_by_its_dotted_path() -> None:
    new = edited(source=OLD.settings.source.model_copy(update={"host": "other.example", "port": 2222}))
    assert diff(new.model_copy(update={"description": "now weekly"})) == (
        "description",
        "settings.source.host",
        "settings.source.port",
    )


def test_a_list_is_one_value() -> None:
    mapping = (*OLD.settings.mapping, ColumnMapping(source="note", target="note"))
    assert diff(edited(mapping=mapping)) == ("settings.mapping",)


def test_a_schedule_of_the_same_kind_is_compared_member_by_member() -> None:
    six, seven = (OLD.model_copy(update={"schedule": Daily(time=time(h, 0))}) for h in (6, 7))
    assert diff(seven, old=six) == ("schedule.time",)


@pytest.mark.parametrize("new", [Daily(time=time(6, 0)), Cron(expression="0 6 * * 1")], ids=["daily", "cron"])
def test_a_schedule_of_another_kind_changed_as_a_whole(new: Daily | Cron) -> None:
    assert diff(OLD.model_copy(update={"schedule": new})) == ("schedule",)


def test_a_member_only_one_side_has_is_a_change() -> None:
    assert changed_fields({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}) == ("a.c",)


def test_paths_come_sorted() -> None:
    assert changed_fields({"z": 1, "a": 1, "m": {"k": 1}}, {"z": 2, "a": 2, "m": {"k": 2}}) == ("a", "m.k", "z")
