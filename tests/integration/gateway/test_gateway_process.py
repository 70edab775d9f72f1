"""`python -m connect_gateway` as a process: bootstrap on real infrastructure, ready, SIGTERM drains."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx
import pytest

from connect_gateway.domain.limits import MAX_BODY_BYTES
from tests.integration.gateway.gateway_it import free_port, gateway_env, wait_ready

pytestmark = pytest.mark.integration


def test_serves_until_sigterm(kafka_bootstrap: str, database_url: str) -> None:
    port = free_port()
    env = gateway_env(kafka_bootstrap, database_url, port)
    process = subprocess.Popen(
        [sys.executable, "-m", "connect_gateway"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        ready = wait_ready(f"http://127.0.0.1:{port}", process)
        assert ready.json()["checks"] == {"catalog": "ok", "vault": "ok", "identity": "ok", "replies": "ok"}
        docs = httpx.get(f"http://127.0.0.1:{port}/openapi.json")
        assert "/api/v1/jobs" in docs.json()["paths"]
        huge = httpx.post(f"http://127.0.0.1:{port}/api/v1/jobs", content=b" " * (MAX_BODY_BYTES + 1))
        assert (huge.status_code, huge.json()["code"]) == (413, "payload_too_large")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    logs = stderr.decode()
    assert process.returncode == 0, logs
    assert '"level": "INFO"' in logs and "reply listener ready" in logs
    assert "Traceback" not in logs


def test_exits_non_zero_when_it_cannot_start(database_url: str) -> None:
    env = gateway_env(f"127.0.0.1:{free_port()}", database_url, free_port())  # no broker listens there
    result = subprocess.run(
        [sys.executable, "-m", "connect_gateway"], env=env, capture_output=True, timeout=120, check=False
    )
    assert result.returncode == 3, result.stderr.decode()
