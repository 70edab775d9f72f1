"""An audience and a vault database of their own per test module, the session's sshd, a key in the vault, a
hosted file tree per test, and `world`: all a runner test works with in one."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
import pytest

from connect_runner.adapters.hosted import HostedFiles
from connect_runner.adapters.ledger import PgRunLedger
from connect_runner.adapters.schema import RUNNER_DDL
from connect_runner.adapters.sftp import SftpFiles
from connect_runner.adapters.sources import Sources
from connect_runner.ports import RunDeps
from connect_runtime.db import ensure_database, open_pool
from connect_runtime.vault import VAULT_DDL, Credential, Vault, generate_key
from tests.conftest import SftpServer
from tests.databases import drop_databases
from tests.integration.runner.runner_it import RunnerWorld

_job_ids = itertools.count(1000)
READY_POLL_S = 0.05


@pytest.fixture(scope="module")
async def audience_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    name = f"runner_{uuid4().hex[:8]}"
    pool = await open_pool(await ensure_database(database_url, name), RUNNER_DDL, max_size=6)
    yield pool
    await pool.close()
    await drop_databases(database_url, name)


@pytest.fixture(scope="module")
async def vault(database_url: str) -> AsyncIterator[Vault]:
    name = f"runner_vault_{uuid4().hex[:8]}"
    pool = await open_pool(await ensure_database(database_url, name), VAULT_DDL, max_size=2)
    yield Vault(pool, generate_key())
    await pool.close()
    await drop_databases(database_url, name)


@pytest.fixture(scope="module")
async def key_ref(vault: Vault, sftp_server: SftpServer) -> UUID:
    """The SFTP user's private key, stored in the vault."""
    ref = uuid4()
    await vault.store(ref, Credential(kind="private_key", secret=sftp_server.private_key))
    return ref


@pytest.fixture
def files_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hosted file server's account root of this test (the runner's `CONNECT_FILES_ROOT`)."""
    return tmp_path_factory.mktemp("account")


@pytest.fixture
def deps(audience_pool: asyncpg.Pool, vault: Vault, tmp_path: Path, files_root: Path) -> RunDeps:
    return RunDeps(
        pool=audience_pool,
        ledger=PgRunLedger(audience_pool),
        vault=vault,
        files=Sources(
            SftpFiles(connect_timeout_s=10, ready_poll_s=READY_POLL_S),
            HostedFiles(files_root, ready_poll_s=READY_POLL_S),
        ),
        work_dir=tmp_path,
        runner="test-runner:1",
        progress_interval_s=0.05,
        work_mem="64MB",
    )


@pytest.fixture
def job_id() -> int:
    """A job id no other test of the session uses."""
    return next(_job_ids)


@pytest.fixture
def remote_dir(sftp_server: SftpServer, unique: str) -> Path:
    folder = sftp_server.data_dir / f"runner-{unique}"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def world(
    deps: RunDeps,
    audience_pool: asyncpg.Pool,
    vault: Vault,
    sftp_server: SftpServer,
    key_ref: UUID,
    remote_dir: Path,
    job_id: int,
    unique: str,
    files_root: Path,
) -> RunnerWorld:
    """This test's runner, database, vault, SFTP folder, job id and name suffix in one."""
    return RunnerWorld(
        deps=deps,
        pool=audience_pool,
        vault=vault,
        server=sftp_server,
        key_ref=key_ref,
        remote_dir=remote_dir,
        job_id=job_id,
        unique=unique,
        files_root=files_root,
    )
