"""Profile lists and PETs in the read models, and a profile import's extra counts in the execution log."""

from __future__ import annotations

import json
from typing import Any, Literal

import pytest

from connect_catalog.domain.changes import AddColumn, InsertList, InsertPet
from connect_catalog.domain.projection import project, subject_of
from connect_catalog.domain.runs import counts_text
from connect_catalog.domain.views import Snapshot, Subject
from connect_catalog.handlers import project_event
from connect_events import ColumnSpec, ColumnType, ListColumnAdded, PetColumnAdded, RunCounts
from tests.unit.catalog.catalog_builders import (
    ACTOR,
    FIRST_NAME,
    T0,
    TOTAL,
    list_column_added,
    list_defined,
    pet_column_added,
    pet_defined,
)
from tests.unit.catalog.catalog_fakes import InMemoryReadModel

SCORE = ColumnSpec(name="SCORE", type=ColumnType.INTEGER)


def column_json(column: ColumnSpec) -> Any:
    return json.loads(column.model_dump_json())


class TestProjection:
    def test_a_list_is_inserted_with_its_custom_columns(self) -> None:
        [change] = project(list_defined(), Snapshot())
        assert isinstance(change, InsertList)
        assert (change.name, change.at, change.by) == ("Members", T0, ACTOR)
        assert json.loads(change.columns_json) == [column_json(FIRST_NAME)]

    def test_a_pet_is_inserted_with_its_list(self) -> None:
        [change] = project(pet_defined(), Snapshot())
        assert isinstance(change, InsertPet)
        assert (change.name, change.list_name, json.loads(change.columns_json)) == (
            "Orders",
            "Members",
            [column_json(TOTAL)],
        )

    @pytest.mark.parametrize(
        ("event", "kind", "name"),
        [(list_column_added(SCORE, 3), "list", "Members"), (pet_column_added(SCORE, 3), "pet", "Orders")],
    )
    def test_an_added_column_names_its_version(
        self, event: ListColumnAdded | PetColumnAdded, kind: Literal["list", "pet"], name: str
    ) -> None:
        assert project(event, Snapshot()) == (AddColumn(kind, name, SCORE.model_dump_json(), 3, T0),)

    def test_list_events_touch_no_job_or_run_rows(self) -> None:
        assert subject_of(list_defined()) == subject_of(pet_column_added(SCORE)) == Subject()


async def test_columns_grow_once_each_whatever_is_replayed() -> None:
    model = InMemoryReadModel()
    added = list_column_added(SCORE)
    for event in (list_defined(), pet_defined(), added, added, pet_column_added(SCORE), list_defined()):
        await project_event(model, event)

    assert model.lists["Members"]["columns"] == [column_json(FIRST_NAME), column_json(SCORE)]
    assert model.lists["Members"]["version"] == 2
    assert (model.pets["Orders"]["list_name"], model.pets["Orders"]["version"]) == ("Members", 2)
    assert model.pets["Orders"]["columns"] == [column_json(TOTAL), column_json(SCORE)]


@pytest.mark.parametrize(
    ("counts", "text"),
    [
        (RunCounts(rows_read=3, inserted=3), "3 rows read, 3 inserted, 0 updated, 0 unchanged, 0 rejected"),
        (
            RunCounts(rows_read=9, inserted=2, updated=1, skipped=4, duplicates=2),
            "9 rows read, 2 inserted, 1 updated, 0 unchanged, 0 rejected, 4 skipped, 2 duplicates",
        ),
        (
            RunCounts(rows_read=2, inserted=1, duplicates=1),
            "2 rows read, 1 inserted, 0 updated, 0 unchanged, 0 rejected, 1 duplicate",
        ),
    ],
)
def test_skipped_rows_and_duplicates_are_counted_in_words_when_there_are_any(counts: RunCounts, text: str) -> None:
    assert counts_text(counts) == text
