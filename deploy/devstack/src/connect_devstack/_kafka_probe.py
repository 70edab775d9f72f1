"""A minimal Kafka wire-protocol client: one Metadata request, to tell when a broker is usable.

An open port is not enough: a KRaft broker accepts connections before it has caught up with
the metadata log and been unfenced by the controller, and clients that connect in that
window get "no brokers" / timeouts. A broker lists itself in Metadata responses only once
it is unfenced, which is exactly "ready" for producers, consumers and the admin client.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

_METADATA = 3
#: Metadata v4 is the oldest version Kafka 4.x still serves and the newest without tagged
#: fields ("flexible versions", v9+), so it stays trivial to encode and decode.
_METADATA_VERSION = 4
_CLIENT_ID = b"connect-devstack"


@dataclass(frozen=True)
class Broker:
    """A broker as listed in a Metadata response."""

    node_id: int
    host: str
    port: int


class _Reader:
    """Big-endian reader over one response frame."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def _unpack(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self._data, self._pos)
        self._pos += struct.calcsize(fmt)
        return int(value)

    def int16(self) -> int:
        return self._unpack(">h")

    def int32(self) -> int:
        return self._unpack(">i")

    def string(self) -> str | None:
        length = self.int16()
        if length < 0:
            return None
        raw = self._data[self._pos : self._pos + length]
        self._pos += length
        return raw.decode()


def _metadata_request(correlation_id: int) -> bytes:
    """Encode Metadata v4 asking for no topics (an empty, not null, list) and no auto-creation."""
    header = struct.pack(">hhih", _METADATA, _METADATA_VERSION, correlation_id, len(_CLIENT_ID)) + _CLIENT_ID
    body = struct.pack(">ib", 0, 0)
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    """Read exactly ``size`` bytes or raise ConnectionError."""
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        chunks += chunk
    return bytes(chunks)


def fetch_brokers(host: str, port: int, timeout: float = 1.0) -> list[Broker]:
    """Send one Metadata request and return the (unfenced) brokers the cluster reports."""
    correlation_id = 7
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(_metadata_request(correlation_id))
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        reader = _Reader(_recv_exact(sock, size))
    if reader.int32() != correlation_id:
        raise ConnectionError("unexpected correlation id")
    reader.int32()  # throttle_time_ms
    brokers = []
    for _ in range(reader.int32()):
        node_id = reader.int32()
        broker_host = reader.string() or ""
        broker_port = reader.int32()
        reader.string()  # rack
        brokers.append(Broker(node_id, broker_host, broker_port))
    return brokers


def broker_ready(host: str, port: int, node_id: int, timeout: float = 1.0) -> bool:
    """True when the broker at ``host:port`` answers Metadata and lists ``node_id`` as alive."""
    try:
        return any(b.node_id == node_id for b in fetch_brokers(host, port, timeout))
    except (OSError, struct.error, UnicodeDecodeError):
        return False
