"""Export runs (spec §5.1-5.2, ADR 0012) on real PostgreSQL, the session's OpenSSH server and a hosted tree: the
file is read back and compared row by row with the source query, for every option; it appears under its final
name only once complete (a stopped or failed run leaves nothing there), count and ready files follow it, and an
incremental export writes only the rows modified since the last successful one."""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from connect_events import (
    AudienceExport,
    AudienceSpec,
    ColumnRef,
    ColumnSpec,
    ColumnType,
    Condition,
    ConditionGroup,
    CsvOutput,
    ExportFile,
    ExportFileRules,
    FileLocation,
    HostedLocation,
    JobDefinition,
    ListExport,
    ListSpec,
    PetExport,
    PetSpec,
    RetryPolicy,
    RunRequested,
    RunRequestedPayload,
    RunStopped,
    TableExport,
    TableSpec,
)
from connect_runner.adapters.tables import ensure_list, ensure_pet, ensure_table
from connect_runner.ports import Destination, Sink
from tests.integration.runner.runner_it import RunnerWorld, failed, succeeded
from tests.unit.runner.runner_builders import REQUESTED_AT, _requested, people_table, stop_request

pytestmark = pytest.mark.integration

PEOPLE: list[tuple[Any, ...]] = [
    (1, "Ann", Decimal("12.50"), True, date(1990, 1, 2), datetime(2024, 5, 6, 7, 8, 9)),
    (2, "Bo, Jr.", Decimal("-3.00"), False, None, datetime(2024, 5, 6, 7, 8, 9, 120000)),
    (3, 'say "hi"', None, None, date(2000, 2, 29), None),
    (4, "two\nlines", Decimal("0.01"), True, date(1970, 1, 1), datetime(1999, 12, 31, 23, 59, 59)),
    (5, "=SUM(A1)", Decimal("1.00"), False, None, None),
    (6, "", Decimal("2.00"), None, None, None),
    (7, None, None, None, None, None),
    (8, "Zoë €", Decimal("5.55"), True, None, None),
]


def written(value: Any) -> str | None:
    """A value as the file writes it (ADR 0012), None for NULL."""
    match value:
        case None:
            return None
        case bool():
            return "true" if value else "false"
        case datetime():
            text = value.strftime("%Y-%m-%d %H:%M:%S.%f").rstrip("0").rstrip(".")
            return text
        case date():
            return value.isoformat()
    return str(value)


async def people(world: RunnerWorld, rows: Sequence[tuple[Any, ...]] = PEOPLE) -> TableSpec:
    table = people_table(f"people_{world.unique}")
    async with world.pool.acquire() as conn:
        await ensure_table(conn, table)
        await conn.copy_records_to_table(table.name, schema_name="custom", records=list(rows))
    return table


def export_request(
    world: RunnerWorld,
    run_id: int,
    settings: ExportFile,
    table: TableSpec,
    *,
    listed: ListSpec | None = None,
    pets: tuple[PetSpec, ...] = (),
    audience: AudienceSpec | None = None,
    dry_run: bool = False,
    attempts: int = 1,
) -> RunRequested:
    definition = JobDefinition(name=f"export {world.job_id}", settings=settings, retry=RetryPolicy(attempts=attempts))
    payload = RunRequestedPayload(
        job_id=world.job_id,
        run_id=run_id,
        job_version=1,
        definition=definition,
        table=table,
        list=listed,
        pets=pets,
        audience=audience,
        dry_run=dry_run,
    )
    return _requested(world.job_id, run_id, payload, REQUESTED_AT)


def to_sftp(world: RunnerWorld, name: str) -> FileLocation:
    return world.source(str(world.remote_dir / name))


def unpacked(data: bytes, compression: str, entry: str) -> bytes:
    if compression == "gzip":
        return gzip.decompress(data)
    if compression == "zip":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            assert archive.namelist() == [entry]
            return archive.read(entry)
    return data


def records(text: str, file: CsvOutput) -> list[list[str | None]]:
    """The file's records; an empty value without a qualifier is NULL (with one, `""` is empty text)."""
    if not file.qualifier:
        ending = "\r\n" if file.line_ending == "crlf" else "\n"
        assert text.endswith(ending)
        return [[v or None for v in line.split(file.delimiter)] for line in text[: -len(ending)].split(ending)]
    return [list(r) for r in csv.reader(io.StringIO(text, newline=""), delimiter=file.delimiter)]


async def source_rows(pool: asyncpg.Pool, table: TableSpec) -> list[tuple[Any, ...]]:
    names = ", ".join(f'"{c.name}"' for c in table.columns)
    rows = await pool.fetch(f'SELECT {names} FROM custom."{table.name}" ORDER BY "id"')
    return [tuple(row) for row in rows]


def expected(rows: list[tuple[Any, ...]], file: CsvOutput, table: TableSpec) -> list[list[str | None]]:
    out: list[list[str | None]] = [[c.name for c in table.columns]] if file.header else []
    for row in rows:
        values: list[str | None] = []
        for value, column in zip(row, table.columns, strict=True):
            text = written(value)
            escaped = file.escape_formulas and column.type is ColumnType.TEXT  # text values only
            if text is not None and escaped and text[:1] in ("=", "+", "-", "@"):
                text = "'" + text
            if not file.qualifier:
                if text is not None:
                    text = text.replace(file.delimiter, " ").replace("\r", " ").replace("\n", " ") or None
            elif text is None:
                text = ""  # csv reads NULL and empty text alike; the raw bytes tell them apart (below)
            values.append(text)
        out.append(values)
    return out


OPTIONS = [
    CsvOutput(),
    CsvOutput(delimiter=";", quote="always", line_ending="crlf", compression="gzip"),
    CsvOutput(delimiter="\t", qualifier="", header=False, compression="zip"),
    CsvOutput(delimiter="|", encoding="windows-1252", escape_formulas=True, line_ending="crlf"),
    CsvOutput(encoding="utf-16", quote="always", escape_formulas=True),
    CsvOutput(delimiter=",", qualifier="", encoding="iso-8859-1", compression="gzip"),
]


@pytest.mark.parametrize("file", OPTIONS, ids=lambda f: f"{f.delimiter!r}-{f.qualifier!r}-{f.quote}-{f.encoding}")
async def test_each_option_writes_the_source_rows_read_back_row_by_row(world: RunnerWorld, file: CsvOutput) -> None:
    rows = PEOPLE if file.encoding in ("utf-8", "utf-16", "windows-1252") else PEOPLE[:7]  # no € in Latin-1
    table = await people(world, rows)
    suffix = {"gzip": ".gz", "zip": ".zip"}.get(file.compression, "")
    name = f"people_%YYYY%%MM%%DD%.csv{suffix}"
    settings = ExportFile(source=TableExport(table=table.name), destination=to_sftp(world, name), file=file)
    event = succeeded(await world.execute(export_request(world, 1, settings, table)))

    final = world.remote_dir / f"people_20250314.csv{suffix}"
    data = final.read_bytes()
    assert sorted(p.name for p in world.remote_dir.iterdir()) == [final.name], "no temporary file is left"
    assert (event.payload.counts.rows_read, event.payload.counts.bytes_transferred) == (len(rows), len(data))
    text = unpacked(data, file.compression, "people_20250314.csv").decode(file.encoding)
    if file.encoding == "utf-16":
        assert data.startswith((b"\xff\xfe", b"\xfe\xff")) and text.count("\ufeff") == 0
    want = expected(await source_rows(world.pool, table), file, table)
    assert records(text, file) == want
    ending = "\r\n" if file.line_ending == "crlf" else "\n"
    assert text.count(ending) == len(want) + (1 if file.qualifier else 0) * text.count(f"two{ending}lines")
    if file.qualifier:  # NULL is nothing, empty text `""`
        assert f'{file.delimiter}""{file.delimiter}' in text or f'6{file.delimiter}""' in text
    stages = [e.stage for e in await world.log_entries(1)]
    assert stages[-3:] == ["selected", "written", "renamed"]


async def test_count_and_ready_files_follow_the_data_file_on_the_hosted_server(world: RunnerWorld) -> None:
    table = await people(world)
    settings = ExportFile(
        source=TableExport(table=table.name, columns=("name", "id")),
        destination=HostedLocation(path="download/daily/people.csv"),
        files=ExportFileRules(count_file="cnt", ready_file="ready"),
    )
    succeeded(await world.execute(export_request(world, 1, settings, table)))
    folder = world.files_root / "download" / "daily"
    assert sorted(p.name for p in folder.iterdir()) == ["people.csv", "people.csv.cnt", "people.csv.ready"]
    assert (folder / "people.csv.cnt").read_text() == f"{len(PEOPLE)}\n"
    assert (folder / "people.csv.ready").read_bytes() == b""
    lines = (folder / "people.csv").read_text().splitlines()
    assert lines[:3] == ["name,id", "Ann,1", '"Bo, Jr.",2']
    entries = [(e.stage, e.message) for e in await world.log_entries(1)]
    assert [stage for stage, _ in entries][-5:] == ["selected", "written", "renamed", "count_file", "ready_file"]
    assert entries[-3][1] == "renamed to 'download/daily/people.csv'"


LIST = ListSpec(name="members", columns=(ColumnSpec(name="CITY", type=ColumnType.TEXT, max_length=40),))
PET = PetSpec(
    name="orders",
    list_name="members",
    columns=(
        ColumnSpec(name="TOTAL", type=ColumnType.NUMBER, precision=10, scale=2),
        ColumnSpec(name="CITY", type=ColumnType.TEXT, max_length=40),
    ),
)


async def members(world: RunnerWorld) -> tuple[ListSpec, PetSpec]:
    """A list and a PET of this test's own, three members, two with orders."""
    listed = LIST.model_copy(update={"name": f"members_{world.unique}"})
    pet = PET.model_copy(update={"name": f"orders_{world.unique}", "list_name": listed.name})
    async with world.pool.acquire() as conn:
        await ensure_list(conn, listed)
        await ensure_pet(conn, pet, listed)
        for email, city in (("a@example.com", "Oslo"), ("b@example.com", "Rome"), ("c@example.com", None)):
            await conn.execute(
                f'INSERT INTO lists."{listed.name}" ("EMAIL_ADDRESS_", "CITY", "CREATED_DATE_", "MODIFIED_DATE_")'
                " VALUES ($1, $2, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')",
                email,
                city,
            )
        await conn.execute(
            f'INSERT INTO pets."{pet.name}" ("RIID_", "TOTAL", "CITY") SELECT "RIID_", "RIID_" * 10, \'Paris\''
            f' FROM lists."{listed.name}" WHERE "CITY" IS NOT NULL'
        )
    return listed, pet


async def test_a_list_a_pet_and_an_audience_are_exported_from_their_definitions(world: RunnerWorld) -> None:
    listed, pet = await members(world)
    riids = [r["RIID_"] for r in await world.pool.fetch(f'SELECT "RIID_" FROM lists."{listed.name}" ORDER BY 1')]

    by_list = ExportFile(source=ListExport(list_name=listed.name, columns=("EMAIL_ADDRESS_", "city")),
                         destination=to_sftp(world, "list.csv"))  # fmt: skip
    succeeded(await world.execute(export_request(world, 1, by_list, listed.as_table(), listed=listed)))
    assert (world.remote_dir / "list.csv").read_text() == (
        "EMAIL_ADDRESS_,CITY\na@example.com,Oslo\nb@example.com,Rome\nc@example.com,\n"
    )

    by_pet = ExportFile(source=PetExport(pet=pet.name, key_columns=("EMAIL_ADDRESS_", "CITY")),
                        destination=to_sftp(world, "pet.csv"))  # fmt: skip
    succeeded(await world.execute(export_request(world, 2, by_pet, pet.as_table(), listed=listed, pets=(pet,))))
    assert (world.remote_dir / "pet.csv").read_text() == (
        f"EMAIL_ADDRESS_,CITY,TOTAL,{pet.name}.CITY\n"
        f"a@example.com,Oslo,{riids[0] * 10}.00,Paris\nb@example.com,Rome,{riids[1] * 10}.00,Paris\n"
    )

    audience = AudienceSpec(
        name="big",
        list_name=listed.name,
        pets=(pet.name,),
        filter=ConditionGroup(
            conditions=(
                Condition(
                    column=ColumnRef(column="TOTAL", pet=pet.name),
                    operator="greater_than",
                    values=(str(riids[0] * 10),),
                ),
            )
        ),
        columns=(ColumnRef(column="EMAIL_ADDRESS_"), ColumnRef(column="TOTAL", pet=pet.name)),
    )
    by_audience = ExportFile(source=AudienceExport(audience="big"), destination=to_sftp(world, "audience.csv"))
    request = export_request(world, 3, by_audience, listed.as_table(), listed=listed, pets=(pet,), audience=audience)
    event = succeeded(await world.execute(request))
    assert (
        world.remote_dir / "audience.csv"
    ).read_text() == f"EMAIL_ADDRESS_,TOTAL\nb@example.com,{riids[1] * 10}.00\n"
    assert event.payload.counts.rows_read == 1


async def test_an_incremental_export_writes_the_rows_modified_since_its_last_success(world: RunnerWorld) -> None:
    listed, _ = await members(world)
    settings = ExportFile(
        source=ListExport(list_name=listed.name, columns=("EMAIL_ADDRESS_",)),
        destination=to_sftp(world, "changes_%HH%%MI%%SS%.csv"),
        incremental=True,
    )
    first = succeeded(await world.execute(export_request(world, 1, settings, listed.as_table(), listed=listed)))
    assert first.payload.counts.rows_read == 3
    await world.pool.execute(
        f'UPDATE lists."{listed.name}" SET "CITY" = \'Bern\', "MODIFIED_DATE_" = now() AT TIME ZONE \'UTC\''
        " WHERE \"EMAIL_ADDRESS_\" = 'b@example.com'"
    )
    request = export_request(world, 2, settings, listed.as_table(), listed=listed)
    request = request.model_copy(update={"occurred_at": REQUESTED_AT.replace(minute=31)})
    second = succeeded(await world.execute(request))
    assert second.payload.counts.rows_read == 1
    assert (world.remote_dir / "changes_093100.csv").read_text() == "EMAIL_ADDRESS_\nb@example.com\n"
    dry = export_request(world, 3, settings, listed.as_table(), listed=listed, dry_run=True)
    assert succeeded(await world.execute(dry)).payload.counts.rows_read == 0, "no row changed since"


async def test_a_dry_run_counts_and_shows_the_first_rows_writing_nothing(world: RunnerWorld) -> None:
    table = await people(world)
    settings = ExportFile(
        source=TableExport(table=table.name, columns=("id", "name")), destination=to_sftp(world, "p.csv")
    )
    event = succeeded(await world.execute(export_request(world, 1, settings, table, dry_run=True)))
    assert event.payload.counts.rows_read == len(PEOPLE)
    assert list(world.remote_dir.iterdir()) == []
    selected = next(e for e in await world.log_entries(1) if e.stage == "selected")
    assert selected.message == f"would write {len(PEOPLE)} rows to '{world.remote_dir / 'p.csv'}'"
    assert selected.details["first_rows"] == 'id,name\n1,Ann\n2,"Bo, Jr."\n3,"say ""hi"""\n4,"two\nlines"\n5,=SUM(A1)\n'


async def test_a_character_the_encoding_cannot_write_fails_the_run_naming_its_row(world: RunnerWorld) -> None:
    table = await people(world)
    settings = ExportFile(
        source=TableExport(table=table.name),
        destination=to_sftp(world, "p.csv"),
        file=CsvOutput(encoding="iso-8859-1"),
    )
    event = failed(await world.execute(export_request(world, 1, settings, table)))
    assert event.payload.code == "EXPORT_INVALID"
    assert event.payload.error.startswith("row 8 holds a character iso-8859-1 cannot write (U+20AC)")
    assert list(world.remote_dir.iterdir()) == []


async def test_a_missing_folder_on_the_server_fails_the_run_in_our_words(world: RunnerWorld) -> None:
    table = await people(world)
    settings = ExportFile(source=TableExport(table=table.name), destination=to_sftp(world, "nowhere/p.csv"))
    event = failed(await world.execute(export_request(world, 1, settings, table)))
    path = world.remote_dir / "nowhere" / f".p.csv.{world.job_id}.1.part"
    server = f"{world.server.user}@{world.server.host}:{world.server.port}"
    message = f"cannot write '{path}' on {server}: its folder is not there"
    assert (event.payload.code, event.payload.error) == ("WRITE_FAILED", message)


class _StopOnFirstWrite:
    """The real destination, whose first write also records a stop of the run (as a user's stop would)."""

    def __init__(self, world: RunnerWorld, run_id: int, inner: Destination) -> None:
        self._world, self._run_id, self._inner = world, run_id, inner
        self.created: list[str] = []

    async def create(self, path: str) -> Sink:
        self.created.append(path)
        sink = await self._inner.create(path)
        world, run_id = self._world, self._run_id

        class Stopping:
            async def write(self, data: bytes) -> None:
                await sink.write(data)
                async with world.deps.ledger.transaction() as tx:
                    await world.deps.ledger.record_stop(tx, stop_request(world.job_id, run_id))

            async def close(self) -> None:
                await sink.close()

        return Stopping()

    async def rename(self, path: str, target: str) -> None:
        await self._inner.rename(path, target)

    async def remove(self, path: str) -> None:
        await self._inner.remove(path)


async def test_a_stopped_export_leaves_no_file(world: RunnerWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    table = await people(world)
    files = world.deps.files
    wrapped: list[_StopOnFirstWrite] = []
    opened = files.destination

    def destination(source: Any, path: str) -> Any:
        inner = opened(source, path)

        class Wrapping:
            async def __aenter__(self) -> Destination:
                wrapped.append(_StopOnFirstWrite(world, 1, await inner.__aenter__()))
                return wrapped[-1]

            async def __aexit__(self, *exc: Any) -> None:
                await inner.__aexit__(*exc)

        return Wrapping()

    monkeypatch.setattr(files, "destination", destination)
    settings = ExportFile(source=TableExport(table=table.name), destination=to_sftp(world, "p.csv"))
    event = await world.execute(export_request(world, 1, settings, table))
    assert isinstance(event, RunStopped)
    assert wrapped and wrapped[0].created  # the temporary file was written, then removed
    assert list(world.remote_dir.iterdir()) == []


async def test_a_run_redone_after_a_crash_delivers_its_file_once(world: RunnerWorld) -> None:
    table = await people(world)
    settings = ExportFile(source=TableExport(table=table.name), destination=to_sftp(world, "p.csv"))
    request = export_request(world, 1, settings, table, attempts=3)
    await world.crashed_attempt(request)
    # What the dead attempt left: its temporary file half written, under the run's own name.
    (world.remote_dir / f".p.csv.{world.job_id}.1.part").write_text("id,name\n1,A")
    succeeded(await world.execute(request))
    assert [p.name for p in world.remote_dir.iterdir()] == ["p.csv"]
    assert len((world.remote_dir / "p.csv").read_text().splitlines()) == 1 + len(PEOPLE) + 1  # a value on two lines
    assert (await world.execute(request)) is not None
    assert [p.name for p in world.remote_dir.iterdir()] == ["p.csv"]
