"""A run request the runner cannot decode still names its run, so that run can be failed."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid5

import pytest

from connect_events import RUNS_TOPIC, decode, encode
from connect_runner.domain.unreadable import FALLBACK_NAMESPACE, identify, summarize
from tests.unit.runner.runner_builders import location, run_request


def _newer(**changes: Any) -> dict[str, Any]:
    """A request as a newer scheduler might send it: another schema version and an unknown field."""
    data: dict[str, Any] = json.loads(encode(run_request(42, 7, source=location("/x.csv"))))
    data["schema_version"] = 2
    data["payload"]["priority"] = "high"
    return {**data, **changes}


def _identify(data: dict[str, Any] | bytes) -> Any:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    with pytest.raises(Exception) as caught:
        decode(RUNS_TOPIC, raw)
    return identify(raw, caught.value)


def test_a_newer_request_is_identified_with_its_ids_and_a_short_reason() -> None:
    data = _newer()

    found = _identify(data)

    assert (found.aggregate_id, found.payload.job_id, found.payload.run_id) == ("42.7", 42, 7)
    assert (str(found.event_id), str(found.correlation_id)) == (data["event_id"], data["correlation_id"])
    assert found.error == (
        "this runner cannot read the run request: schema_version: not a value this runner knows"
    )  # payload.priority, a field this runner does not know, is ignored rather than refused
    assert "high" not in found.error  # field paths and the kind of problem only, never the values


def test_unreadable_ids_fall_back_to_ones_derived_from_the_run() -> None:
    found = _identify(_newer(event_id="not-a-uuid", correlation_id=None))
    assert found.event_id == found.correlation_id == uuid5(FALLBACK_NAMESPACE, "42.7")


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[1, 2]",
        _newer(type="run.something_new"),
        _newer(aggregate_id="42.8"),  # does not match its payload: which run would fail?
        _newer(payload={"job_id": "42", "run_id": 7}),
        _newer(payload={"job_id": 42}),
    ],
)
def test_records_that_do_not_name_a_requested_run_are_not_identified(data: dict[str, Any] | bytes) -> None:
    assert _identify(data) is None


def test_problems_are_told_in_the_runners_words_and_field_names_are_shown_safely() -> None:
    data = _newer(schema_version=1)
    data["payload"] = {**data["payload"], "job_version": "x", "table": None}
    del data["payload"]["definition"]

    problem = _identify(data).problem

    assert problem == "payload.job_version: not a whole number; payload.definition: missing; payload.table: not valid"
    assert summarize(ValueError("Input should be 'secret'")) == "it matches no message this runner knows"


def test_a_field_name_with_control_characters_is_shown_without_them() -> None:
    from pydantic import BaseModel, ConfigDict, ValidationError

    class Strict(BaseModel):
        model_config = ConfigDict(extra="forbid")

    with pytest.raises(ValidationError) as caught:
        Strict.model_validate({"a\x00b\x1b": 1, "x" * 100: 2})
    assert summarize(caught.value) == (
        f"a?b?: not a field this runner knows; {'x' * 64}…: not a field this runner knows"
    )


def test_a_long_list_of_problems_is_cut_short() -> None:
    data = _newer(payload={"job_id": 42, "run_id": 7, "a": 1, "b": 2, "c": 3, "d": 4})
    assert _identify(data).problem.endswith("more)")
