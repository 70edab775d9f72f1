"""Runs that cannot load fail with a code and a plain message, leave the target untouched, and are final."""

from __future__ import annotations

import socket
from uuid import UUID, uuid4

import asyncpg
import asyncssh

from connect_runner.handlers import RunDeps, execute_run
from connect_runtime.vault import Credential, Vault
from tests.conftest import SftpServer
from tests.integration.runner.runner_it import PEOPLE_HEADER, Put, failed, run_events, sftp_location, staging_tables
from tests.unit.runner.runner_builders import mapping, people_table, run_request


async def test_missing_file_fails_with_file_not_found(
    deps: RunDeps, audience_pool: asyncpg.Pool, sftp_server: SftpServer, key_ref: UUID, remote_dir: str, job_id: int
) -> None:
    path = f"{remote_dir}/nothing_%YYYY%%MM%%DD%.csv"
    request = run_request(job_id, 1, source=sftp_location(sftp_server, path, key_ref))

    event = failed(await execute_run(request, deps))

    assert event.payload.code == "FILE_NOT_FOUND"
    assert event.payload.error == f"no file matching '{remote_dir}/nothing_20250314.csv'"
    ledger = await audience_pool.fetchval("SELECT status FROM run_ledger WHERE job_id = $1 AND run_id = 1", job_id)
    assert ledger == "failed"
    assert await execute_run(request, deps) == event


async def test_missing_wildcard_match_and_missing_folder(
    deps: RunDeps, sftp_server: SftpServer, key_ref: UUID, remote_dir: str, job_id: int
) -> None:
    for run_id, path in enumerate([f"{remote_dir}/none_*.csv", f"{remote_dir}/no/such/dir/*.csv"], start=1):
        request = run_request(job_id, run_id, source=sftp_location(sftp_server, path, key_ref))
        event = failed(await execute_run(request, deps))
        assert (event.payload.code, event.payload.error) == ("FILE_NOT_FOUND", f"no file matching '{path}'")


async def test_header_without_a_mapped_column_fails_with_bad_header(
    deps: RunDeps,
    audience_pool: asyncpg.Pool,
    sftp_server: SftpServer,
    key_ref: UUID,
    put_file: Put,
    job_id: int,
    unique: str,
) -> None:
    path = put_file("people.csv", "id,full_name,score\n1,Ann,2\n")
    table = people_table(f"people_{unique}")
    request = run_request(job_id, 1, source=sftp_location(sftp_server, path, key_ref), table=table)

    event = failed(await execute_run(request, deps))

    assert event.payload.code == "BAD_HEADER"
    assert event.payload.error == (
        f"header of '{path}' has no columns 'name', 'active', 'born', 'seen' (found: id, full_name, score)"
    )
    assert await audience_pool.fetchval(f'SELECT count(*) FROM custom."{table.name}"') == 0
    assert not [t for t in await staging_tables(audience_pool) if t.startswith(f"s_{job_id}_")]


async def test_empty_file_fails_with_bad_header(
    deps: RunDeps, sftp_server: SftpServer, key_ref: UUID, put_file: Put, job_id: int
) -> None:
    path = put_file("empty.csv", "")
    event = failed(await execute_run(run_request(job_id, 1, source=sftp_location(sftp_server, path, key_ref)), deps))
    assert (event.payload.code, event.payload.error) == ("BAD_HEADER", f"'{path}' is empty: no header row")


async def test_header_only_and_empty_headerless_files_load_nothing(
    deps: RunDeps, sftp_server: SftpServer, key_ref: UUID, put_file: Put, job_id: int, unique: str
) -> None:
    from connect_events import CsvSettings

    table = people_table(f"people_{unique}")
    header_only = put_file("header.csv", PEOPLE_HEADER)
    empty = put_file("empty.txt", "")
    runs = [
        run_request(job_id, 1, source=sftp_location(sftp_server, header_only, key_ref), table=table),
        run_request(
            job_id,
            2,
            source=sftp_location(sftp_server, empty, key_ref),
            table=table,
            columns=mapping(("1", "id"), ("2", "name")),
            file=CsvSettings(header=False),
        ),
    ]
    for request in runs:
        event = await execute_run(request, deps)
        assert event.type == "run.succeeded", event
        assert event.payload.counts.rows_read == 0  # type: ignore[attr-defined]


async def test_a_host_key_copied_from_known_hosts_is_accepted(
    deps: RunDeps, sftp_server: SftpServer, key_ref: UUID, put_file: Put, job_id: int, unique: str
) -> None:
    path = put_file("people.csv", PEOPLE_HEADER + "1,Ann,,,,\n")
    pinned = f"[{sftp_server.host}]:{sftp_server.port} {sftp_server.host_key} comment"
    source = sftp_location(sftp_server, path, key_ref, host_key=pinned)
    event = await execute_run(run_request(job_id, 1, source=source, table=people_table(f"p_{unique}")), deps)
    assert event.type == "run.succeeded", event


async def test_wrong_key_fails_with_auth_failed(
    deps: RunDeps, vault: Vault, sftp_server: SftpServer, put_file: Put, job_id: int
) -> None:
    other_key = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    ref = uuid4()
    await vault.store(ref, Credential(kind="private_key", secret=other_key))
    path = put_file("people.csv", PEOPLE_HEADER)

    event = failed(await execute_run(run_request(job_id, 1, source=sftp_location(sftp_server, path, ref)), deps))

    assert event.payload.code == "AUTH_FAILED"
    where = f"{sftp_server.user}@{sftp_server.host}:{sftp_server.port}"
    assert event.payload.error == f"{where} refused the stored credential"
    assert "PRIVATE KEY" not in event.model_dump_json()


async def test_missing_credential_and_password_refused(
    deps: RunDeps, vault: Vault, sftp_server: SftpServer, put_file: Put, job_id: int
) -> None:
    path = put_file("people.csv", PEOPLE_HEADER)
    missing = uuid4()
    event = failed(await execute_run(run_request(job_id, 1, source=sftp_location(sftp_server, path, missing)), deps))
    assert (event.payload.code, event.payload.error) == (
        "AUTH_FAILED",
        f"the job's credential {missing} is not in the vault",
    )

    ref = uuid4()
    await vault.store(ref, Credential(kind="password", secret="s3cret-pass"))
    event = failed(await execute_run(run_request(job_id, 2, source=sftp_location(sftp_server, path, ref)), deps))
    assert event.payload.code == "AUTH_FAILED"
    assert "s3cret-pass" not in event.model_dump_json()


async def test_wrong_pinned_host_key_fails_with_host_key_mismatch(
    deps: RunDeps, sftp_server: SftpServer, key_ref: UUID, put_file: Put, job_id: int
) -> None:
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    path = put_file("people.csv", PEOPLE_HEADER)
    source = sftp_location(sftp_server, path, key_ref, host_key=impostor, fingerprint="SHA256:pinned")

    event = failed(await execute_run(run_request(job_id, 1, source=source), deps))

    assert event.payload.code == "HOST_KEY_MISMATCH"
    assert f"{sftp_server.host}:{sftp_server.port}" in event.payload.error
    assert "SHA256:pinned" in event.payload.error


async def test_unreachable_server_fails_with_connection_failed(
    deps: RunDeps, sftp_server: SftpServer, key_ref: UUID, job_id: int
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    source = sftp_location(sftp_server, "/x.csv", key_ref, port=closed_port)

    event = failed(await execute_run(run_request(job_id, 1, source=source), deps))

    assert event.payload.code == "CONNECTION_FAILED"
    assert event.payload.error.startswith(f"cannot connect to {sftp_server.user}@127.0.0.1:{closed_port}: ")


async def test_a_crashed_attempt_is_redone_from_scratch_with_the_next_versions(
    deps: RunDeps,
    audience_pool: asyncpg.Pool,
    sftp_server: SftpServer,
    key_ref: UUID,
    put_file: Put,
    job_id: int,
    unique: str,
) -> None:
    from connect_runner.adapters import ledger
    from connect_runner.domain.plan import resolve_by_header
    from connect_runner.domain.statements import Staging, create_staging
    from tests.unit.runner.runner_builders import PEOPLE_MAPPING

    table = people_table(f"people_{unique}")
    path = put_file("people.csv", PEOPLE_HEADER + "1,Ann,,,,\n")
    request = run_request(job_id, 1, source=sftp_location(sftp_server, path, key_ref), table=table)
    # A runner took the run, staged part of it and was SIGKILLed: no terminal event, leftover staging.
    crashed = await ledger.begin_attempt(audience_pool, request, "gone:1", request.occurred_at)
    plan = resolve_by_header(PEOPLE_HEADER.strip().split(","), PEOPLE_MAPPING, table, path)
    await audience_pool.execute(create_staging(Staging(job_id, 1, crashed.number), plan))

    event = await execute_run(request, deps)

    emitted = await run_events(audience_pool, job_id, 1)
    assert [e.aggregate_version for e in emitted] == list(range(2, 2 + len(emitted)))
    assert [getattr(e.payload, "attempt", None) for e in emitted][:2] == [1, 2]
    assert emitted[-1] == event and event.type == "run.succeeded"
    assert not [t for t in await staging_tables(audience_pool) if t.startswith(f"s_{job_id}_")]
