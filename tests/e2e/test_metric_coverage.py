"""Every metric the Grafana dashboard and the alert rules use is exported by the running services, and a real
Prometheus (Debian's, as `make up OBS=1` starts it) scrapes them all, sees a run end and evaluates every rule
without an error."""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from connect_devstack import paths
from connect_devstack.prometheus import TARGET_PORTS, Prometheus
from connect_devstack.services import Services
from tests.conftest import SftpServer
from tests.e2e.helpers import create, job_body, table_body, wait_for_run, write_csv

pytestmark = pytest.mark.e2e

ROOT = paths.repo_root()
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "connect.json"
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
NAME = re.compile(r"\b(connect_[a-z_]+|up)\b")
SERIES_SUFFIXES = ("_bucket", "_sum", "_count")


def expressions() -> Iterator[str]:
    """Every PromQL expression of the dashboard (its panels' targets, its variables) and of the alert rules."""

    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("expr", "query") and isinstance(value, str):  # panel targets, variables
                    yield value
                else:
                    yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    yield from walk(json.loads(DASHBOARD.read_text()))
    yield from walk(yaml.safe_load(RULES.read_text()))


def used_metrics() -> set[str]:
    """The metric names those expressions read, without a histogram's series suffix."""
    used: set[str] = set()
    for expr in expressions():
        for found in NAME.findall(expr):
            suffix = next((s for s in SERIES_SUFFIXES if found.endswith(s)), "")
            used.add(found.removesuffix(suffix) if suffix else found)
    return used


def exported(text: str) -> set[str]:
    """The metric names a `/metrics` answer declares (`# TYPE`), counters also under their `_total` name."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            names.add(name)
            if kind == "counter":
                names.add(f"{name}_total")
    return names


def targets(services: Services) -> dict[str, str]:
    return {job: f"http://127.0.0.1:{services.env[var]}/metrics" for job, var in TARGET_PORTS.items()}


def test_the_dashboard_and_the_rules_read_metrics() -> None:
    used = used_metrics()
    assert len(used) >= 15, used  # the expressions were found: a broken walk would pass the next test vacuously
    assert "connect_runs_finished_total" in used and "up" in used


async def test_every_metric_the_dashboard_and_rules_use_is_exported(services: Services) -> None:
    found: set[str] = {"up"}  # Prometheus' own, for every target
    async with httpx.AsyncClient(timeout=10) as client:
        for job, url in targets(services).items():
            answer = await client.get(url)
            assert answer.status_code == 200, f"{job}: {answer.status_code}"
            found |= exported(answer.text)
    assert sorted(used_metrics() - found) == []


@pytest.fixture
def prometheus(services: Services) -> Iterator[str]:
    state = Path(tempfile.mkdtemp(prefix="connect-prometheus-"))
    server = Prometheus(state)
    try:
        yield server.start(services.env)
    finally:
        server.stop()


async def query(client: httpx.AsyncClient, expr: str) -> list[dict[str, Any]]:
    answer = await client.get("/api/v1/query", params={"query": expr})
    assert answer.status_code == 200, answer.text
    result: list[dict[str, Any]] = answer.json()["data"]["result"]
    return result


async def eventually(client: httpx.AsyncClient, expr: str, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while not (result := await query(client, expr)):
        assert time.monotonic() < deadline, f"no series for {expr} after {timeout:.0f}s"
        await asyncio.sleep(0.5)
    return result


async def test_a_real_prometheus_scrapes_every_service_and_evaluates_every_rule(
    prometheus: str, api: httpx.AsyncClient, sftp: SftpServer, unique: str
) -> None:
    table = f"observed_{unique}"
    await create(api, "/api/v1/tables", table_body(table))
    path = write_csv(sftp.data_dir / unique / "rows.csv", [("K1", "k1@example.com", "1.00", "1", "2024-01-02")])
    job = await create(api, "/api/v1/jobs", job_body(f"Observed {unique}", table, sftp, path))
    started = (await api.post(f"/api/v1/jobs/{job['job_id']}/run")).json()
    await wait_for_run(api, started["run"], {"succeeded"})

    async with httpx.AsyncClient(base_url=prometheus, timeout=10) as client:
        up = await eventually(client, "up == 1")
        deadline = time.monotonic() + 60
        while {s["metric"]["job"] for s in up} != set(TARGET_PORTS):
            assert time.monotonic() < deadline, f"targets up: {sorted(s['metric']['job'] for s in up)}"
            await asyncio.sleep(0.5)
            up = await query(client, "up == 1")
        finished = await eventually(client, 'connect_runs_finished_total{status="succeeded"} > 0')
        assert {s["metric"]["job_type"] for s in finished} >= {"import_custom_table"}

        alerts = {rule["alert"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]}
        deadline = time.monotonic() + 60
        while True:
            groups = (await client.get("/api/v1/rules")).json()["data"]["groups"]
            loaded = {rule["name"]: rule for group in groups for rule in group["rules"]}
            evaluated = [
                r for r in loaded.values() if not r["lastEvaluation"].startswith("0001-")
            ]  # zero time: not yet
            if set(loaded) == alerts and len(evaluated) == len(alerts):
                break
            assert time.monotonic() < deadline, f"rules loaded {sorted(loaded)}, expected {sorted(alerts)}"
            await asyncio.sleep(0.5)
        assert {name: rule["health"] for name, rule in loaded.items()} == dict.fromkeys(alerts, "ok")
