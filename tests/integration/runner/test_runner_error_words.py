"""Run errors against the real sshd and PostgreSQL: the runner's own words and the job's public settings, intact,
with no library or server message and nothing of the credential; one bad row rejects only itself."""

from __future__ import annotations

import gzip

import pytest

from tests.integration.runner.runner_it import PEOPLE_HEADER, RunnerWorld, failed, succeeded


@pytest.mark.parametrize("password", ["0.0", "idna", "127", "connect"])
async def test_a_short_password_leaves_the_error_text_intact(world: RunnerWorld, password: str) -> None:
    path = world.put("people.csv", PEOPLE_HEADER)
    ref = await world.credential("password", password)

    event = failed(await world.run(1, world.source(path, ref)))

    server = world.server
    # Redaction used to print `connect@127.[redacted].1:…` here: the password showed where it stood.
    assert (event.payload.code, event.payload.error) == (
        "AUTH_FAILED",
        f"{server.user}@{server.host}:{server.port} refused the stored credential",
    )
    assert "redacted" not in event.model_dump_json()


async def test_a_host_the_resolver_refuses_is_named_intact_and_no_library_text_shows(world: RunnerWorld) -> None:
    ref = await world.credential("password", "idna")
    # `a..b` is refused by the job's schema nowadays; a job saved earlier may still hold such a host.
    source = world.source("/x.csv", ref).model_copy(update={"host": "a..b"})

    event = failed(await world.run(1, source))

    # It used to be INTERNAL "UnicodeError: encoding with '[redacted]' codec failed (…)".
    assert (event.payload.code, event.payload.error) == (
        "CONNECTION_FAILED",
        f"cannot connect to {world.server.user}@a..b:{world.server.port}: 'a..b' is not a valid host name",
    )
    assert "idna" not in event.payload.error


async def test_a_nul_and_an_undecodable_row_are_rejected_and_the_rest_loads(world: RunnerWorld) -> None:
    table = world.table()
    content = PEOPLE_HEADER.encode() + b"1,Ann,,,,\n2,B\x00b,,,,\n3,C\xffy,,,,\n4,D\xc3\xa9e,,,,\n"
    path = world.put("people.csv", content)

    event = succeeded(await world.run(1, path, table))

    assert await world.rejects(1) == [
        (3, "INVALID_DATA_FORMAT", "2,B\ufffdb,,,,"),
        (4, "INVALID_DATA_FORMAT", "3,C\ufffdy,,,,"),
    ]
    counts = event.payload.counts
    assert (counts.rows_read, counts.inserted, counts.rejected) == (4, 2, 2)
    assert await world.names(table) == [(1, "Ann"), (4, "Dée")]


async def test_a_header_naming_a_column_twice_says_so(world: RunnerWorld) -> None:
    path = world.put("people.csv", "id,EMAIL,EMAIL,score,active,born,seen\n1,a,b,,,,\n")

    event = failed(await world.run(1, path, world.table()))

    assert (event.payload.code, event.payload.error) == (
        "BAD_HEADER",
        f"duplicate column EMAIL in the header of '{path}', which has no column 'name' "
        "(found: id, EMAIL, EMAIL, score, active, born, seen)",
    )


async def test_a_damaged_archive_fails_in_the_runners_words(world: RunnerWorld) -> None:
    path = world.put("people.csv.gz", gzip.compress((PEOPLE_HEADER + "1,Ann,,,,\n").encode())[:-12])

    event = failed(await world.run(1, path, world.table()))

    assert (event.payload.code, event.payload.error) == (
        "FILE_INVALID",
        f"'{path}' ends before its compressed data does (it was cut short)",
    )


async def test_a_database_error_is_told_without_the_servers_message(world: RunnerWorld) -> None:
    table = world.table()
    path = world.put("people.csv", PEOPLE_HEADER + "1,Ann,,,,\n")
    await world.run(1, world.put("empty.csv", PEOPLE_HEADER), table)  # creates the table
    # Someone added a rule to the table outside Connect: the load breaks it.
    await world.pool.execute(f'ALTER TABLE custom."{table.name}" ADD CONSTRAINT only_negative CHECK (id < 0)')

    event = failed(await world.run(2, path, table))

    assert (event.payload.code, event.payload.error) == (
        "LOAD_FAILED",
        f"the table '{table.name}' refused rows: it has a constraint the table's definition in Connect does not know",
    )
    assert "only_negative" not in event.payload.error
