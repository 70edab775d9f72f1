"""Shared fixtures: real Kafka, PostgreSQL and sshd for the whole session, stopped at its end.

`connect_devstack` starts them on free loopback ports in a throw-away state dir, unless
`KAFKA_BOOTSTRAP_SERVERS` / `DATABASE_URL` / `SFTP_TEST_URL` point at running ones or a Docker engine
provides Kafka and PostgreSQL containers (tests/infra.py). Unit tests request none of
these fixtures, so `pytest tests/unit` starts nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaProducer

from connect_devstack.app import sftp_parts
from connect_runtime.kafka import make_producer
from tests.infra import infra_environment


@dataclass(frozen=True)
class SftpServer:
    """The OpenSSH SFTP peer: key login for `user`, files under `data_dir` by absolute path."""

    host: str
    port: int
    user: str
    private_key_path: Path
    private_key: str
    host_key: str
    data_dir: Path


@pytest.fixture(scope="session")
def infra() -> Iterator[dict[str, str]]:
    """The environment of the running infrastructure (see tests/infra.py for where it comes from)."""
    with infra_environment("connect-test-") as env:
        yield env


@pytest.fixture(scope="session")
def kafka_bootstrap(infra: dict[str, str]) -> str:
    """`host:port` of the Kafka broker."""
    return infra["KAFKA_BOOTSTRAP_SERVERS"]


@pytest.fixture(scope="session")
def database_url(infra: dict[str, str]) -> str:
    """PostgreSQL server URL (no database); tests create their own databases on it."""
    return infra["DATABASE_URL"]


@pytest.fixture(scope="session")
def sftp_server(infra: dict[str, str]) -> SftpServer:
    """The SFTP peer."""
    return sftp_server_of(infra)


def sftp_server_of(infra: dict[str, str]) -> SftpServer:
    """The SFTP peer described by an infra environment."""
    host, port, user, data_dir, key = sftp_parts(infra["SFTP_TEST_URL"])
    return SftpServer(
        host=host,
        port=port,
        user=user,
        private_key_path=key,
        private_key=key.read_text(),
        host_key=infra["SFTP_TEST_HOST_KEY"],
        data_dir=data_dir,
    )


@pytest.fixture
def unique() -> str:
    """A short unique suffix for names that tests must not share."""
    return uuid4().hex[:8]


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    """A started producer on the broker of the tests that ask (e2e tests get theirs: `kafka_bootstrap`)."""
    producer = make_producer(kafka_bootstrap)
    await producer.start()
    yield producer
    await producer.stop()
