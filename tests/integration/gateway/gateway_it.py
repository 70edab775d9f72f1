"""Helpers of the gateway's integration tests: a fake scheduler answering commands on Kafka like the real one,
and waiting for a gateway process to be ready."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer, TopicPartition

from connect_events import (
    COMMANDS_TOPIC,
    Command,
    decode,
    encode,
)
from connect_gateway.ports import Reply
from connect_runtime.kafka import make_consumer
from connect_runtime.vault import generate_key
from tests.admins import new_admin
from tests.unit.gateway.gateway_fakes import accepted


@dataclass
class FakeScheduler:
    """Consumes the commands topic and produces `decide(command)` (None: stays silent) on the replies topic."""

    bootstrap: str
    producer: AIOKafkaProducer
    commands_topic: str
    replies_topic: str
    decide: Callable[[Command], Reply | None] = accepted
    received: list[Command] = field(default_factory=list)
    keys: list[bytes] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = make_consumer(self.bootstrap, None)
        await consumer.start()
        partitions = await self.producer.partitions_for(self.commands_topic)
        consumer.assign([TopicPartition(self.commands_topic, p) for p in partitions])
        self._task = asyncio.create_task(self._serve(consumer))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _serve(self, consumer: object) -> None:
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=200)  # type: ignore[attr-defined]
                for records in batches.values():
                    for record in records:
                        await self._answer(record.key, record.value)
        finally:
            await consumer.stop()  # type: ignore[attr-defined]

    async def _answer(self, key: bytes, value: bytes) -> None:
        command = decode(COMMANDS_TOPIC, value)
        assert isinstance(command, Command)
        self.received.append(command)
        self.keys.append(key)
        reply = self.decide(command)
        if reply is not None:
            await self.producer.send_and_wait(self.replies_topic, encode(reply), key=key)


START_WAIT_S = 30.0


def gateway_env(kafka_bootstrap: str, database_url: str, port: int, **settings: str) -> dict[str, str]:
    """The environment of a gateway process on the test infrastructure, listening on `port`."""
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "CONNECT_VAULT_KEY": generate_key(),
        "GATEWAY_PORT": str(port),
        **settings,
    }


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> httpx.Response:
    """The first 200 from `url`/readyz; fails when the process exits or does not get ready in time."""
    deadline = time.monotonic() + START_WAIT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1].decode()
        try:
            response = httpx.get(f"{url}/readyz", timeout=2.0)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the gateway did not become ready")


def admin_token(env: dict[str, str], url: str, state_dir: Path) -> str:
    """An admin made with `create-admin` in the gateway's identity database, and an API token of it."""
    return new_admin(env, url, state_dir, "it-admin", "integration test")[1]
