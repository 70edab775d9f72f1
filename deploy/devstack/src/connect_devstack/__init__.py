"""Throw-away Kafka (KRaft), PostgreSQL and OpenSSH/SFTP processes for Connect's tests.

Stdlib only. Typical in-process use (pytest session fixture)::

    from connect_devstack import Stack

    stack = Stack(state_dir, ["kafka", "postgres", "sshd"])
    env = stack.start()          # {"KAFKA_BOOTSTRAP_SERVERS": ..., "DATABASE_URL": ..., ...}
    ...
    stack.stop()                 # also done at interpreter exit / SIGTERM

From a shell: ``python -m connect_devstack up`` then ``. .devstack/env``.
"""

from __future__ import annotations

from connect_devstack.component import Component
from connect_devstack.install import ensure_installed, ensure_kafka_jars, ensure_postgres, ensure_sshd
from connect_devstack.kafka import Kafka
from connect_devstack.paths import default_state_dir, kafka_home, repo_root
from connect_devstack.postgres import DATABASES, Postgres
from connect_devstack.sshd import Sshd
from connect_devstack.stack import ALL, COMPONENTS, Stack, Status, down, read_env, status, write_env

__all__ = [
    "ALL",
    "COMPONENTS",
    "DATABASES",
    "Component",
    "Kafka",
    "Postgres",
    "Sshd",
    "Stack",
    "Status",
    "default_state_dir",
    "down",
    "ensure_installed",
    "ensure_kafka_jars",
    "ensure_postgres",
    "ensure_sshd",
    "kafka_home",
    "read_env",
    "repo_root",
    "status",
    "write_env",
]
