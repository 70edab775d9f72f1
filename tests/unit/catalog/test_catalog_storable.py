"""Text PostgreSQL cannot store (NUL, unpaired surrogates) is replaced on the way into the read models, so
every event and every reply is stored instead of being dead-lettered."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import fields as dataclass_fields
from typing import Any

import pytest
from pydantic import BaseModel

from connect_catalog.domain.changes import Change, RecordCommandOutcome
from connect_catalog.domain.projection import project
from connect_catalog.domain.storable import storable
from connect_catalog.domain.views import Snapshot
from connect_events import CommandRejectedPayload, Event, FieldError
from connect_events.values import REPLACEMENT_CHARACTER as REPLACEMENT
from connect_events.values import storable_problem, storable_text
from tests.unit.catalog import catalog_builders as b

NUL = "\x00"
SURROGATE = "\ud800"


def test_nul_and_unpaired_surrogates_become_the_replacement_character() -> None:
    assert storable_text(f"a{NUL}b{SURROGATE}c") == f"a{REPLACEMENT}b{REPLACEMENT}c"
    assert storable_text("plain, ünïcode and 🚀 stay") == "plain, ünïcode and 🚀 stay"


def test_a_storable_event_is_passed_through_as_it_is() -> None:
    event = b.job_created()
    assert storable(event) is event


def _poisoned(value: Any, bad: str) -> Any:
    """`value` with `bad` appended to every free-text field (typed `str`), built without validation as a
    decoder hands NUL over (a surrogate cannot come from JSON, but the rule holds for both)."""
    if isinstance(value, BaseModel):
        update = {
            name: _poisoned_field(f.annotation, getattr(value, name), bad)
            for name, f in type(value).model_fields.items()
        }
        return value.model_copy(update=update)
    if isinstance(value, tuple):
        return tuple(_poisoned(v, bad) for v in value)
    return value


def _poisoned_field(annotation: Any, value: Any, bad: str) -> Any:
    if isinstance(value, str) and annotation in (str, str | None):
        return value + bad
    return _poisoned(value, bad)


def _poison(event: Event, bad: str) -> Event:
    poisoned: Event = _poisoned(event, bad)
    return poisoned


EVENTS: dict[str, Callable[[], Event]] = {
    "job created": b.job_created,
    "job updated": b.job_updated,
    "job deleted": b.job_deleted,
    "table defined": b.table_defined,
    "run requested": b.run_requested,
    "run started": b.run_started,
    "run progressed": b.run_progressed,
    "run succeeded": b.run_succeeded,
    "run failed": b.run_failed,
    "run stopped": b.run_stopped,
    "command accepted": b.command_accepted,
    "command rejected": b.command_rejected,
}


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, BaseModel):
        return _texts(value.model_dump())
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in _texts(k) + _texts(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _texts(v)]
    return []


def _change_texts(changes: tuple[Change, ...]) -> list[str]:
    texts: list[str] = []
    for change in changes:
        for f in dataclass_fields(change):
            texts += _texts(getattr(change, f.name))
    return texts


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["NUL", "surrogate"])
@pytest.mark.parametrize("build", EVENTS.values(), ids=EVENTS.keys())
def test_no_projected_change_holds_what_postgresql_cannot_store(build: Callable[[], Event], bad: str) -> None:
    event = _poison(build(), bad)
    assert any(storable_problem(t) for t in _texts(event)), "the test did not poison anything"

    repaired = storable(event)

    assert type(repaired) is type(event)
    assert repaired.event_id == event.event_id
    assert not any(storable_problem(t) for t in _texts(repaired))
    texts = _change_texts(project(event, Snapshot()))
    assert not any(storable_problem(t) for t in texts)
    # jsonb refuses the escaped forms too
    assert not any("\\u0000" in t or "\\ud800" in t for t in texts)


def test_a_rejection_whose_message_holds_a_nul_is_recorded_with_the_replacement() -> None:
    reply = b.command_rejected()
    payload = CommandRejectedPayload(
        command_id=reply.payload.command_id,
        command_type="table.define",
        code="validation",
        message=f"table a{NUL}b has 1 error(s)",
        errors=(FieldError(field="table.name", message=f"bad a{NUL}b"),),
    )
    [change] = project(reply.model_copy(update={"payload": payload}), Snapshot())

    assert isinstance(change, RecordCommandOutcome)
    assert change.message == f"table a{REPLACEMENT}b has 1 error(s)"
    assert json.loads(change.errors_json) == [{"field": "table.name", "message": f"bad a{REPLACEMENT}b"}]
