"""Runs that cannot load fail with a code and a plain message, leave the target untouched, and are final."""

from __future__ import annotations

import socket
from uuid import uuid4

import asyncssh

from connect_events import CsvSettings
from tests.integration.runner.runner_it import ANN, PEOPLE_HEADER, RunnerWorld, failed
from tests.unit.runner.runner_builders import mapping


async def test_missing_file_fails_with_file_not_found(world: RunnerWorld) -> None:
    request = world.request(1, f"{world.remote_dir}/nothing_%YYYY%%MM%%DD%.csv")

    event = failed(await world.execute(request))

    assert event.payload.code == "FILE_NOT_FOUND"
    assert event.payload.error == f"no file matching '{world.remote_dir}/nothing_20250314.csv'"
    assert await world.ledger_status(1) == "failed"
    assert await world.execute(request) == event


async def test_missing_wildcard_match_and_missing_folder(world: RunnerWorld) -> None:
    paths = [f"{world.remote_dir}/none_*.csv", f"{world.remote_dir}/no/such/dir/*.csv"]
    for run_id, path in enumerate(paths, start=1):
        event = failed(await world.run(run_id, path))
        assert (event.payload.code, event.payload.error) == ("FILE_NOT_FOUND", f"no file matching '{path}'")


async def test_header_without_a_mapped_column_fails_with_bad_header(world: RunnerWorld) -> None:
    path = world.put("people.csv", "id,full_name,score\n1,Ann,2\n")
    table = world.table()

    event = failed(await world.run(1, path, table))

    assert event.payload.code == "BAD_HEADER"
    assert event.payload.error == (
        f"header of '{path}' has no columns 'name', 'active', 'born', 'seen' (found: id, full_name, score)"
    )
    assert await world.pool.fetchval(f'SELECT count(*) FROM custom."{table.name}"') == 0
    assert not await world.staging()


async def test_an_empty_file_is_invalid(world: RunnerWorld) -> None:
    path = world.put("empty.csv", "")
    event = failed(await world.run(1, path))
    assert (event.payload.code, event.payload.error) == ("FILE_INVALID", f"'{path}' is empty: no header row")


async def test_header_only_and_empty_headerless_files_load_nothing(world: RunnerWorld) -> None:
    table = world.table()
    header_only = world.put("header.csv", PEOPLE_HEADER)
    empty = world.put("empty.txt", "")
    runs = [
        world.request(1, header_only, table),
        world.request(2, empty, table, columns=mapping(("1", "id"), ("2", "name")), file=CsvSettings(header=False)),
    ]
    for request in runs:
        event = await world.execute(request)
        assert event.type == "run.succeeded", event
        assert event.payload.counts.rows_read == 0  # type: ignore[attr-defined]


async def test_a_host_key_copied_from_known_hosts_is_accepted(world: RunnerWorld) -> None:
    path = world.put("people.csv", ANN)
    pinned = f"[{world.server.host}]:{world.server.port} {world.server.host_key} comment"
    event = await world.run(1, world.source(path, host_key=pinned), world.table("p"))
    assert event.type == "run.succeeded", event


async def test_wrong_key_fails_with_auth_failed(world: RunnerWorld) -> None:
    other_key = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    ref = await world.credential("private_key", other_key)
    path = world.put("people.csv", PEOPLE_HEADER)

    event = failed(await world.run(1, world.source(path, ref)))

    assert event.payload.code == "AUTH_FAILED"
    where = f"{world.server.user}@{world.server.host}:{world.server.port}"
    assert event.payload.error == f"{where} refused the stored credential"
    assert "PRIVATE KEY" not in event.model_dump_json()


async def test_missing_credential_and_password_refused(world: RunnerWorld) -> None:
    path = world.put("people.csv", PEOPLE_HEADER)
    missing = uuid4()
    event = failed(await world.run(1, world.source(path, missing)))
    assert (event.payload.code, event.payload.error) == (
        "AUTH_FAILED",
        f"the job's credential {missing} is not in the vault",
    )

    ref = await world.credential("password", "s3cret-pass")
    event = failed(await world.run(2, world.source(path, ref)))
    assert event.payload.code == "AUTH_FAILED"
    assert "s3cret-pass" not in event.model_dump_json()


async def test_wrong_pinned_host_key_fails_with_host_key_mismatch(world: RunnerWorld) -> None:
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    path = world.put("people.csv", PEOPLE_HEADER)

    event = failed(await world.run(1, world.source(path, host_key=impostor, fingerprint="SHA256:pinned")))

    assert event.payload.code == "HOST_KEY_MISMATCH"
    assert f"{world.server.host}:{world.server.port}" in event.payload.error
    assert "SHA256:pinned" in event.payload.error


async def test_unreachable_server_fails_with_connection_failed(world: RunnerWorld) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]

    event = failed(await world.run(1, world.source("/x.csv", port=closed_port)))

    assert event.payload.code == "CONNECTION_FAILED"
    assert event.payload.error.startswith(f"cannot connect to {world.server.user}@127.0.0.1:{closed_port}: ")


async def test_a_crashed_attempt_is_redone_from_scratch_with_the_next_versions(world: RunnerWorld) -> None:
    from connect_runner.domain.plan import resolve_by_header
    from connect_runner.domain.statements import Staging, create_staging
    from tests.unit.runner.runner_builders import PEOPLE_MAPPING

    table = world.table()
    path = world.put("people.csv", ANN)
    request = world.request(1, path, table)
    # A runner took the run, staged part of it and was SIGKILLed: no terminal event, leftover staging.
    crashed = await world.crashed_attempt(request)
    plan = resolve_by_header(PEOPLE_HEADER.strip().split(","), PEOPLE_MAPPING, table, path)
    await world.pool.execute(create_staging(Staging(world.job_id, 1, crashed.number), plan))

    event = await world.execute(request)

    emitted = await world.events(1)
    assert [e.aggregate_version for e in emitted] == list(range(2, 2 + len(emitted)))
    assert [getattr(e.payload, "attempt", None) for e in emitted][:2] == [1, 2]
    assert emitted[-1] == event and event.type == "run.succeeded"
    assert not await world.staging()
