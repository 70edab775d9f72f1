"""Which undecodable records name a command someone waits for, what their refusal says, and which failures
of a handler are the infrastructure's (retried) rather than the command's (refused)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from pydantic import ValidationError

from connect_events import COMMANDS_TOPIC, decode
from connect_scheduler.domain.malformed import (
    COMMAND_TYPES,
    NOT_JSON,
    UNKNOWN,
    MalformedCommand,
    explain,
    identify_malformed,
    path,
)
from connect_scheduler.handlers import COMMAND_HANDLERS, is_infrastructure_failure

RECEIVED = datetime(2025, 3, 1, 9, 31, tzinfo=UTC)
SECRET = "hunter2-do-not-echo"


def command(**overrides: Any) -> dict[str, Any]:
    """A create-job command as JSON, valid until `overrides` break it."""
    body: dict[str, Any] = {
        "type": "job.create",
        "schema_version": 1,
        "command_id": str(uuid4()),
        "issued_at": "2025-03-01T09:30:00+00:00",
        "actor": "alice",
        "correlation_id": str(uuid4()),
        "payload": {
            "definition": {
                "name": "Nightly",
                "settings": {
                    "kind": "import_custom_table",
                    "source": {
                        "host": "sftp.example.com",
                        "user": "loader",
                        "path": "in.csv",
                        "credential_ref": str(uuid4()),
                        "host_key": "ssh-ed25519 AAAA",
                        "host_key_fingerprint": "SHA256:x",
                    },
                    "table": "Customers",
                    "mapping": [{"source": "id", "target": "id"}],
                },
            }
        },
    }
    return {**body, **overrides}


def identify(value: bytes) -> MalformedCommand | None:
    with pytest.raises(ValidationError) as caught:
        decode(COMMANDS_TOPIC, value)
    return identify_malformed(value, caught.value, RECEIVED)


def test_the_valid_builder_decodes() -> None:
    decode(COMMANDS_TOPIC, json.dumps(command()).encode())


def test_a_missing_field_names_its_path_and_keeps_whom_to_answer() -> None:
    body = command()
    del body["payload"]["definition"]["name"]
    found = identify(json.dumps(body).encode())
    assert found is not None
    assert found.command_id == UUID(body["command_id"])
    assert found.correlation_id == UUID(body["correlation_id"])
    assert (found.command_type, found.actor) == ("job.create", "alice")
    assert found.issued_at == datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
    assert [(e.field, e.message) for e in found.errors] == [("payload.definition.name", "is required")]
    assert found.message == "the command could not be read: payload.definition.name is required"


def test_wrong_values_are_named_by_path_and_never_quoted() -> None:
    body = command()
    body["payload"]["definition"]["settings"]["source"]["port"] = SECRET
    body["payload"]["definition"]["settings"]["mapping"][0]["target"] = 7
    body["payload"]["activate"] = SECRET
    value = json.dumps(body).encode()
    found = identify(value)
    assert found is not None
    assert {e.field: e.message for e in found.errors} == {
        "payload.definition.settings.source.port": "must be an integer",
        "payload.definition.settings.mapping[0].target": "must be text",
        "payload.activate": "must be true or false",
    }
    assert SECRET not in found.message
    assert all(SECRET not in e.message for e in found.errors)


WEEKLY = {"kind": "weekly", "days": ["mon", SECRET], "time": "10:00"}
NESTED_UNIONS: dict[str, tuple[str, Any, str, str]] = {
    "an external source's field": ("settings.source.port", SECRET, "settings.source.port", "must be an integer"),
    "a hosted source's field": (
        "settings.source",
        {"kind": "hosted", "path": 5},
        "settings.source.path",
        "must be text",
    ),
    "a hosted source's missing field": ("settings.source", {"kind": "hosted"}, "settings.source.path", "is required"),
    "an unknown source kind": (
        "settings.source.kind",
        SECRET,
        "settings.source.kind",
        "is not one of the allowed values",
    ),
    "a source that is no object": ("settings.source", SECRET, "settings.source", "must be an object"),
    "a schedule's field": ("schedule", WEEKLY, "schedule.days[1]", "is not one of the allowed values"),
    "a schedule without a kind": ("schedule", {"time": "10:00"}, "schedule.kind", "is required"),
}


@pytest.mark.parametrize(("at", "value", "field", "message"), NESTED_UNIONS.values(), ids=NESTED_UNIONS.keys())
def test_the_tags_of_nested_unions_are_fields_not_path_segments(at: str, value: Any, field: str, message: str) -> None:
    body = command()
    *parents, name = at.split(".")
    target = body["payload"]["definition"]
    for parent in parents:
        target = target[parent]
    target[name] = value
    found = identify(json.dumps(body).encode())
    assert found is not None
    assert [(e.field, e.message) for e in found.errors] == [(f"payload.definition.{field}", message)]
    assert SECRET not in found.message


def test_an_unknown_type_is_named_without_quoting_it() -> None:
    found = identify(json.dumps(command(type=SECRET)).encode())
    assert found is not None
    assert found.command_type == UNKNOWN
    assert [(e.field, e.message) for e in found.errors] == [("type", "is not a command type the scheduler knows")]
    assert SECRET not in found.message


def test_a_bad_envelope_falls_back_to_the_command_id_and_the_record_time() -> None:
    found = identify(json.dumps(command(correlation_id="nope", issued_at="soon", actor="a\x00b")).encode())
    assert found is not None
    assert found.correlation_id == found.command_id
    assert found.issued_at == RECEIVED
    assert found.actor == UNKNOWN
    assert {e.field for e in found.errors} == {"correlation_id", "issued_at"}


def test_a_message_names_three_fields_and_counts_the_rest() -> None:
    body = command(payload={"definition": {}})
    found = identify(json.dumps(body).encode())
    assert found is not None
    assert found.message == (
        "the command could not be read: payload.definition.name is required; payload.definition.settings is required"
    )
    many = identify(json.dumps(command(payload={}, actor=3, issued_at="soon", correlation_id=6)).encode())
    assert many is not None
    assert len(many.errors) == 4
    assert many.message.endswith("; and 1 more")


def test_text_the_decoder_refuses_but_json_reads_still_names_the_command() -> None:
    # An unpaired surrogate escape: Python's json module reads it, pydantic (rightly) refuses the record.
    body = json.dumps(command()).replace('"Nightly"', '"Night\\ud800ly"')
    found = identify(body.encode())
    assert found is not None
    assert found.errors == ()
    assert found.message == f"the command could not be read: {NOT_JSON}"


def test_invalid_utf8_still_names_the_command() -> None:
    body = json.dumps(command()).encode().replace(b"Nightly", b"Night\xffly")
    found = identify(body)
    assert found is not None
    assert found.message == f"the command could not be read: {NOT_JSON}"


NOBODY_WAITS = {
    "not JSON": b"not json",
    "truncated": json.dumps(command()).encode()[:40],
    "an array": json.dumps([command()]).encode(),
    "no command id": json.dumps({"type": "job.explode"}).encode(),
    "command id not a UUID": json.dumps(command(command_id="42")).encode().replace(b'"Nightly"', b"5"),
    "command id a number": json.dumps(command(command_id=42)).encode(),
    "deeply nested": b'{"command_id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
}


@pytest.mark.parametrize("value", NOBODY_WAITS.values(), ids=NOBODY_WAITS.keys())
def test_a_record_without_a_readable_command_id_names_nobody(value: bytes) -> None:
    assert identify(value) is None


def test_paths_and_words() -> None:
    assert path(("payload", "mapping", 2, "target")) == "payload.mapping[2].target"
    assert path(()) == ""
    assert explain("uuid_parsing") == "must be a UUID"
    assert explain("string_too_long") == "has a length out of range"
    assert explain("something_new") == "is not valid"


def test_every_command_type_is_known_and_handled() -> None:
    assert {"job.create", "job.copy", "job.run_now", "run.stop"} <= COMMAND_TYPES
    assert {cls.model_fields["type"].default for cls in COMMAND_HANDLERS} == COMMAND_TYPES


def test_a_stop_without_its_run_names_the_missing_field() -> None:
    body = {**command(type="run.stop"), "payload": {"job_id": 12}}
    found = identify(json.dumps(body).encode())
    assert found is not None
    assert (found.command_type, [(e.field, e.message) for e in found.errors]) == (
        "run.stop",
        [("payload.run_id", "is required")],
    )


INFRASTRUCTURE = {
    "connection lost": asyncpg.ConnectionDoesNotExistError("gone"),
    "deadlock": asyncpg.DeadlockDetectedError("deadlock"),
    "serialization": asyncpg.SerializationError("serialize"),
    "admin shutdown": asyncpg.AdminShutdownError("bye"),
    "too many connections": asyncpg.TooManyConnectionsError("full"),
    "socket": ConnectionResetError("reset"),
    "timeout": TimeoutError(),
}
THE_COMMANDS_OWN = {
    "NUL in a parameter": asyncpg.CharacterNotInRepertoireError("invalid byte sequence"),
    "jsonb escape": asyncpg.UntranslatableCharacterError("unsupported Unicode escape"),
    "bug": ZeroDivisionError("division by zero"),
    "check violation": asyncpg.CheckViolationError("check"),
    "type error": TypeError("unexpected"),
    # The consumer gives these up after a few tries: raising them would leave the command unanswered.
    "statement timeout": asyncpg.QueryCanceledError("cancelled"),
    "interface": asyncpg.InterfaceError("cannot perform operation"),
    "runtime error": RuntimeError("while appending"),
}


@pytest.mark.parametrize("exc", INFRASTRUCTURE.values(), ids=INFRASTRUCTURE.keys())
def test_infrastructure_failures_are_retried(exc: BaseException) -> None:
    assert is_infrastructure_failure(exc)


@pytest.mark.parametrize("exc", THE_COMMANDS_OWN.values(), ids=THE_COMMANDS_OWN.keys())
def test_other_failures_are_the_commands_own(exc: BaseException) -> None:
    assert not is_infrastructure_failure(exc)
