"""Prometheus beside the services (`make up OBS=1`, and the metric-coverage test): Debian's `prometheus`, a
configuration written for this stack's loopback ports, the alert rules of `deploy/prometheus/rules.yml`, its
data under `<state>/prometheus/`."""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from connect_devstack import _proc, paths

PROMETHEUS = "prometheus"
PROMTOOL = "promtool"
READY_TIMEOUT_S = 60.0
SCRAPE_INTERVAL_S = 2  # a short interval: a local stack's runs last seconds

#: Scrape job name → the environment variable holding its loopback port (the gateway serves on its API port).
TARGET_PORTS: Mapping[str, str] = {
    "gateway": "GATEWAY_PORT",
    "scheduler": "SCHEDULER_METRICS_PORT",
    "runner": "RUNNER_METRICS_PORT",
    "catalog": "CATALOG_METRICS_PORT",
    "stats": "STATS_METRICS_PORT",
}


def rules_file() -> Path:
    """The alert rules every deployment uses (checked by `promtool` in the tests)."""
    return paths.repo_root() / "deploy" / "prometheus" / "rules.yml"


def missing() -> bool:
    """True when Debian's `prometheus` package (server and promtool) is not installed."""
    return shutil.which(PROMETHEUS) is None or shutil.which(PROMTOOL) is None


def config(env: Mapping[str, str], rules: Path) -> str:
    """The configuration scraping every service of `env` on loopback (JSON is YAML too)."""
    jobs = [
        {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{env[var]}"]}]}
        for job, var in TARGET_PORTS.items()
        if var in env
    ]
    body = {
        "global": {"scrape_interval": f"{SCRAPE_INTERVAL_S}s", "evaluation_interval": f"{SCRAPE_INTERVAL_S}s"},
        "rule_files": [str(rules)],
        "scrape_configs": jobs,
    }
    return json.dumps(body, indent=2) + "\n"


class Prometheus:
    """One Prometheus process in `<state>/prometheus/` scraping the services of `env`."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "prometheus"
        self.port: int | None = None

    @property
    def pid_file(self) -> Path:
        return self.dir / "pid"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, env: Mapping[str, str]) -> str:
        """Start it (an earlier one in the same state dir is stopped first); returns its address once ready."""
        self.stop()
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        (self.dir / "prometheus.yml").write_text(config(env, rules_file()))
        self.port = _proc.free_port()
        argv = [
            PROMETHEUS,
            f"--config.file={self.dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
        ]
        proc = _proc.spawn(argv, log_path=self.dir / "prometheus.log", cwd=self.dir)
        self.pid_file.write_text(f"{proc.pid}\n")
        (self.dir / "url").write_text(self.url + "\n")
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self._ready():
            if proc.poll() is not None:
                raise RuntimeError(f"prometheus exited at start; see {self.dir / 'prometheus.log'}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"prometheus not ready in {READY_TIMEOUT_S:.0f}s; see {self.dir / 'prometheus.log'}")
            time.sleep(0.2)
        return self.url

    def stop(self) -> None:
        pid = _proc.read_pid(self.pid_file)
        if pid is not None:
            _proc.terminate(pid, timeout=10.0)
        self.pid_file.unlink(missing_ok=True)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False
