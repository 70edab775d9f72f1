"""`POST /api/v1/tables/{name}/auto-mapping`: header names matched to a table's columns, from the request or from a
hosted file's header line."""

from __future__ import annotations

import csv
import gzip
import io
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

from connect_events import ColumnSpec, ColumnType, Role, TableSpec
from connect_gateway.domain.auto_mapping import AutoMapping, auto_map
from connect_gateway.files.header import MAX_HEADER_BYTES
from connect_gateway.read_models import TableRecord
from tests.unit.gateway.gateway_fakes import NOW, World

URL = "/api/v1/tables/customers/auto-mapping"
CSV_DEFAULT_FIELD_LIMIT = 128 * 1024
COLUMNS = ("EMAIL", "FIRST_NAME", "City", "SCORE")


@pytest.fixture
def table(world: World) -> None:
    columns = tuple(ColumnSpec(name=name, type=ColumnType.TEXT, max_length=50) for name in COLUMNS)
    spec = TableSpec(name="Customers", columns=columns, primary_key=("EMAIL",))
    world.reads.tables.append(TableRecord(spec=spec, defined_at=NOW, defined_by="ann"))


def upload(world: World) -> Path:
    root: Path = world.app.state.hosted.root
    return root / "upload"


def test_names_match_without_case_and_surrounding_spaces() -> None:
    found = auto_map([" Email ", "first_name", "zip", "CITY"], COLUMNS)
    assert found == AutoMapping(
        mapping=(("Email", "EMAIL"), ("first_name", "FIRST_NAME"), ("CITY", "City")),
        unmatched_sources=("zip",),
        unmapped_columns=("SCORE",),
    )


def test_a_name_the_header_holds_twice_maps_nothing() -> None:
    found = auto_map(["email", "EMAIL ", "city", ""], COLUMNS)
    assert found.mapping == (("city", "City"),)
    assert found.unmatched_sources == ("email", "EMAIL ", "")
    assert found.unmapped_columns == ("EMAIL", "FIRST_NAME", "SCORE")


@pytest.mark.usefixtures("table")
async def test_a_header_given_is_mapped(world: World) -> None:
    async with world.client_as(Role.VIEWER) as vera:  # nothing is stored: viewers may ask
        response = await vera.post(URL, json={"header": ["email", "First_Name", "notes"]})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "mapping": [{"source": "email", "target": "EMAIL"}, {"source": "First_Name", "target": "FIRST_NAME"}],
        "unmatched_sources": ["notes"],
        "unmapped_columns": ["City", "SCORE"],
    }
    assert world.bus.sent == []


async def test_an_unknown_table_is_not_found(world: World) -> None:
    response = await world.client.post(URL, json={"header": ["email"]})
    assert response.status_code == 404


@pytest.mark.usefixtures("table")
@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["header", "hosted_path"]),
        ({"header": None}, ["header", "hosted_path"]),
        ({"header": ["a"], "hosted_path": "upload/a.csv"}, ["header", "hosted_path"]),
        ({"header": ["a"], "file": {"delimiter": ";"}}, ["file"]),
        ({"header": "email"}, ["header"]),
        ({"header": ["a\u0000b"]}, ["header[0]"]),
        ({"hosted_path": "../a.csv"}, ["hosted_path"]),
        ({"hosted_path": "/upload/a.csv"}, ["hosted_path"]),
        ({"hosted_path": "upload/a.csv", "file": {"header": False}}, ["file.header"]),
    ],
)
async def test_a_request_gives_either_a_header_or_a_hosted_file(
    world: World, body: dict[str, Any], fields: list[str]
) -> None:
    response = await world.client.post(URL, json=body)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == fields


def gz(data: bytes) -> bytes:
    return gzip.compress(data)


def zipped(data: bytes, names: tuple[str, ...] = ("customers.csv",)) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in names:
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.usefixtures("table")
@pytest.mark.parametrize(
    ("name", "content", "file"),
    [
        ("a.csv", b"email,first_name,notes\r\nann@example.com,Ann,x\r\n", {}),
        ("a.csv", b"\xef\xbb\xbfemail,first_name,notes\n", {}),  # a UTF-8 byte-order mark is no part of the name
        ("a.csv", b'"email";"first_name";"no;tes"\n', {"delimiter": ";"}),
        ("a.csv", "email\tfirst_name\tnotes\n".encode("utf-16"), {"delimiter": "\t", "encoding": "utf-16"}),
        ("a.csv", b"email|first_name|notes", {"delimiter": "|", "qualifier": ""}),  # no line end: one line
        ("a.csv.gz", gz(b"email,first_name,notes\n" + b"x,y,z\n" * 100000), {}),
        ("a.ZIP", zipped(b"email,first_name,notes\n"), {}),
    ],
)
async def test_a_hosted_files_header_line_is_read(
    world: World, name: str, content: bytes, file: dict[str, Any]
) -> None:
    (upload(world) / name).write_bytes(content)
    response = await world.client.post(URL, json={"hosted_path": f"upload/{name}", "file": file})
    assert response.status_code == 200, response.text
    found = response.json()
    assert [m["target"] for m in found["mapping"]] == ["EMAIL", "FIRST_NAME"]
    assert found["unmatched_sources"] == ["no;tes" if file.get("delimiter") == ";" else "notes"]


@pytest.fixture
def gateway_csv_limit() -> Any:
    """The csv module's field limit as the gateway process has it (its default): the limit is global to the
    process, and the runner's tests, which may run first in this one, raise it."""
    before = csv.field_size_limit(CSV_DEFAULT_FIELD_LIMIT)
    yield
    csv.field_size_limit(before)


@pytest.mark.usefixtures("table")
@pytest.mark.parametrize(
    ("name", "content", "file", "message"),
    [
        ("empty.csv", b"", {}, "upload/empty.csv is empty"),
        ("bad.csv.gz", b"not gzip at all", {}, "upload/bad.csv.gz is not a readable gzip file"),
        ("cut.csv.gz", gz(b"email,first_name\n" * 1000)[:30], {}, "upload/cut.csv.gz is not a readable gzip file"),
        ("bad.zip", b"PK not a zip", {}, "upload/bad.zip is not a readable zip file"),
        (
            "two.zip",
            zipped(b"email\n", ("a.csv", "b.csv")),
            {},
            "upload/two.zip holds 2 files; a zip file must hold exactly one",
        ),
        ("latin.csv", b"e\xe9mail,city\n", {}, "the header line of upload/latin.csv is not utf-8 text"),
        (
            "field.csv",
            b'"' + b"a" * 140000 + b'"\n',  # a field beyond the csv module's limit
            {},
            "the header line of upload/field.csv cannot be read with these file settings",
        ),
        (
            "long.csv",
            b"a," * (MAX_HEADER_BYTES // 2 + 1),
            {},
            f"the header line of upload/long.csv is longer than {MAX_HEADER_BYTES} bytes",
        ),
    ],
)
async def test_an_unreadable_header_line_is_refused_in_our_words(
    world: World, name: str, content: bytes, file: dict[str, Any], message: str, gateway_csv_limit: None
) -> None:
    (upload(world) / name).write_bytes(content)
    response = await world.client.post(URL, json={"hosted_path": f"upload/{name}", "file": file})
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [{"field": "hosted_path", "message": message}]


@pytest.mark.usefixtures("table")
async def test_a_long_header_line_within_the_limit_is_read(world: World) -> None:
    names = ",".join(f"column_{n}" for n in range(50000)).encode()  # ~640 kB, then the data
    (upload(world) / "wide.csv").write_bytes(names + b",email\n" + b"x" * MAX_HEADER_BYTES)
    response = await world.client.post(URL, json={"hosted_path": "upload/wide.csv"})
    assert response.status_code == 200, response.text
    assert response.json()["mapping"] == [{"source": "email", "target": "EMAIL"}]


@pytest.mark.usefixtures("table")
async def test_a_missing_file_or_a_folder_is_answered_like_the_file_routes(world: World) -> None:
    missing = await world.client.post(URL, json={"hosted_path": "upload/none.csv"})
    assert missing.status_code == 404
    folder = await world.client.post(URL, json={"hosted_path": "upload"})
    assert folder.status_code == 409


@pytest.mark.usefixtures("table")
async def test_a_symbolic_link_is_not_followed(world: World, tmp_path: Path) -> None:
    outside = tmp_path / "secret.csv"
    outside.write_bytes(b"email,first_name\n")
    os.symlink(outside, upload(world) / "link.csv")
    response = await world.client.post(URL, json={"hosted_path": "upload/link.csv"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "hosted_path"
