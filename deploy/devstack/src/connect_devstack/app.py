"""`make up` / `make down`: the infrastructure, Connect's four services and the demo, on loopback."""

from __future__ import annotations

import base64
import os
import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from connect_devstack import _proc, demo, services, stack

VAULT_KEY_FILE = "vault.key"
DEFAULT_GATEWAY_PORT = 8080


def sftp_parts(url: str) -> tuple[str, int, str, Path, Path]:
    """(host, port, user, data dir, private key path) of an `SFTP_TEST_URL`."""
    parts = urllib.parse.urlsplit(url)
    key = urllib.parse.parse_qs(parts.query)["key"][0]
    return (
        parts.hostname or "127.0.0.1",
        parts.port or 22,
        parts.username or "root",
        Path(parts.path),
        Path(key),
    )


def vault_key(state_dir: Path) -> str:
    """The local vault key, made once per state dir (a Fernet key: 32 random bytes, URL-safe base64)."""
    path = state_dir / VAULT_KEY_FILE
    if not path.exists():
        path.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode())
        path.chmod(0o600)
    return path.read_text().strip()


def gateway_port(environ: Mapping[str, str]) -> int:
    """`GATEWAY_PORT`, else the usual 8080 when it is free, else any free port."""
    if "GATEWAY_PORT" in environ:
        return int(environ["GATEWAY_PORT"])
    return DEFAULT_GATEWAY_PORT if not _proc.port_open(DEFAULT_GATEWAY_PORT) else _proc.free_port()


def up(state_dir: Path, environ: Mapping[str, str]) -> str:
    """Start everything detached, seed the demo, and return what to tell the user."""
    began = time.monotonic()
    stop(state_dir)
    infra = stack.Stack(state_dir, stack.ALL, environ=environ, cleanup_at_exit=False).start()
    env = services.service_env(infra, gateway_port=gateway_port(environ), vault_key=vault_key(state_dir))
    apps = services.Services(state_dir, env)
    apps.start()
    host, port, user, data_dir, key = sftp_parts(infra["SFTP_TEST_URL"])
    job_id = demo.seed(
        apps.gateway_url, host=host, port=port, user=user, private_key=key.read_text(), data_dir=data_dir
    )
    return _banner(apps.gateway_url, job_id, data_dir, time.monotonic() - began)


def stop(state_dir: Path) -> None:
    """Stop the services, then the infrastructure, recorded in `state_dir`."""
    services.stop_recorded(state_dir)
    stack.down(state_dir)


def _banner(url: str, job_id: int, data_dir: Path, seconds: float) -> str:
    return f"""
Connect is up ({seconds:.1f}s).
  API           {url}/api/v1
  OpenAPI docs  {url}/docs
  Login         none yet: the local API is open (user accounts arrive with access control)
  Logs          .devstack/services/*.log

The demo job {job_id} merges {data_dir}/upload/demo_contacts.csv into table demo_contacts. Run it:
  curl -s -X POST {url}/api/v1/jobs/{job_id}/run
  curl -s {url}/api/v1/runs?job_id={job_id}
Stop everything with: make down
"""
