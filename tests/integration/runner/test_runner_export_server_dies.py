"""An export whose SFTP server dies mid-transfer (issue 9): an OpenSSH server of this test's own is killed (the
listener and its session processes, SIGKILL) once the run has written its first block; the run fails with a clear
reason and nothing appears under the final name. Once the server is back, the next run delivers the whole file."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from connect_devstack.sshd import SSHD, Sshd
from connect_events import ExportFile, TableExport
from connect_runner.adapters.tables import ensure_table
from connect_runner.ports import Destination, Sink
from tests.integration.runner.runner_it import RunnerWorld, failed, succeeded
from tests.integration.runner.test_runner_exports import export_request
from tests.polling import until
from tests.unit.runner.runner_builders import people_table

pytestmark = pytest.mark.integration
ROWS = 60_000


@pytest.fixture
def own_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    server = Sshd(tmp_path_factory.mktemp("own-sshd"))
    server.start()
    yield server
    _kill_tree(server.pid)
    server.stop()


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (sshd forks one per connection, which forks the session's)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _kill_tree(pid: int | None) -> None:
    if pid is None:
        return
    for each in [*_descendants(pid), pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(each, signal.SIGKILL)


def _banner(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def _answers(port: int, *, expected: bool) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await asyncio.to_thread(_banner, port) == expected

    return check


class _HoldAfterFirstWrite:
    """The real destination; its first write is followed by a wait until the test has killed the server."""

    def __init__(self, inner: Destination, written: asyncio.Event, killed: asyncio.Event) -> None:
        self._inner, self._written, self._killed = inner, written, killed

    async def create(self, path: str) -> Sink:
        sink = await self._inner.create(path)
        written, killed = self._written, self._killed

        class Holding:
            async def write(self, data: bytes) -> None:
                await sink.write(data)
                if not written.is_set():
                    written.set()
                    await killed.wait()

            async def close(self) -> None:
                await sink.close()

        return Holding()

    async def rename(self, path: str, target: str) -> None:
        await self._inner.rename(path, target)

    async def remove(self, path: str) -> None:
        await self._inner.remove(path)


async def test_a_server_killed_mid_transfer_fails_the_run_and_the_next_run_delivers(
    world: RunnerWorld, own_sshd: Sshd, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = people_table(f"people_{world.unique}")
    async with world.pool.acquire() as conn:
        await ensure_table(conn, table)
        rows = [(i, f"name {i}", None, i % 2 == 0, None, None) for i in range(1, ROWS + 1)]
        await conn.copy_records_to_table(table.name, schema_name="custom", records=rows)
    ref = await world.credential("private_key", own_sshd.private_key.read_text())
    folder = own_sshd.data_dir
    destination = world.source(
        str(folder / "people.csv"), ref, port=own_sshd.port, user=own_sshd.user, host_key=own_sshd.host_public_key
    )
    settings = ExportFile(source=TableExport(table=table.name), destination=destination)

    written, killed = asyncio.Event(), asyncio.Event()
    files = world.deps.files
    opened = files.destination

    def holding(source: Any, path: str) -> Any:
        inner = opened(source, path)

        class Wrapping:
            async def __aenter__(self) -> Destination:
                return _HoldAfterFirstWrite(await inner.__aenter__(), written, killed)

            async def __aexit__(self, *exc: Any) -> None:
                await inner.__aexit__(*exc)

        return Wrapping()

    monkeypatch.setattr(files, "destination", holding)
    run = asyncio.create_task(world.execute(export_request(world, 1, settings, table)))
    await asyncio.wait_for(written.wait(), 60)
    _kill_tree(own_sshd.pid)
    await until(_answers(own_sshd.port, expected=False))
    killed.set()
    event = failed(await asyncio.wait_for(run, 120))
    server = f"{own_sshd.user}@127.0.0.1:{own_sshd.port}"
    temp = folder / f".people.csv.{world.job_id}.1.part"
    assert (event.payload.code, event.payload.error) == (
        "CONNECTION_FAILED",
        f"the connection to {server} was lost while writing '{temp}'",
    )
    assert not (folder / "people.csv").exists(), "nothing under the final name"

    monkeypatch.undo()
    restarted = await asyncio.create_subprocess_exec(  # the same server again: its configuration, keys and port
        SSHD, "-D", "-e", "-f", str(own_sshd.config_file),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        await until(_answers(own_sshd.port, expected=True))
        second = succeeded(await world.execute(export_request(world, 2, settings, table)))
        lines = (folder / "people.csv").read_text().splitlines()
        assert (second.payload.counts.rows_read, len(lines)) == (ROWS, ROWS + 1)
        assert lines[1] == "1,name 1,,false,,"
        assert lines[-1] == f"{ROWS},name {ROWS},,true,,"
    finally:
        _kill_tree(restarted.pid)
        await restarted.wait()
