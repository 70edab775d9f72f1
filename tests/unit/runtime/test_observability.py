"""The operations endpoint every service serves (`connect_runtime.observability`): metrics in Prometheus' text
format, liveness, and readiness that names the checks that failed (by class, never by message)."""

from __future__ import annotations

import httpx
from prometheus_client import CollectorRegistry, Counter

from connect_runtime.observability import OperationsApp, readiness


async def ok() -> None:
    return None


async def refused() -> None:
    raise ConnectionRefusedError("password=hunter2 at 10.0.0.1")


def client(app: OperationsApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ops")


async def test_metrics_liveness_and_readiness_are_served() -> None:
    registry = CollectorRegistry()
    Counter("connect_things_total", "Things", ["kind"], registry=registry).labels("a").inc(3)
    async with client(OperationsApp({"postgres": ok, "kafka": ok}, registry)) as ops:
        metrics = await ops.get("/metrics")
        assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
        assert 'connect_things_total{kind="a"} 3.0' in metrics.text
        assert (await ops.get("/healthz")).json() == {"status": "ok"}
        ready = await ops.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ok", "checks": {"postgres": "ok", "kafka": "ok"}})
        assert (await ops.get("/elsewhere")).status_code == 404
        assert (await ops.post("/metrics")).status_code == 405


async def test_readiness_fails_naming_the_check_without_its_message() -> None:
    async with client(OperationsApp({"postgres": ok, "kafka": refused})) as ops:
        ready = await ops.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "checks": {"postgres": "ok", "kafka": "ConnectionRefusedError"}}
    assert "hunter2" not in ready.text


async def test_a_check_that_hangs_times_out() -> None:
    async def hangs() -> None:
        import asyncio

        await asyncio.Event().wait()

    assert await readiness({"slow": hangs}, timeout_s=0.01) == (False, {"slow": "TimeoutError"})
