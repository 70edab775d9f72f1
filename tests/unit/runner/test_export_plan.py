"""What an export reads (`domain/export_plan.py`) and how its files are named (`exporting.export_names`): every name
from the frozen definitions, quoted; values only as parameters; incremental exports start at the mark."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connect_events import (
    AudienceExport,
    AudienceSpec,
    ColumnRef,
    ColumnSpec,
    ColumnType,
    Condition,
    ConditionGroup,
    Daily,
    ExportFile,
    HostedLocation,
    JobDefinition,
    ListExport,
    ListSpec,
    PetExport,
    PetSpec,
    RunRequested,
    RunRequestedPayload,
    TableExport,
    TableSpec,
)
from connect_runner.domain.export_plan import export_selection
from connect_runner.domain.export_select import OutputFormat
from connect_runner.domain.failures import RunFailure
from connect_runner.exporting import export_names
from tests.unit.runner.runner_builders import REQUESTED_AT, _requested, people_table

LIST = ListSpec(name='Mem"bers', columns=(ColumnSpec(name="CITY", type=ColumnType.TEXT, max_length=20),))
PET = PetSpec(
    name="Orders",
    list_name=LIST.name,
    columns=(
        ColumnSpec(name="CITY", type=ColumnType.TEXT, max_length=20),
        ColumnSpec(name="TOTAL", type=ColumnType.NUMBER, precision=8, scale=2),
    ),
)
SINCE = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def request(settings: ExportFile, table: TableSpec, **payload: object) -> RunRequested:
    body = RunRequestedPayload(
        job_id=42,
        run_id=7,
        job_version=1,
        definition=JobDefinition(name="e", settings=settings, schedule=Daily(time_zone="Asia/Tokyo", time="06:00")),
        table=table,
        **payload,  # type: ignore[arg-type]
    )
    return _requested(42, 7, body, REQUESTED_AT)


def export(source: object, path: str = "download/out.csv", **fields: object) -> ExportFile:
    return ExportFile(source=source, destination=HostedLocation(path=path), **fields)  # type: ignore[arg-type]


def test_a_table_export_reads_the_chosen_columns_in_order_by_its_key() -> None:
    table = people_table("people")
    settings = export(TableExport(table="people", columns=("NAME", "id")))
    selection = export_selection(request(settings, table), settings, None)
    assert [c.name for c in selection.columns] == ["name", "id"]
    assert [c.sql for c in selection.columns] == ['t."name"', 't."id"']
    assert (selection.from_where, selection.order, selection.params) == ('FROM "custom"."people" AS t', 't."id"', ())


def test_a_list_export_quotes_its_names_and_starts_at_the_mark_when_incremental() -> None:
    settings = export(ListExport(list_name='mem"bers', columns=("EMAIL_ADDRESS_", "city")), incremental=True)
    req = request(settings, LIST.as_table(), list=LIST)
    first = export_selection(req, settings, None)
    assert first.from_where == 'FROM "lists"."Mem""bers" AS l'
    later = export_selection(req, settings, SINCE)
    assert later.from_where == 'FROM "lists"."Mem""bers" AS l WHERE l."MODIFIED_DATE_" >= $1'
    assert later.params == (datetime(2026, 1, 2, 3, 4, 5),)  # UTC, as the column keeps it
    assert later.count == 'SELECT count(*) FROM "lists"."Mem""bers" AS l WHERE l."MODIFIED_DATE_" >= $1'


def test_a_pet_export_joins_its_list_and_names_a_repeated_column_after_the_pet() -> None:
    settings = export(PetExport(pet="orders", key_columns=("EMAIL_ADDRESS_", "CITY")))
    selection = export_selection(request(settings, PET.as_table(), list=LIST, pets=(PET,)), settings, None)
    assert [c.name for c in selection.columns] == ["EMAIL_ADDRESS_", "CITY", "Orders.CITY", "TOTAL"]
    assert selection.from_where == 'FROM "pets"."Orders" AS p JOIN "lists"."Mem""bers" AS l ON l."RIID_" = p."RIID_"'


def test_an_incremental_audience_adds_the_mark_after_its_own_parameters() -> None:
    audience = AudienceSpec(
        name="big",
        list_name=LIST.name,
        filter=ConditionGroup(
            conditions=(Condition(column=ColumnRef(column="CITY"), operator="equals", values=("Oslo",)),)
        ),
        columns=(ColumnRef(column="EMAIL_ADDRESS_"),),
    )
    settings = export(AudienceExport(audience="big"), incremental=True)
    req = request(settings, LIST.as_table(), list=LIST, audience=audience)
    selection = export_selection(req, settings, SINCE)
    assert selection.from_where.endswith(' WHERE (l."CITY" = $1::text) AND l."MODIFIED_DATE_" >= $2')
    assert selection.params == ("Oslo", datetime(2026, 1, 2, 3, 4, 5))
    output = OutputFormat(delimiter=",", qualifier='"', quote_always=False, header=True, escape_formulas=True)
    assert "Oslo" not in selection.query(output)


def test_a_column_gone_since_the_job_was_checked_fails_the_run() -> None:
    settings = export(TableExport(table="people", columns=("ghost",)))
    with pytest.raises(RunFailure) as failure:
        export_selection(request(settings, people_table("people")), settings, None)
    assert (failure.value.code, failure.value.message) == (
        "TARGET_MISSING",
        "the column ghost to export is no longer defined",
    )


def test_file_names_render_the_date_tokens_in_the_jobs_zone_and_hide_the_temporary_file() -> None:
    settings = export(TableExport(table="people"), path="download/daily/out_%YYYY%%MM%%DD%_%HH%.csv")
    names = export_names(request(settings, people_table("people")), settings)
    # 2025-03-14 09:30 UTC is 18:30 in Tokyo.
    assert names.final == "download/daily/out_20250314_18.csv"
    assert names.temp == "download/daily/.out_20250314_18.csv.42.7.part"
    assert names.companion("cnt") == "download/daily/out_20250314_18.csv.cnt"


class RecordingDestination:
    """A destination that only records what is done to it."""

    def __init__(self) -> None:
        self.done: list[str] = []

    async def create(self, path: str) -> object:
        self.done.append(f"create {path}")
        done = self.done

        class Sink:
            async def write(self, data: bytes) -> None:
                done.append(f"write {data!r}")

            async def close(self) -> None:
                done.append("close")

        return Sink()

    async def rename(self, path: str, target: str) -> None:
        self.done.append(f"rename {path} -> {target}")

    async def remove(self, path: str) -> None:
        self.done.append(f"remove {path}")


async def test_delivery_clears_old_companions_renames_then_writes_count_and_ready() -> None:
    from connect_events import ExportFileRules
    from connect_runner.exporting import ExportNames, Written, deliver
    from connect_runner.progress import Journal

    settings = export(TableExport(table="people"), files=ExportFileRules(count_file="cnt", ready_file="ok"))
    written = Written(ExportNames("d/p.csv", "d/.p.csv.1.2.part"), 3, 10, SINCE)
    destination = RecordingDestination()
    entries = await deliver(destination, written, settings, Journal("1.2"))  # type: ignore[arg-type]
    assert destination.done == [
        "remove d/p.csv.ok",
        "remove d/p.csv.cnt",
        "rename d/.p.csv.1.2.part -> d/p.csv",
        "create d/.p.csv.cnt.part",
        "write b'3\\n'",
        "close",
        "rename d/.p.csv.cnt.part -> d/p.csv.cnt",
        "create d/.p.csv.ok.part",
        "write b''",
        "close",
        "rename d/.p.csv.ok.part -> d/p.csv.ok",
    ]
    assert [e.stage for e in entries] == ["renamed", "count_file", "ready_file"]
