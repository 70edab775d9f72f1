"""Replies every store and the bus can take, whatever the command held: a sane time, a bounded size, and no
unprintable value quoted (review findings of issue 5)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from connect_events import ColumnSpec, ColumnType, DefineTable, DefineTablePayload, FieldError, TableSpec, encode
from connect_scheduler.domain.envelope import occurred_at
from connect_scheduler.domain.rejection import MAX_ERRORS
from connect_scheduler.domain.tables import validate_table
from connect_scheduler.handlers import causation_of, rejected
from tests.unit.scheduler.scheduler_builders import customers, meta
from tests.unit.scheduler.test_scheduler_malformed import command, identify

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
FAR_EAST = timezone(timedelta(hours=14))
FAR_WEST = timezone(timedelta(hours=-14))


@pytest.mark.parametrize(
    "issued_at",
    [datetime(1, 1, 1, tzinfo=FAR_EAST), datetime(9999, 12, 31, 23, 59, tzinfo=FAR_WEST), datetime(1, 1, 1)],
    ids=["year-1-east", "year-9999-west", "year-1-naive"],
)
def test_an_absurd_issue_time_gives_way_to_the_fallback(issued_at: datetime) -> None:
    assert occurred_at(issued_at, fallback=NOW) == NOW


def test_a_sane_issue_time_is_kept_in_utc() -> None:
    issued = datetime(2026, 11, 29, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    assert occurred_at(issued, fallback=NOW) == datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_a_command_issued_at_an_absurd_time_causes_events_at_a_storable_time() -> None:
    cmd = DefineTable(
        **{**meta(), "issued_at": datetime(1, 1, 1, tzinfo=FAR_EAST)}, payload=DefineTablePayload(table=customers())
    )
    assert 1970 <= causation_of(cmd).occurred_at.year <= 9998


def test_a_malformed_record_issued_at_an_absurd_time_is_answered_at_the_record_time() -> None:
    malformed = identify(json.dumps(command(issued_at="0001-01-01T00:00:00+14:00", actor=7)).encode())
    assert malformed is not None
    assert malformed.issued_at.year >= 1970


def test_a_rejection_stays_small_however_many_errors_the_command_has() -> None:
    cmd = DefineTable(**meta(), payload=DefineTablePayload(table=customers()))
    errors = [FieldError(field=f"settings.mapping[{i}].target", message="x" * 10_000) for i in range(5_000)]
    reply = rejected(cmd, causation_of(cmd), "validation", "m" * 100_000, errors)
    assert len(reply.payload.errors) == MAX_ERRORS
    assert "4901 more" in reply.payload.errors[-1].message
    assert len(encode(reply)) < 100_000


def test_a_column_named_twice_is_not_quoted_when_it_is_unprintable() -> None:
    bad = "a\x00\n"
    spec = TableSpec(
        name="T", columns=(ColumnSpec(name=bad, type=ColumnType.TEXT, max_length=5),) * 2, primary_key=("ID",)
    )
    assert all(bad not in e.message for e in validate_table(spec))
