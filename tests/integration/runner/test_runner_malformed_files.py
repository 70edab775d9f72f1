"""Every kind of malformed file the imports issue lists, through a real run (sshd, PostgreSQL): each either rejects
its bad rows with their line numbers and reasons or fails the run with its documented code, and none crashes or
writes part of a file. The table holds one committed row before each run; a failed run must leave exactly it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from connect_events import FileRules
from tests.integration.runner.runner_it import ANN, PEOPLE_HEADER, RunnerWorld, failed, succeeded

TEN_MB = 10 * 1024 * 1024


@dataclass(frozen=True)
class Failing:
    """The run fails with `code`; the words contain `says`."""

    code: str
    says: str


@dataclass(frozen=True)
class Rejecting:
    """The run succeeds, rejecting these (line, reason) pairs and loading the other rows."""

    rejects: tuple[tuple[int, str], ...]
    loaded: tuple[int, ...]


CASES: dict[str, tuple[bytes, Failing | Rejecting]] = {
    # The quote opened on line 3 is never closed: the rest of the file is that one field, and the record has
    # two fields instead of six.
    "unbalanced quote": (
        (PEOPLE_HEADER + '2,Bob,,,,\n3,"Cy,,,,\n4,Di,,,,\n').encode(),
        Rejecting(rejects=((3, "WRONG_FIELD_COUNT"),), loaded=(1, 2)),
    ),
    "wrong field count": (
        (PEOPLE_HEADER + "2,Bob,,,,\n3,Cy,,\n4,Di,,,,,,\n5,Ed,,,,\n").encode(),
        Rejecting(rejects=((3, "WRONG_FIELD_COUNT"), (4, "WRONG_FIELD_COUNT")), loaded=(1, 2, 5)),
    ),
    "invalid bytes": (
        PEOPLE_HEADER.encode() + b"2,B\xffb,,,,\n3,Cy,,,,\n",
        Rejecting(rejects=((2, "INVALID_DATA_FORMAT"),), loaded=(1, 3)),
    ),
    "NUL": (
        PEOPLE_HEADER.encode() + b"2,Bob,,,,\n3,C\x00y,,,,\n",
        Rejecting(rejects=((3, "INVALID_DATA_FORMAT"),), loaded=(1, 2)),
    ),
    # 10 MB in one value of a text column of 10 characters: read (under the reader's limit), then rejected.
    "a 10 MB field": (
        (PEOPLE_HEADER + "2," + "x" * TEN_MB + ",,,,\n3,Cy,,,,\n").encode(),
        Rejecting(rejects=((2, "VALUE_TOO_LONG"),), loaded=(1, 3)),
    ),
    "empty": (b"", Failing("FILE_INVALID", "is empty")),
    "header only": (PEOPLE_HEADER.encode(), Rejecting(rejects=(), loaded=(1,))),
    "duplicate header": (
        b"id,name,name,score,active,born,seen\n2,a,b,,,,\n",
        Failing("BAD_HEADER", "duplicate column name"),
    ),
    "unknown column": (
        b"id,nickname,score,active,born,seen\n2,Bob,,,,\n",
        Failing("BAD_HEADER", "no column 'name'"),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_a_malformed_file_rejects_its_rows_or_fails_whole(world: RunnerWorld, case: str) -> None:
    content, outcome = CASES[case]
    table = world.table()
    succeeded(await world.run(1, world.put("seed.csv", ANN), table))
    path = world.put("people.csv", content)

    event = await world.run(2, path, table)

    if isinstance(outcome, Failing):
        ended = failed(event)
        assert ended.payload.code == outcome.code
        assert outcome.says in ended.payload.error
        assert [row["id"] for row in await world.rows(table)] == [1]  # nothing of the file was written
        return
    ended_ok = succeeded(event)
    assert [(line, reason) for line, reason, _ in await world.rejects(2)] == list(outcome.rejects)
    assert [row["id"] for row in await world.rows(table)] == list(outcome.loaded)
    assert ended_ok.payload.counts.rejected == len(outcome.rejects)


async def test_a_count_mismatch_fails_before_anything_is_written(world: RunnerWorld) -> None:
    table = world.table()
    succeeded(await world.run(1, world.put("seed.csv", ANN), table))
    path = world.put("people.csv", PEOPLE_HEADER + "2,Bob,,,,\n3,Cy,,,,\n")
    world.put("people.csv.cnt", "3\n")

    ended = failed(await world.run(2, path, table, files=FileRules(count_file="cnt")))

    assert ended.payload.code == "COUNT_MISMATCH"
    assert "says 3 data rows" in ended.payload.error
    assert [row["id"] for row in await world.rows(table)] == [1]
