"""The scheduler checks again what the gateway checks (a command may come from any producer): hosts,
control characters in single-line values, text PostgreSQL cannot store. Each error names the definition
path and never quotes the value."""

from __future__ import annotations

from typing import Any

import pytest

from connect_events import DefineTable, DefineTablePayload, RunJobNow, RunJobNowPayload, TableSpec
from connect_events.values import CONTROL, HOST, STORABLE
from connect_scheduler.domain.jobs import fold
from connect_scheduler.domain.rejection import Rejected
from connect_scheduler.domain.run_control import decide_run_job_now
from connect_scheduler.domain.tables import decide_define_table
from connect_scheduler.domain.validation import envelope_errors, validate_job
from tests.unit.scheduler.scheduler_builders import (
    T0,
    active_job,
    causation,
    column,
    customers,
    definition,
    meta,
)

NUL = "a\x00b"
SURROGATE = "a\ud800b"
LINE_BREAK = "a\nb"
C1_CONTROL = "a\x95b"


def errors(**overrides: Any) -> list[tuple[str, str]]:
    return [(e.field, e.message) for e in validate_job(definition(**overrides), customers())]


BAD_HOSTS = {
    "double dot": ("a..b", HOST),
    "lone dot": (".", HOST),
    "label of 64": ("a" * 64, HOST),
    "NUL": (NUL, STORABLE),
    "C1 control": ("a\u0095", CONTROL),
    "bracketed IPv6": ("[::1]", "give an IPv6 address without brackets (e.g. 2001:db8::1)"),
    "bad IPv4": ("300.1.1.1", "is not a valid IPv4 address"),
}


@pytest.mark.parametrize(("host", "message"), BAD_HOSTS.values(), ids=BAD_HOSTS.keys())
def test_a_host_must_be_a_dns_name_or_an_ip_address(host: str, message: str) -> None:
    assert errors(host=host) == [("settings.source.host", message)]


@pytest.mark.parametrize("host", ["sftp.example.com", "127.0.0.1", "::1", "localhost"])
def test_valid_hosts_pass(host: str) -> None:
    assert errors(host=host) == []


SINGLE_LINE_FIELDS = {
    "name": ({"name": "{}"}, "name"),
    "user": ({"user": "{}"}, "settings.source.user"),
    "path": ({"path": "up/{}"}, "settings.source.path"),
    "table": ({"table": "{}"}, "settings.table"),
    "mapping source": ({"mapping": (("id", "id"), ("{}", "email"))}, "settings.mapping[1].source"),
    "mapping target": ({"mapping": (("id", "id"), ("email", "{}"))}, "settings.mapping[1].target"),
}
BAD_TEXT = {"NUL": (NUL, STORABLE), "surrogate": (SURROGATE, STORABLE), "line break": (LINE_BREAK, CONTROL)}


def _fill(template: Any, value: str) -> Any:
    if isinstance(template, str):
        return template.replace("{}", value)
    if isinstance(template, tuple):
        return tuple(_fill(t, value) for t in template)
    return {k: _fill(v, value) for k, v in template.items()}


@pytest.mark.parametrize(("text", "message"), BAD_TEXT.values(), ids=BAD_TEXT.keys())
@pytest.mark.parametrize(("template", "field"), SINGLE_LINE_FIELDS.values(), ids=SINGLE_LINE_FIELDS.keys())
def test_single_line_values_refuse_control_characters(template: Any, field: str, text: str, message: str) -> None:
    found = errors(**_fill(template, text))
    assert (field, message) in found
    assert all(text not in m for _, m in found), "a message quotes the refused value"


def test_a_c1_control_character_in_a_name_is_a_control_character() -> None:
    assert errors(name=C1_CONTROL) == [("name", CONTROL)]


@pytest.mark.parametrize("text", [NUL, SURROGATE])
def test_a_description_must_be_storable(text: str) -> None:
    assert errors(description=text) == [("description", STORABLE)]


def test_a_description_may_hold_line_breaks() -> None:
    assert errors(description="first line\nsecond line\ttabbed") == []


@pytest.mark.parametrize("field", ["host_key", "host_key_fingerprint"])
def test_the_pinned_host_key_must_be_storable(field: str) -> None:
    assert errors(**{field: NUL}) == [(f"settings.source.{field}", STORABLE)]


def test_every_value_error_comes_at_once() -> None:
    found = errors(name=NUL, host="a..b", user=LINE_BREAK, description=NUL)
    assert [f for f, _ in found] == ["name", "description", "settings.source.host", "settings.source.user"]


def test_an_unknown_table_with_a_nul_is_named_once_without_quoting_it() -> None:
    found = [(e.field, e.message) for e in validate_job(definition(table=NUL), None)]
    assert found == [("settings.table", STORABLE)]


def define(spec: TableSpec) -> DefineTable:
    return DefineTable(**meta(), payload=DefineTablePayload(table=spec))


def table_rejection(**overrides: Any) -> Rejected:
    fields: dict[str, Any] = {"name": "Customers", "columns": customers().columns, "primary_key": ("id",)}
    cmd = define(TableSpec(**{**fields, **overrides}))
    with pytest.raises(Rejected) as caught:
        decide_define_table(None, cmd, causation(cmd))
    return caught.value


@pytest.mark.parametrize(("text", "message"), BAD_TEXT.values(), ids=BAD_TEXT.keys())
def test_a_table_name_with_control_characters_is_a_validation_error(text: str, message: str) -> None:
    refused = table_rejection(name=text)
    assert refused.code == "validation"
    assert [(e.field, e.message) for e in refused.errors] == [("table.name", message)]
    assert text not in refused.message


def test_column_and_key_names_with_control_characters_are_named() -> None:
    columns = (column("id", "integer"), column(NUL))
    refused = table_rejection(name=NUL, columns=columns, primary_key=("id", LINE_BREAK))
    assert [(e.field, e.message) for e in refused.errors] == [
        ("table.name", STORABLE),
        ("table.columns[1].name", STORABLE),
        ("table.primary_key[1]", CONTROL),
    ]
    assert NUL not in refused.message


def test_a_key_naming_no_column_of_an_unprintable_table_does_not_quote_the_table() -> None:
    refused = table_rejection(name=LINE_BREAK, primary_key=("nope",))
    assert refused.errors[-1].message == "the table has no column nope"


def test_an_actor_that_cannot_be_stored_is_a_field_error() -> None:
    cmd = define(customers()).model_copy(update={"actor": NUL})
    assert [(e.field, e.message) for e in envelope_errors(cmd)] == [("actor", STORABLE)]
    assert envelope_errors(define(customers())) == []


def test_an_idempotency_key_that_cannot_be_stored_is_refused() -> None:
    cmd = RunJobNow(**meta(), payload=RunJobNowPayload(job_id=7, idempotency_key=NUL))
    with pytest.raises(Rejected) as caught:
        decide_run_job_now(fold(active_job(7)), cmd, customers(), None, T0, causation(cmd))
    assert caught.value.code == "validation"
    assert [(e.field, e.message) for e in caught.value.errors] == [("idempotency_key", STORABLE)]
