"""Connect's own four services and the catalog's stream-statistics worker as child processes, for `make up` and
the end-to-end tests.

Each service runs as `python -m connect_<name>` (the statistics worker as `python -m connect_catalog.stats`) in its
own process group, logs to
`<state>/services/<name>.log` and records its pid in `<state>/services/<name>.pid`, so `down` works from
another process and a test can SIGKILL one service and start it again.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from connect_devstack import _proc

log = logging.getLogger(__name__)

SERVICES: tuple[str, ...] = ("scheduler", "catalog", "stats", "runner", "gateway")
MODULES = {"stats": "connect_catalog.stats"}  # the others are `connect_<name>`
READY_TIMEOUT_S = 60.0
CREATE_ADMIN_LOG = "create-admin.log"


class Service:
    """One Connect service process."""

    def __init__(self, name: str, state_dir: Path, env: Mapping[str, str]) -> None:
        self.name = name
        self.dir = state_dir / "services"
        self.env = dict(env)
        # Kept so that stopping reaps the child we started instead of leaving a zombie.
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid_file(self) -> Path:
        """Where the pid is recorded."""
        return self.dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        """Where the service's JSON log goes."""
        return self.dir / f"{self.name}.log"

    @property
    def pid(self) -> int | None:
        """The recorded pid, if any."""
        return _proc.read_pid(self.pid_file)

    def start(self) -> None:
        """Start the service (it creates its database, tables and topics itself)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        proc = _proc.spawn(
            [sys.executable, "-m", MODULES.get(self.name, f"connect_{self.name}")],
            log_path=self.log_file,
            cwd=self.dir,
            env={**os.environ, **self.env},
        )
        self._proc = proc
        self.pid_file.write_text(f"{proc.pid}\n")

    def running(self) -> bool:
        """Whether the recorded process is alive."""
        pid = self.pid
        return pid is not None and _proc.pid_alive(pid)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to the service's process group (SIGKILL: a crash, for failure tests)."""
        pid = self.pid
        if pid is not None:
            _proc.terminate(pid, timeout=5.0, sig=sig, proc=self._own(pid))
            self.pid_file.unlink(missing_ok=True)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (the service drains), SIGKILL after `timeout`."""
        pid = self.pid
        if pid is not None:
            _proc.terminate(pid, timeout=timeout, proc=self._own(pid))
        self.pid_file.unlink(missing_ok=True)

    def _own(self, pid: int) -> subprocess.Popen[bytes] | None:
        """Our Popen for `pid` when this object started it (another process may have, for `make down`)."""
        return self._proc if self._proc is not None and self._proc.pid == pid else None


class Services:
    """The services sharing one environment."""

    def __init__(self, state_dir: Path, env: Mapping[str, str]) -> None:
        self.state_dir = state_dir
        self.env = dict(env)
        self.by_name = {name: Service(name, state_dir, env) for name in SERVICES}

    def __getitem__(self, name: str) -> Service:
        return self.by_name[name]

    def start(self) -> None:
        """Start them all and wait until the gateway answers ready."""
        for service in self.by_name.values():
            service.start()
        wait_ready(self.gateway_url)

    def stop(self) -> None:
        """Stop them all (gateway first, so no new commands arrive while the others drain)."""
        for name in reversed(SERVICES):
            self.by_name[name].stop()

    @property
    def gateway_url(self) -> str:
        """Base URL of the gateway."""
        return gateway_url(self.env)


def gateway_url(env: Mapping[str, str]) -> str:
    """`http://host:port` of the gateway configured in `env`."""
    return f"http://{env.get('GATEWAY_HOST', '127.0.0.1')}:{env.get('GATEWAY_PORT', '8080')}"


def wait_ready(base_url: str, timeout: float = READY_TIMEOUT_S) -> None:
    """Block until `GET /readyz` answers 200."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base_url}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.2)
    raise RuntimeError(f"gateway at {base_url} not ready after {timeout:.0f}s: {last}")


def create_admin_argv(username: str, password_file: Path, *, reset: bool) -> list[str]:
    """`python -m connect_gateway create-admin` reading the password from `password_file` (never from argv)."""
    argv = [sys.executable, "-m", "connect_gateway", "create-admin", "--username", username]
    return [*argv, "--password-file", str(password_file), *(["--reset-password"] if reset else [])]


def create_admin(env: Mapping[str, str], username: str, password_file: Path, *, reset: bool) -> None:
    """Create the admin `username` (or with `reset` give it the file's password) with the services' env.

    Its output goes to `create-admin.log` beside the password file (it never holds the password: that comes
    from the file); a failure raises with the log's tail.
    """
    argv = create_admin_argv(username, password_file, reset=reset)
    _proc.run(argv, log_path=password_file.parent / CREATE_ADMIN_LOG, env={**os.environ, **env})


def stop_recorded(state_dir: Path) -> None:
    """Stop services recorded in `state_dir` by another process (`make down`)."""
    for name in reversed(SERVICES):
        Service(name, state_dir, {}).stop()


def service_env(
    infra: Mapping[str, str], *, gateway_port: int, vault_key: str, state_dir: Path | None = None
) -> dict[str, str]:
    """The environment the services need, from the infra env (devstack's env file); with `state_dir`, the
    hosted file server too (its tree and host key kept there)."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": infra["KAFKA_BOOTSTRAP_SERVERS"],
        "DATABASE_URL": infra["DATABASE_URL"],
        "CONNECT_VAULT_KEY": vault_key,
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(gateway_port),
        "LOG_LEVEL": infra.get("LOG_LEVEL", "INFO"),
        # The services' operations endpoints (`/metrics`, `/healthz`, `/readyz`) on loopback ports of their own.
        "CATALOG_METRICS_PORT": str(_proc.free_port()),
        "RUNNER_METRICS_PORT": str(_proc.free_port()),
        "SCHEDULER_METRICS_PORT": str(_proc.free_port()),
        "STATS_METRICS_PORT": str(_proc.free_port()),
        **(hosted_files_env(state_dir) if state_dir is not None else {}),
    }


def hosted_files_env(state_dir: Path) -> dict[str, str]:
    """The hosted file server's tree (shared by the gateway and the runner), SFTP port and host key."""
    return {
        "CONNECT_FILES_ROOT": str(state_dir / "files"),
        "GATEWAY_SFTP_PORT": str(_proc.free_port()),
        "GATEWAY_SFTP_HOST_KEY": str(state_dir / "sftp_host_ed25519_key"),
    }
