"""The contract only grows: current schemas against the published baseline, and the checker's own rules."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from connect_events import ALL_TOPICS
from connect_events.compat import breaking_changes
from connect_events.schema import topic_schema

BASELINE = Path(__file__).resolve().parents[3] / "docs" / "events" / "baseline"


@pytest.mark.parametrize("topic", ALL_TOPICS)
def test_current_contract_breaks_nothing_of_the_baseline(topic: str) -> None:
    baseline = json.loads((BASELINE / f"{topic}.schema.json").read_text())
    assert breaking_changes(baseline, topic_schema(topic)) == []


def _runs() -> dict[str, Any]:
    return copy.deepcopy(topic_schema("connect.runs"))


def test_an_added_optional_field_and_message_are_compatible() -> None:
    new = _runs()
    new["$defs"]["RunCounts"]["properties"]["skipped"] = {"type": "integer", "default": 0}
    new["$defs"]["RunArchived"] = {"properties": {}}
    new["discriminator"]["mapping"]["run.archived"] = "#/$defs/RunArchived"
    assert breaking_changes(_runs(), new) == []


def test_a_removed_field_is_breaking() -> None:
    new = _runs()
    del new["$defs"]["RunCounts"]["properties"]["rejected"]
    assert breaking_changes(_runs(), new) == ["RunCounts.rejected: removed"]


def test_a_newly_required_field_is_breaking() -> None:
    new = _runs()
    new["$defs"]["RunCounts"]["required"] = ["rejected"]
    assert breaking_changes(_runs(), new) == ["RunCounts.rejected: now required"]


def test_a_changed_type_is_breaking_but_a_wider_union_is_not() -> None:
    old = _runs()
    narrowed = _runs()
    narrowed["$defs"]["RunCounts"]["properties"]["rejected"] = {"type": "string"}
    assert breaking_changes(old, narrowed) == [
        "RunCounts.rejected: type changed from {'type': 'integer'} to {'type': 'string'}"
    ]
    widened = _runs()
    widened["$defs"]["RunCounts"]["properties"]["rejected"] = {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    assert breaking_changes(old, widened) == []


def test_a_removed_message_type_is_breaking() -> None:
    new = _runs()
    del new["discriminator"]["mapping"]["run.stopped"]
    assert "message type 'run.stopped': removed" in breaking_changes(_runs(), new)


def test_a_removed_enum_value_is_breaking_and_an_added_one_is_not() -> None:
    old = _runs()
    codes = old["$defs"]["RunFailedPayload"]["properties"]["code"]["enum"]
    fewer, more = _runs(), _runs()
    fewer["$defs"]["RunFailedPayload"]["properties"]["code"]["enum"] = codes[1:]
    more["$defs"]["RunFailedPayload"]["properties"]["code"]["enum"] = [*codes, "QUOTA_EXCEEDED"]
    assert [p.split(":")[0] for p in breaking_changes(old, fewer)] == ["RunFailedPayload.code"]
    assert breaking_changes(old, more) == []
