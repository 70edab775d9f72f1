"""The hosted file server against real PostgreSQL and the stock OpenSSH `sftp` client.

Keys are registered in a throw-away identity database; the SFTP endpoint runs in the test's event loop on a
free loopback port, over an account root of its own per test. The key store's contract is checked on
PostgreSQL here with the same checks its in-memory fake passes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import asyncpg
import asyncssh
import pytest

from connect_events import Role
from connect_gateway import identity
from connect_gateway.adapters.identity_sql import IDENTITY_DDL
from connect_gateway.adapters.identity_store import PgIdentityStore
from connect_gateway.adapters.ssh_keys import SSH_KEYS_DDL, PgSshKeyStore
from connect_gateway.domain.identity.users import Disable
from connect_gateway.files.keys import read_public_key
from connect_gateway.files.ports import SshKeyRecord
from connect_gateway.files.sftp_server import serving
from tests.databases import throwaway_pool
from tests.unit.gateway.identity_fake import FastHasher
from tests.unit.gateway.test_ssh_keys_store import (
    CHECKS,
    PASSWORD,
    Check,
    KeysWorld,
    check_id,
    generate,
    memory_world,
)

pytestmark = pytest.mark.integration
TABLES = "users, tokens, sessions, login_failures, outbox, ssh_keys"
CLIENT_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
async def identity_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with throwaway_pool(database_url, f"identity_{uuid4().hex[:8]}", IDENTITY_DDL + SSH_KEYS_DDL) as pool:
        yield pool


@pytest.fixture
async def pg_world(identity_pool: asyncpg.Pool) -> KeysWorld:
    await identity_pool.execute(f"TRUNCATE {TABLES}")
    return KeysWorld(PgSshKeyStore(identity_pool), PgIdentityStore(identity_pool), FastHasher())


@pytest.fixture(params=["memory", "postgres"])
def any_world(request: pytest.FixtureRequest) -> KeysWorld:
    if request.param == "memory":
        return memory_world()
    pg: KeysWorld = request.getfixturevalue("pg_world")
    return pg


@pytest.mark.parametrize("check", CHECKS, ids=check_id)
async def test_the_ssh_key_store_contract(any_world: KeysWorld, check: Check) -> None:
    await check(any_world)


async def test_an_unregistered_key_keeps_its_row_with_who_removed_it(
    pg_world: KeysWorld, identity_pool: asyncpg.Pool
) -> None:
    await identity.create_user(pg_world, "kim", Role.OPERATOR, PASSWORD, "tests")
    key = _record("kim", generate())
    await pg_world.keys.add(key, 10)
    await pg_world.keys.delete(key.key_id, "ada", datetime(2027, 1, 1, tzinfo=UTC))
    row = await identity_pool.fetchrow("SELECT deleted_by, deleted_at FROM ssh_keys WHERE key_id = $1", key.key_id)
    assert row is not None and (row["deleted_by"], row["deleted_at"].year) == ("ada", 2027)


@dataclass(frozen=True)
class Hosted:
    """A running SFTP endpoint over its account root."""

    port: int
    root: Path
    world: KeysWorld
    work: Path  # local files of the client


@dataclass(frozen=True)
class Session:
    """What one `sftp -b` run did."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
async def hosted(pg_world: KeysWorld, tmp_path: Path) -> AsyncIterator[Hosted]:
    root = tmp_path / "account"
    work = tmp_path / "client"
    work.mkdir()
    async with serving(pg_world.keys, root, "127.0.0.1", 0, tmp_path / "host_key") as acceptor:
        yield Hosted(acceptor.get_port(), root, pg_world, work)


def _record(username: str, key: asyncssh.SSHKey) -> SshKeyRecord:
    public = read_public_key(key.export_public_key("openssh").decode())
    return SshKeyRecord(
        key_id=uuid4(),
        username=username,
        label="test",
        algorithm=public.algorithm,
        bits=public.bits,
        fingerprint=public.fingerprint,
        public_key=public.openssh,
        created_at=datetime.now(UTC),
        created_by=username,
    )


async def _user_with_key(hosted: Hosted, name: str, role: Role = Role.OPERATOR, kind: str = "ssh-ed25519") -> Path:
    """A user with a registered key; the private key's file (for `sftp -i`)."""
    await identity.create_user(hosted.world, name, role, PASSWORD, "tests")
    return await _key_file(hosted, name, registered_to=name, kind=kind)


async def _key_file(hosted: Hosted, name: str, registered_to: str | None, kind: str = "ssh-ed25519") -> Path:
    key = generate(kind)
    if registered_to is not None:
        await hosted.world.keys.add(_record(registered_to, key), 10)
    path = hosted.work / f"id_{name}_{uuid4().hex[:6]}"
    path.write_bytes(key.export_private_key("openssh"))
    path.chmod(0o600)
    return path


async def _sftp(hosted: Hosted, user: str, key: Path, *commands: str) -> Session:
    """Run `commands` with the stock OpenSSH client in batch mode (it stops at the first failing command)."""
    batch = hosted.work / f"batch_{uuid4().hex[:6]}"
    batch.write_text("\n".join(commands) + "\n")
    return await _run(
        "sftp",
        "-b",
        str(batch),
        *_ssh_options(hosted, key),
        "-P",
        str(hosted.port),
        f"{user}@127.0.0.1",
        cwd=hosted.work,
    )


def _ssh_options(hosted: Hosted, key: Path) -> list[str]:
    options = {
        "StrictHostKeyChecking": "no",
        "UserKnownHostsFile": "/dev/null",
        "IdentitiesOnly": "yes",
        "IdentityAgent": "none",
        "BatchMode": "yes",
        "PasswordAuthentication": "no",
        "KbdInteractiveAuthentication": "no",
        "ConnectTimeout": "20",
        "LogLevel": "ERROR",
    }
    return ["-F", "/dev/null", "-i", str(key), *(arg for k, v in options.items() for arg in ("-o", f"{k}={v}"))]


async def _run(*argv: str, cwd: Path) -> Session:
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), CLIENT_TIMEOUT_S)
    assert proc.returncode is not None
    return Session(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


async def test_a_registered_key_puts_lists_and_gets_files_in_upload(hosted: Hosted) -> None:
    key = await _user_with_key(hosted, "kim", kind="ssh-rsa")
    (hosted.work / "local.csv").write_bytes(b"id;name\n1;x\n")
    session = await _sftp(
        hosted,
        "kim",
        key,
        "put local.csv upload/a.csv",
        "ls -l upload",
        "cd upload",
        "get a.csv back.csv",
        "cd ..",
        "pwd",
        "mkdir upload/crm",
        "rename upload/a.csv upload/crm/a.csv",
    )
    assert session.returncode == 0, session.stderr
    assert "a.csv" in session.stdout and "Remote working directory: /\n" in session.stdout
    assert (hosted.work / "back.csv").read_bytes() == b"id;name\n1;x\n"
    assert (hosted.root / "upload" / "crm" / "a.csv").read_bytes() == b"id;name\n1;x\n"
    [stored] = await hosted.world.keys.list_keys("kim")
    assert stored.last_used_at is not None


async def test_an_unregistered_key_is_refused(hosted: Hosted) -> None:
    await _user_with_key(hosted, "kim")
    stranger = await _key_file(hosted, "stranger", registered_to=None)
    session = await _sftp(hosted, "kim", stranger, "ls")
    assert session.returncode != 0
    assert "Permission denied (publickey)" in session.stderr


async def test_a_key_works_only_for_the_user_it_is_registered_to(hosted: Hosted) -> None:
    kims = await _user_with_key(hosted, "kim")
    await _user_with_key(hosted, "lou")
    session = await _sftp(hosted, "lou", kims, "ls")
    assert session.returncode != 0 and "Permission denied (publickey)" in session.stderr


@pytest.mark.parametrize(
    "command",
    [
        "cd ..",
        "cd /..",
        "get ../../etc/passwd stolen",
        "get /../etc/passwd stolen",
        "get /etc/passwd stolen",  # the client's / is the account's root: there is no etc/ in it
        "get upload/link/secret.txt stolen",
        "get upload/s.txt stolen",
        "ls upload/link",
        "put local.csv ../x.csv",
        "put local.csv upload/link/x.csv",
        "symlink /upload/local.csv /upload/l",
        "rename upload download/upload",
        "rmdir upload",
    ],
)
async def test_no_path_leaves_the_root(hosted: Hosted, tmp_path: Path, command: str) -> None:
    key = await _user_with_key(hosted, "kim")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    (hosted.root / "upload" / "link").symlink_to(outside)
    (hosted.root / "upload" / "s.txt").symlink_to(outside / "secret.txt")
    (hosted.work / "local.csv").write_bytes(b"1\n")
    session = await _sftp(hosted, "kim", key, "pwd", command)  # `pwd` first: proves the login itself worked
    assert "Remote working directory: /\n" in session.stdout, session.stderr
    assert session.returncode != 0, session.stdout
    assert not (hosted.work / "stolen").exists()
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert not (tmp_path / "x.csv").exists() and not (hosted.root / "upload" / "l").exists()
    assert sorted(p.name for p in hosted.root.iterdir()) == ["archive", "download", "upload"]


async def test_dot_dot_within_the_root_still_works_for_cd(hosted: Hosted) -> None:
    key = await _user_with_key(hosted, "kim")
    session = await _sftp(hosted, "kim", key, "cd upload", "cd ../download", "pwd")
    assert session.returncode == 0, session.stderr
    assert "Remote working directory: /download\n" in session.stdout


async def test_a_deleted_key_or_a_disabled_user_is_refused_from_the_next_login(hosted: Hosted) -> None:
    key = await _user_with_key(hosted, "kim")
    lous = await _user_with_key(hosted, "lou")
    assert (await _sftp(hosted, "kim", key, "ls")).returncode == 0
    [registered] = await hosted.world.keys.list_keys("kim")
    assert await hosted.world.keys.delete(registered.key_id, "kim", datetime.now(UTC))
    await identity.change_user(hosted.world, "lou", Disable(), "tests")
    for user, path in (("kim", key), ("lou", lous)):
        session = await _sftp(hosted, user, path, "ls")
        assert session.returncode != 0 and "Permission denied (publickey)" in session.stderr


async def test_a_viewer_may_read_but_not_write(hosted: Hosted) -> None:
    key = await _user_with_key(hosted, "vic", Role.VIEWER)
    (hosted.root / "download" / "out.csv").write_bytes(b"1\n")
    (hosted.work / "local.csv").write_bytes(b"2\n")
    read = await _sftp(hosted, "vic", key, "get download/out.csv got.csv")
    write = await _sftp(hosted, "vic", key, "put local.csv upload/local.csv")
    assert read.returncode == 0 and (hosted.work / "got.csv").read_bytes() == b"1\n"
    assert write.returncode != 0 and not (hosted.root / "upload" / "local.csv").exists()


async def test_only_the_sftp_subsystem_is_served(hosted: Hosted) -> None:
    key = await _user_with_key(hosted, "kim")
    options = _ssh_options(hosted, key)
    command = await _run("ssh", *options, "-p", str(hosted.port), "kim@127.0.0.1", "cat /etc/passwd", cwd=hosted.work)
    forward = await _run(
        "ssh", *options, "-N", "-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:1", "-p", str(hosted.port),
        "kim@127.0.0.1", cwd=hosted.work,
    )  # fmt: skip
    assert command.returncode != 0 and "root:" not in command.stdout
    assert forward.returncode != 0


async def test_the_host_key_is_created_once_owner_only_and_kept(pg_world: KeysWorld, tmp_path: Path) -> None:
    path = tmp_path / "host_key"
    async with serving(pg_world.keys, tmp_path / "a", "127.0.0.1", 0, path) as first:
        seen = await asyncssh.get_server_host_key("127.0.0.1", first.get_port(), config=None)
    assert path.stat().st_mode & 0o777 == 0o600
    async with serving(pg_world.keys, tmp_path / "a", "127.0.0.1", 0, path) as second:
        again = await asyncssh.get_server_host_key("127.0.0.1", second.get_port(), config=None)
    assert seen is not None and again is not None
    assert seen.get_fingerprint("sha256") == again.get_fingerprint("sha256")


async def test_a_host_key_inside_the_root_is_refused(pg_world: KeysWorld, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="outside the file server's root"):
        async with serving(pg_world.keys, tmp_path, "127.0.0.1", 0, tmp_path / "upload" / "key"):
            pass
