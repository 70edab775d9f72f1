"""Host-key pinning against the real sshd, and what "unreachable" looks like."""

from __future__ import annotations

import asyncio
import socket

import pytest

from connect_gateway.adapters.ssh import SshHostKeyScanner
from connect_gateway.domain.host_keys import pin
from connect_gateway.ports import HostUnreachableError
from tests.conftest import SftpServer

pytestmark = pytest.mark.integration


async def test_the_servers_key_is_read_and_fingerprinted(sftp_server: SftpServer) -> None:
    line = await SshHostKeyScanner(timeout_s=5.0).fetch(sftp_server.host, sftp_server.port)
    assert pin(line) == pin(sftp_server.host_key)
    assert pin(line).fingerprint.startswith("SHA256:")


async def test_a_closed_port_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(HostUnreachableError) as unreachable:
        await SshHostKeyScanner(timeout_s=5.0).fetch("127.0.0.1", port)
    assert "refused" in str(unreachable.value).lower()


async def test_a_server_that_never_speaks_ssh_times_out() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(HostUnreachableError) as unreachable:
            await SshHostKeyScanner(timeout_s=0.5).fetch("127.0.0.1", port)
        assert "0.5 s" in str(unreachable.value)
    finally:
        server.close()
