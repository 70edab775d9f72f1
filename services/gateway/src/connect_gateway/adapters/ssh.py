"""Reads an SFTP server's host key with one SSH handshake (no login), to pin it on save.

Whatever goes wrong becomes `HostUnreachableError` with a reason in our words: the request schema already
refuses hosts that are not DNS names or IP literals, but a name that still cannot be encoded or looked up
(Python's IDNA codec raises `UnicodeError`, a NUL raises `ValueError`) must never surface as a 500.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

import asyncssh

from connect_gateway.ports import HostUnreachableError

log = logging.getLogger(__name__)


class SshHostKeyScanner:
    """`HostKeyScanner` over asyncssh."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s

    async def fetch(self, host: str, port: int) -> str:
        """The key the server presents, as an OpenSSH public key line."""
        try:
            async with asyncio.timeout(self._timeout_s):
                # config=None: the gateway's own ~/.ssh/config must not redirect or alter the handshake.
                key = await asyncssh.get_server_host_key(host, port, config=None)
        except TimeoutError:
            raise HostUnreachableError(f"no SSH handshake within {self._timeout_s:g} s") from None
        except Exception as exc:
            raise HostUnreachableError(describe(exc)) from exc
        if key is None:
            raise HostUnreachableError("the server presented no host key")
        return key.export_public_key("openssh").decode().strip()


def describe(exc: Exception) -> str:
    """Why the handshake failed, in our words (library texts may change, quote the host or carry bytes)."""
    if isinstance(exc, socket.gaierror):
        return "the host name cannot be resolved"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno).lower()  # the operating system's fixed text for a network condition
    if isinstance(exc, asyncssh.ConnectionLost):
        return "the server closed the connection during the SSH handshake"
    if isinstance(exc, asyncssh.Error):
        return "the server did not complete an SSH handshake"
    # Not a network condition: a name the resolver cannot take (IDNA, NUL), or an asyncssh surprise.
    log.warning("host-key scan failed", extra={"error_type": type(exc).__name__})
    return "the host name cannot be looked up"
