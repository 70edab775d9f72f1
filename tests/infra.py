"""Where the tests' Kafka, PostgreSQL and sshd come from.

In order of preference: servers named by `KAFKA_BOOTSTRAP_SERVERS` / `DATABASE_URL` / `SFTP_TEST_URL`; Kafka and
PostgreSQL containers from testcontainers when a Docker engine answers; otherwise local processes started by
`connect_devstack` (the usual case on machines without Docker). sshd is always a local process, because tests
write the files the jobs read straight into its data folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from connect_devstack import Stack

KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.0"
POSTGRES_IMAGE = "postgres:15"


def docker_available() -> bool:
    """Whether a Docker engine answers (the `docker` client library comes with testcontainers)."""
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:  # no socket, no permission, no engine: all mean "use local processes"
        return False
    return True


@contextlib.contextmanager
def _containers(environ: dict[str, str]) -> Iterator[dict[str, str]]:
    """Kafka and PostgreSQL containers for the variables not already given."""
    with contextlib.ExitStack() as stack:
        given = dict(environ)
        if "KAFKA_BOOTSTRAP_SERVERS" not in given:
            from testcontainers.community.kafka import KafkaContainer

            kafka = stack.enter_context(KafkaContainer(image=KAFKA_IMAGE).with_kraft())
            given["KAFKA_BOOTSTRAP_SERVERS"] = kafka.get_bootstrap_server()
        if "DATABASE_URL" not in given:
            from testcontainers.community.postgres import PostgresContainer

            postgres = stack.enter_context(
                PostgresContainer(POSTGRES_IMAGE, username="postgres", password="postgres", dbname="postgres")
            )
            given["DATABASE_URL"] = postgres.get_connection_url(driver=None)
        yield given


@contextlib.contextmanager
def infra_environment(prefix: str) -> Iterator[dict[str, str]]:
    """Start what is missing, yield the environment describing all three, stop what was started."""
    state = Path(tempfile.mkdtemp(prefix=prefix))
    environ = dict(os.environ)
    use_containers = docker_available() and not {"KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"} <= environ.keys()
    try:
        with _containers(environ) if use_containers else contextlib.nullcontext(environ) as given:
            stack = Stack(state, environ=given)
            try:
                yield stack.start()
            finally:
                stack.stop()
    finally:
        shutil.rmtree(state, ignore_errors=True)
