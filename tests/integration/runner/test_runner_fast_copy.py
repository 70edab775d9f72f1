"""A server-side COPY stages what the `csv` module would: each file runs as a job twice, once as the runner
chooses (COPY where it is exact) and once parsed in Python, and both runs must load the same rows and keep the
same rejects (line numbers, reasons, raw text) and counts. Each case also says whether COPY staged it, so a case
that silently fell back to Python proves nothing it claims to."""

from __future__ import annotations

import gzip
import io
import zipfile
from typing import Any

import pytest

from connect_events import CsvSettings
from connect_runner import pipeline
from tests.integration.runner.runner_it import PEOPLE_HEADER, RunnerWorld, succeeded
from tests.unit.runner.runner_builders import mapping

GOOD = "1,Ann,1.5,true,1990-01-02,2024-05-06 07:08:09"
BAD_VALUES = [
    ",NoKey,,,,",  # MATCH_FIELD_EMPTY
    "x,Bad,,,,",  # INVALID_DATA_FORMAT
    "5,Way too long name,,,,",  # VALUE_TOO_LONG
    "6,Num,12345.6,,,",  # INVALID_NUMBER
    "9,Date,,,2023-02-29,",  # INVALID_DATE
    '12,"multi\nline",,,,',  # a record over two lines, loaded
    "13,Dup,,,,",  # DUPLICATE_KEY (the later 13 wins)
    '14,"Ok ""q""",9999.99,,2024-02-29,',
    "13,DupLast,,,,",
]
CP1252 = CsvSettings(encoding="windows-1252")
LONG = PEOPLE_HEADER + "".join(f"{n},N{n * 7919 % 1000},,,,\n" for n in range(3000))


def zipped(content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("people.csv", content)
    return buffer.getvalue()


# (case, file name, bytes, settings, whether COPY stages it)
CASES: list[tuple[str, str, bytes, dict[str, Any], bool]] = [
    ("bad values and duplicates", "p.csv", (PEOPLE_HEADER + "\n".join([GOOD, *BAD_VALUES]) + "\n").encode(), {}, True),
    (
        "quoted, CRLF, padded, doubled and empty",
        "p.csv",
        b'"id","name","score","active","born","seen"\r\n"1"," Ann ","","","",""\r\n'
        b'" 2 ","B""o\r\nb","  ","t"," 2024-01-02",""\r\n3,\xc2\xa0Cy\xe3\x80\x80,1,,,\r\n x ,bad,,,,\r\n',
        {},
        True,
    ),
    (
        "blank lines before the header, BOM",
        "p.csv",
        b"\xef\xbb\xbf\n\n" + PEOPLE_HEADER.encode() + b"1,Ann,,,,",
        {},
        True,
    ),
    (
        "header over two lines",
        "p.csv",
        b'id,"na\nme",score,active,born,seen\n1,Ann,,,,\nx,Bad,,,,\n',
        {"columns": mapping("id", ("na\nme", "name"))},
        True,
    ),
    (
        "no header, BOM, semicolons",
        "p.csv",
        b'\xef\xbb\xbf1;"a;b"\n2;c\n2;d\n',
        {"file": CsvSettings(delimiter=";", header=False), "columns": mapping(("1", "id"), ("2", "name"))},
        True,
    ),
    (
        "CR line breaks",
        "p.csv",
        (PEOPLE_HEADER + "1,Ann,,,,\nx,Bad,,,,\n2,Bo,,,,\n").replace("\n", "\r").encode(),
        {},
        True,
    ),
    ("Windows-1252", "p.csv", (PEOPLE_HEADER + "1,Zoë €,,,,\nx,Bad,,,,\n").encode("cp1252"), {"file": CP1252}, True),
    (
        "ISO-8859-1",
        "p.csv",
        (PEOPLE_HEADER + "1,Zoë\xa0,,,,\n").encode("latin-1"),
        {"file": CsvSettings(encoding="iso-8859-1")},
        True,
    ),
    ("gzip", "p.csv.gz", gzip.compress((PEOPLE_HEADER + "1,Ann,,,,\nx,Bad,,,,\n").encode()), {}, True),
    ("zip", "p.zip", zipped((PEOPLE_HEADER + "1,Ann,,,,\nx,Bad,,,,\n").encode()), {}, True),
    ("only a header", "p.csv", PEOPLE_HEADER.encode(), {}, True),
    (
        "append collisions",
        "p.csv",
        (PEOPLE_HEADER + '1,"A\nnn",,,,\n7,New,,,,\n').encode(),
        {"write_mode": "append"},
        True,
    ),
    ("a wrong field count", "p.csv", (PEOPLE_HEADER + "1,Ann,,,,\n2,Bob\n3,Cy,,,,\n").encode(), {}, False),
    ("a blank line", "p.csv", (PEOPLE_HEADER + "1,Ann,,,,\n\n3,Cy,,,,\n").encode(), {}, False),
    ("a qualifier inside a value", "p.csv", (PEOPLE_HEADER + '1,A"n,,,,\n2,"B"o,,,,\n').encode(), {}, False),
    ("PostgreSQL's end of data", "p.csv", (PEOPLE_HEADER + "1,Ann,,,,\n\\.\n3,Cy,,,,\n").encode(), {}, False),
    ("a NUL", "p.csv", (PEOPLE_HEADER + "1,Ann,,,,\n2,B\x00b,,,,\n3,Cy,,,,\n").encode(), {}, False),
    ("invalid UTF-8", "p.csv", PEOPLE_HEADER.encode() + b"1,Ann,,,,\n2,B\xffb,,,,\n", {}, False),
    (
        "undefined in Windows-1252",
        "p.csv",
        PEOPLE_HEADER.encode() + b"1,Ann,,,,\n2,B\x81b,,,,\n",
        {"file": CP1252},
        False,
    ),
    ("mixed line breaks", "p.csv", (PEOPLE_HEADER + "1,Ann,,,,\r\n2,Bo,,,,\n").encode(), {}, False),
    ("a damaged gzip file", "p.csv.gz", gzip.compress(LONG.encode())[:-30], {}, False),
]


@pytest.mark.parametrize(("name", "content", "settings", "copies"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_copy_and_python_stage_alike(
    world: RunnerWorld,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    content: bytes,
    settings: dict[str, Any],
    copies: bool,
) -> None:
    copied: list[int | None] = []
    copy_records = pipeline.copy_records

    async def spied(*args: Any) -> int | None:
        copied.append(await copy_records(*args))
        return copied[-1]

    monkeypatch.setattr(pipeline, "copy_records", spied)
    chosen = await _outcome(world, 1, "chosen", name, content, settings)
    assert (bool(copied) and copied[-1] is not None) == copies

    monkeypatch.setattr(pipeline, "copyable", lambda *_: False)
    parsed = await _outcome(world, 2, "parsed", name, content, settings)

    assert chosen == parsed


async def _outcome(
    world: RunnerWorld, run_id: int, prefix: str, name: str, content: bytes, settings: dict[str, Any]
) -> tuple[object, ...]:
    """What a run did: its end (counts, or the failure), the rows it loaded, its rejects."""
    table = world.table(prefix)
    if settings.get("write_mode") == "append":  # a row already there, to collide with
        seed = world.put(f"{prefix}-seed.csv", PEOPLE_HEADER + "1,Old,,,,\n")
        succeeded(await world.run(100 + run_id, seed, table))
    event = await world.run(run_id, world.put(f"{prefix}-{name}", content), table, **settings)
    assert event is not None
    failure = (
        (event.payload.code, event.payload.error.replace(f"/{prefix}-", "/")) if event.type == "run.failed" else None
    )
    end = failure or event.payload.counts
    return end, await world.rows(table), await world.rejects(run_id)
