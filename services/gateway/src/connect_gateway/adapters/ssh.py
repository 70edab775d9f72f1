"""Reads an SFTP server's host key with one SSH handshake (no login), to pin it on save."""

from __future__ import annotations

import asyncio
import os
import socket

import asyncssh

from connect_gateway.ports import HostUnreachableError


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
        except (OSError, asyncssh.Error) as exc:
            raise HostUnreachableError(_describe(exc)) from exc
        if key is None:
            raise HostUnreachableError("the server presented no host key")
        return key.export_public_key("openssh").decode().strip()


def _describe(exc: BaseException) -> str:
    """A short reason; asyncio's own text for a refused connection repeats the address."""
    if isinstance(exc, socket.gaierror):
        return exc.strerror or str(exc)
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)
    if isinstance(exc, asyncssh.Error):
        return exc.reason or type(exc).__name__
    return str(exc) or type(exc).__name__
