"""A single-node Kafka 4.x in KRaft mode (broker and controller in one JVM)."""

from __future__ import annotations

import base64
import logging
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path

from connect_devstack import _kafka_probe, _proc, paths
from connect_devstack.component import Component

log = logging.getLogger(__name__)

NODE_ID = 1

#: JVM flags tuned for a fast start of a small test broker rather than for throughput:
#: serial GC (no GC threads to spin up on 2 cores) and C1 only (JIT warm-up dominates a
#: short-lived broker's CPU time). Override with ``Kafka(jvm_opts=...)`` for benchmarks.
DEFAULT_JVM_OPTS: tuple[str, ...] = (
    "-Xmx512m",
    "-Xms256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Djava.awt.headless=true",
)


def random_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (like ``Uuid``).

    Ids starting with '-' are avoided because the StorageTool CLI would read them as a flag.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


class Kafka(Component):
    """Kafka broker+controller on ``127.0.0.1:<port>`` with its controller on ``<controller_port>``."""

    name = "kafka"
    env_keys = ("KAFKA_BOOTSTRAP_SERVERS",)

    def __init__(
        self,
        state_dir: Path,
        *,
        port: int | None = None,
        controller_port: int | None = None,
        home: Path | None = None,
        java: str | None = None,
        jvm_opts: Sequence[str] = DEFAULT_JVM_OPTS,
        ready_timeout: float = 60.0,
    ) -> None:
        super().__init__(state_dir)
        self.host = _proc.LOOPBACK
        self._port = port
        self._controller_port = controller_port
        self._home = home
        self._java = java
        self.jvm_opts = tuple(jvm_opts)
        self.ready_timeout = ready_timeout

    # -- facts -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The PLAINTEXT client port (picked lazily so that ``stop_recorded`` needs none)."""
        if self._port is None:
            self._port = _proc.free_port()
        return self._port

    @property
    def controller_port(self) -> int:
        """The KRaft CONTROLLER listener port."""
        if self._controller_port is None:
            self._controller_port = _proc.free_port()
        return self._controller_port

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for Kafka clients."""
        return f"{self.host}:{self.port}"

    @property
    def home(self) -> Path:
        """``deploy/kafka``: holds ``lib/`` and ``log4j2.xml``."""
        if self._home is None:
            self._home = paths.kafka_home()
        return self._home

    @property
    def config_file(self) -> Path:
        """The generated ``server.properties``."""
        return self.dir / "server.properties"

    @property
    def log_file(self) -> Path:
        """WARN+ log written by log4j2 (stdout/stderr of the JVM go to ``stdout.log``)."""
        return self.dir / "kafka.log"

    def env(self) -> dict[str, str]:
        """``KAFKA_BOOTSTRAP_SERVERS``."""
        return {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers}

    # -- lifecycle -------------------------------------------------------------------

    def _start(self) -> None:
        """Write server.properties, format the storage, launch ``kafka.Kafka`` and wait."""
        self.config_file.write_text(self.server_properties())
        self._format_storage()
        proc = _proc.spawn(
            [*self._java_cmd(), "kafka.Kafka", str(self.config_file)],
            log_path=self.dir / "stdout.log",
            cwd=self.dir,
        )
        self._record(proc.pid, proc)
        _proc.wait_until(
            lambda: _kafka_probe.broker_ready(self.host, self.port, NODE_ID),
            timeout=self.ready_timeout,
            what=f"kafka on {self.bootstrap_servers}",
            interval=0.1,
            abort=self._abort_reason,
        )

    def server_properties(self) -> str:
        """The broker configuration: one KRaft node with a static single-voter quorum."""
        settings = {
            "process.roles": "broker,controller",
            "node.id": str(NODE_ID),
            # Static quorum: simplest for one node, and formatting needs no --standalone.
            "controller.quorum.voters": f"{NODE_ID}@{self.host}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.dir / "data"),
            # One node: every internal topic must live with a single replica.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Fewer internal partitions: creating 50 of each on first use costs seconds in tests.
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.num.partitions": "4",
            # Consumers in tests should not wait 3s for more members to join.
            "group.initial.rebalance.delay.ms": "0",
            "num.partitions": "1",
            # The services create their topics explicitly; a typo must fail, not auto-create.
            "auto.create.topics.enable": "false",
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _format_storage(self) -> None:
        """Write meta.properties + bootstrap checkpoint for a fresh cluster.

        Kafka 4.1: with ``controller.quorum.voters`` (static quorum) ``format`` must NOT get
        ``--standalone``/``--initial-controllers``; those are only for dynamic quorums
        configured with ``controller.quorum.bootstrap.servers``.
        """
        _proc.run(
            [
                *self._java_cmd(),
                "kafka.tools.StorageTool",
                "format",
                "--cluster-id",
                random_cluster_id(),
                "--config",
                str(self.config_file),
                "--ignore-formatted",
            ],
            log_path=self.dir / "format.log",
            cwd=self.dir,
        )

    def _java_cmd(self) -> list[str]:
        """``java <opts> -cp lib/*`` with log4j2 writing into this component's folder."""
        lib = self.home / "lib"
        if not any(lib.glob("kafka_*.jar")):
            raise FileNotFoundError(f"no Kafka jars in {lib}: run connect_devstack.ensure_kafka_jars()")
        return [
            self._java_binary(),
            *self.jvm_opts,
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.xml'}",
            f"-Dkafka.logs.dir={self.dir}",
            "-cp",
            str(lib / "*"),  # expanded by java itself, no shell involved
        ]

    def _java_binary(self) -> str:
        """``java`` from $JAVA_HOME, else from $PATH."""
        if self._java:
            return self._java
        java_home = os.environ.get("JAVA_HOME")
        if java_home and (Path(java_home) / "bin" / "java").exists():
            return str(Path(java_home) / "bin" / "java")
        found = shutil.which("java")
        if found is None:
            raise FileNotFoundError("java not found: install a JDK 17+ or set JAVA_HOME")
        return found
