"""A service's operations endpoint (spec §8.4): `/metrics` (Prometheus' text format, from prometheus-client's
registry), `/healthz` (the process answers) and `/readyz` (what it depends on answers: its PostgreSQL and Kafka),
served by uvicorn on a port of its own. The gateway serves the same paths on its API port.

Readiness runs each check with a time limit and answers 503 naming the checks that failed (by the exception's
class, never its text).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

import asyncpg
import uvicorn
from aiokafka import AIOKafkaProducer
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[None]]
Page = Callable[[], Awaitable[bytes]]  # a JSON document served at a path of its own
CHECK_TIMEOUT_S = 2.0

# Plumbing every service shares (the services' own metrics live with them).
CONSUMER_LAG = Gauge(
    "connect_consumer_lag",
    "Records of a partition its consumer group has not handled yet",
    ["group", "topic", "partition"],
)
OUTBOX_LAG = Histogram(
    "connect_outbox_relay_lag_seconds",
    "From the start of the transaction that wrote an event to its publishing by the outbox relay",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
OUTBOX_PUBLISHED = Counter("connect_outbox_published_total", "Events the outbox relay published")
DEAD_LETTERS = Counter(
    "connect_dead_letters_total", "Records a consumer group gave up on and put on the dead-letter topic", ["group"]
)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def postgres_check(pool: asyncpg.Pool) -> Check:
    """PostgreSQL answers a query on one of the pool's connections."""

    async def check() -> None:
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT 1")

    return check


def kafka_check(producer: AIOKafkaProducer) -> Check:
    """The Kafka cluster answers a metadata request of the service's own producer."""

    async def check() -> None:
        if not await producer.client.fetch_all_metadata():
            raise ConnectionError("no broker answered")

    return check


async def readiness(checks: Mapping[str, Check], timeout_s: float = CHECK_TIMEOUT_S) -> tuple[bool, dict[str, str]]:
    """Each check's result (`ok`, or the failure's class name), and whether all passed."""
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            async with asyncio.timeout(timeout_s):
                await check()
        except Exception as exc:
            log.warning("readiness check failed", extra={"check": name, "error": type(exc).__name__})
            results[name] = type(exc).__name__
        else:
            results[name] = "ok"
    return all(value == "ok" for value in results.values()), results


class OperationsApp:
    """The ASGI application of `/metrics`, `/healthz`, `/readyz` and a service's own JSON `pages`."""

    def __init__(
        self,
        checks: Mapping[str, Check],
        registry: CollectorRegistry = REGISTRY,
        pages: Mapping[str, Page] | None = None,
    ) -> None:
        self._checks = checks
        self._registry = registry
        self._pages = dict(pages or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if method not in ("GET", "HEAD"):
            await _answer(send, 405, b'{"status": "method not allowed"}', "application/json")
        elif path == "/metrics":
            await _answer(send, 200, generate_latest(self._registry), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            await _answer(send, 200, b'{"status": "ok"}', "application/json")
        elif path == "/readyz":
            ready, checks = await readiness(self._checks)
            body = {"status": "ok" if ready else "unavailable", "checks": checks}
            await _answer(send, 200 if ready else 503, json.dumps(body).encode(), "application/json")
        elif path in self._pages:
            await _answer(send, 200, await self._pages[path](), "application/json")
        else:
            await _answer(send, 404, b'{"status": "not found"}', "application/json")


async def _answer(send: Send, status: int, body: bytes, content_type: str) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Server(uvicorn.Server):
    """uvicorn without signal handlers of its own: the service's (`lifecycle.run_until_stopped`) stop it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class OperationsServer:
    """`OperationsApp` on `host:port` until `stop`; without a port it serves nothing (and `run` still lasts until
    `stop`, as the service's other tasks do)."""

    def __init__(
        self,
        port: int | None,
        checks: Mapping[str, Check],
        host: str = "0.0.0.0",
        pages: Mapping[str, Page] | None = None,
    ) -> None:
        config = uvicorn.Config(
            OperationsApp(checks, pages=pages),
            host=host,
            port=port or 0,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        self._server = _Server(config) if port else None
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        """Serve until `stop`."""
        if self._server is None:
            await self._stopping.wait()
            return
        await self._server.serve()

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.should_exit = True
