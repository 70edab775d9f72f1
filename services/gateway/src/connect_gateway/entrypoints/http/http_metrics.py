"""HTTP latency by route (issue 10): every request's duration, by method, route template (`/api/v1/jobs/{job_id}`,
never the path itself, so job ids and file names do not become labels) and status."""

from __future__ import annotations

import time

from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_LATENCY = Histogram(
    "connect_http_request_duration_seconds",
    "Gateway requests, by method, route template and status",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
UNMATCHED = "unmatched"  # a path no route serves (404), under one label


class HttpMetrics:
    """ASGI middleware timing each HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what a request that raised before answering counts as
        began = time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            HTTP_LATENCY.labels(scope["method"], route, str(status)).observe(time.perf_counter() - began)
