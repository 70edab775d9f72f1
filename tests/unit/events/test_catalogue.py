"""Walks the event catalogue: names, frozenness, wire names, docstrings, round trips, published schemas."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
from pydantic import ValidationError

import connect_events as ev
from connect_events.envelope import Command, Event
from connect_events.schema import render_all

ALL_CLASSES = [(topic, cls) for topic in ev.ALL_TOPICS for cls in ev.message_classes(topic)]
DOCS = Path(__file__).resolve().parents[3] / "docs" / "events"

# Past tense for events: the last word of the class name ends in -ed (Defined, Created, Stopped, …).
PAST_TENSE = re.compile(r"[A-Z][a-z]+ed$")
# Imperative for commands: the name starts with a verb and does not end in the past tense.
IMPERATIVE = re.compile(r"^(Define|Create|Update|Activate|Deactivate|Delete|Run|Stop|Copy|Add)[A-Z]")


@pytest.mark.parametrize(("topic", "cls"), ALL_CLASSES, ids=lambda x: getattr(x, "__name__", x))
def test_names_follow_the_conventions(topic: str, cls: type) -> None:
    if issubclass(cls, Event):
        assert PAST_TENSE.search(cls.__name__), f"{cls.__name__} is not named in the past tense"
    else:
        assert issubclass(cls, Command)
        assert IMPERATIVE.search(cls.__name__) and not PAST_TENSE.search(cls.__name__)


@pytest.mark.parametrize(("topic", "cls"), ALL_CLASSES, ids=lambda x: getattr(x, "__name__", x))
def test_every_message_is_frozen_documented_and_versioned(topic: str, cls: type[ev.Message]) -> None:
    assert cls.model_config.get("frozen") is True
    assert cls.__doc__ and cls.__doc__.strip() and len(cls.__doc__.strip().splitlines()) == 1
    assert isinstance(cls.model_fields["type"].default, str)
    assert cls.model_fields["schema_version"].default >= 1
    if issubclass(cls, Event):
        assert topic == cls.TOPIC


def test_wire_names_are_unique_and_dotted() -> None:
    names = [cls.model_fields["type"].default for _, cls in ALL_CLASSES]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[a-z_]+\.[a-z_]+", n) for n in names)


def test_wire_names_do_not_depend_on_class_names() -> None:
    for _, cls in ALL_CLASSES:
        assert cls.model_fields["type"].default != cls.__name__


def _job_created() -> ev.JobCreated:
    return ev.JobCreated(
        event_id=uuid4(),
        aggregate_id="7",
        aggregate_version=1,
        occurred_at=datetime.now(UTC),
        actor="alice",
        correlation_id=uuid4(),
        payload=ev.JobDefined(
            job_id=7,
            definition=ev.JobDefinition(
                name="Nightly orders",
                settings=ev.ImportCustomTable(
                    source=ev.SftpLocation(
                        host="sftp.example",
                        user="u",
                        path="/upload/orders.csv",
                        credential_ref=uuid4(),
                        host_key="ssh-ed25519 AAAA",
                        host_key_fingerprint="SHA256:x",
                    ),
                    table="orders",
                    mapping=(ev.ColumnMapping(source="id", target="ID"),),
                ),
            ),
        ),
    )


def test_a_topic_decodes_what_it_encodes() -> None:
    event = _job_created()
    decoded = ev.decode(ev.JOBS_TOPIC, ev.encode(event))
    assert decoded == event and isinstance(decoded, ev.JobCreated)


def test_messages_are_immutable() -> None:
    event = _job_created()
    with pytest.raises(ValidationError):
        event.actor = "mallory"  # type: ignore[misc]


def test_a_topic_refuses_a_message_of_another_topic() -> None:
    with pytest.raises(ValidationError):
        ev.decode(ev.RUNS_TOPIC, ev.encode(_job_created()))


def test_run_events_are_keyed_by_job() -> None:
    assert ev.run_key(1042, 7) == "1042.7"
    started = ev.RunStarted(
        event_id=uuid4(),
        aggregate_id="1042.7",
        aggregate_version=2,
        occurred_at=datetime.now(UTC),
        actor="runner",
        correlation_id=uuid4(),
        payload=ev.RunStartedPayload(job_id=1042, run_id=7, attempt=1, runner="r1", started_at=datetime.now(UTC)),
    )
    assert started.partition_key == "1042"


def test_published_schemas_match_the_code() -> None:
    """docs/events is generated from libs/events: regenerate with `make schemas` after a contract change."""
    for name, content in render_all().items():
        assert (DOCS / name).read_text() == content, f"docs/events/{name} is stale: run `make schemas`"


def test_an_event_encoded_again_gets_the_same_bytes_and_one_with_its_id_no_stale_ones() -> None:
    def skipped(occurred_at: datetime, event_id: object) -> ev.RunSkipped:
        payload = ev.RunSkippedPayload(job_id=1, run_id=2, job_name="j", scheduled_for=occurred_at, running_run_id=1)
        common = {"aggregate_id": "1.2", "aggregate_version": 1, "actor": "scheduler", "correlation_id": uuid4()}
        return ev.RunSkipped(**common, event_id=event_id, occurred_at=occurred_at, payload=payload)

    fire = uuid4()  # a retried fire decides again, under the same deterministic id
    first = skipped(datetime(2026, 1, 1, 9, 0, tzinfo=UTC), fire)
    again = skipped(datetime(2026, 1, 1, 9, 1, tzinfo=UTC), fire)

    assert ev.encode(first) is ev.encode(first)
    assert ev.encode(again) != ev.encode(first)
    assert ev.decode(ev.RUNS_TOPIC, ev.encode(again)) == again


def test_reject_counts_travel_in_log_details_under_their_reasons() -> None:
    from connect_events import reject_details, rejects_by_reason

    details = {"rejected": 3, "rows": 10, **reject_details(["B", "A", "B"])}
    assert details["rejected:B"] == 2
    assert rejects_by_reason(details) == {"A": 1, "B": 2}
    assert rejects_by_reason({"rejected": 3}) == {}
