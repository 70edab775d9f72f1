"""Liveness and readiness."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from connect_gateway.entrypoints.http.dependencies import DepsDep
from connect_gateway.entrypoints.http.outcomes import BASIC_RESPONSES
from connect_gateway.entrypoints.http.schemas import HealthOut

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"], responses=BASIC_RESPONSES)
CHECK_TIMEOUT_S = 2.0


@router.get("/healthz")
async def healthz() -> HealthOut:
    """The process answers."""
    return HealthOut(status="ok")


@router.get("/readyz", response_model=HealthOut, responses={503: {"model": HealthOut}})
async def readyz(deps: DepsDep) -> JSONResponse:
    """The catalog, vault and identity databases answer and the reply listener holds its positions."""
    checks = {
        "catalog": await _check(deps.reads.ping),
        "vault": await _check(deps.credentials.ping),
        "identity": await _check(deps.identity.ping),
        "replies": "ok" if deps.commands.ready() else "reply listener not running",
    }
    ok = all(v == "ok" for v in checks.values())
    body = HealthOut(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ok else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text"}},
)
async def metrics() -> Response:
    """The gateway's metrics in Prometheus' text format: HTTP latency by route, method and status, and the
    shared plumbing's."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


async def _check(ping: Callable[[], Awaitable[None]]) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await ping()
    except Exception as exc:
        log.warning("readiness check failed", extra={"error": repr(exc)})
        return type(exc).__name__
    return "ok"
