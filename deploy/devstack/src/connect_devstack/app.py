"""`make up` / `make down`: the infrastructure, Connect's four services, the first admin and the demo, on loopback.

The admin's password and the demo API token are kept in the state dir (git-ignored, mode 0600) and reused by
the next `make up`: the password is made once, the token again only when the gateway no longer accepts it.
"""

from __future__ import annotations

import base64
import os
import secrets
import time
import urllib.parse
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from connect_devstack import _proc, demo, prometheus, services, stack

VAULT_KEY_FILE = "vault.key"
DEFAULT_GATEWAY_PORT = 8080
ADMIN = "admin"
ADMIN_PASSWORD_FILE = "admin.password"
DEMO_TOKEN_FILE = "demo.token"
DEMO_TOKEN_NAME = "make up demo"
DEMO_TOKEN_DAYS = 30


class Access(NamedTuple):
    """How the user of `make up` gets in: the admin's password and an API token of the admin."""

    password: str
    token: str


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
    if (key := read_secret(path)) is None:
        key = base64.urlsafe_b64encode(os.urandom(32)).decode()
        write_secret(path, key)
    return key


def read_secret(path: Path) -> str | None:
    """The secret kept in `path`; None when the file is missing or blank."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text or None


def write_secret(path: Path, secret: str) -> None:
    """Write `secret` as one line readable by its owner only (0600 from creation on, never wider meanwhile)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secret + "\n")


def generate_password(username: str) -> str:
    """24 random URL-safe characters that pass the gateway's password rule for `username`."""
    while True:
        password = secrets.token_urlsafe(18)
        if username.lower() not in password.lower() and len(set(password)) >= 4:
            return password


def admin_password(state_dir: Path) -> tuple[str, bool]:
    """The admin's password, made once per state dir; True when it was (re)made just now."""
    path = state_dir / ADMIN_PASSWORD_FILE
    if (password := read_secret(path)) is not None:
        return password, False
    password = generate_password(ADMIN)
    write_secret(path, password)
    return password, True


def ensure_admin(state_dir: Path, env: Mapping[str, str]) -> str:
    """Create the admin with the state dir's password (a new password is also set on an existing admin)."""
    password, fresh = admin_password(state_dir)
    try:
        services.create_admin(env, ADMIN, state_dir / ADMIN_PASSWORD_FILE, reset=fresh)
    except RuntimeError:
        if fresh:  # never set: the next `make up` makes another and sets it, instead of trusting this one
            (state_dir / ADMIN_PASSWORD_FILE).unlink(missing_ok=True)
        raise
    return password


def demo_token(state_dir: Path, base_url: str, password: str) -> str:
    """The kept demo API token while the gateway accepts it; else a new one, issued after logging in."""
    path = state_dir / DEMO_TOKEN_FILE
    token = read_secret(path)
    if token is not None and demo.token_valid(base_url, token):
        return token
    try:
        session = demo.login(base_url, ADMIN, password)
    except RuntimeError as exc:
        hint = f"delete {state_dir / ADMIN_PASSWORD_FILE} and run make up again to give {ADMIN} a new password"
        raise RuntimeError(f"{exc}; {hint}") from exc
    expires_at = datetime.now(UTC) + timedelta(days=DEMO_TOKEN_DAYS)
    token = demo.issue_token(base_url, session, DEMO_TOKEN_NAME, expires_at)
    demo.logout(base_url, session)
    write_secret(path, token)
    return token


def gateway_port(environ: Mapping[str, str]) -> int:
    """`GATEWAY_PORT`, else the usual 8080 when it is free, else any free port."""
    if "GATEWAY_PORT" in environ:
        return int(environ["GATEWAY_PORT"])
    return DEFAULT_GATEWAY_PORT if not _proc.port_open(DEFAULT_GATEWAY_PORT) else _proc.free_port()


def up(state_dir: Path, environ: Mapping[str, str], observe: bool = False) -> str:
    """Start everything detached (with `observe`, Prometheus too), seed the demo, and return what to tell the
    user."""
    began = time.monotonic()
    stop(state_dir)
    infra = stack.Stack(state_dir, stack.ALL, environ=environ, cleanup_at_exit=False).start()
    env = services.service_env(
        infra, gateway_port=gateway_port(environ), vault_key=vault_key(state_dir), state_dir=state_dir
    )
    apps = services.Services(state_dir, env)
    apps.start()
    password = ensure_admin(state_dir, env)
    access = Access(password, demo_token(state_dir, apps.gateway_url, password))
    host, port, user, data_dir, key = sftp_parts(infra["SFTP_TEST_URL"])
    job_ids = demo.seed(
        apps.gateway_url, access.token, host=host, port=port, user=user, private_key=key.read_text(), data_dir=data_dir
    )
    sftp = f"127.0.0.1:{env['GATEWAY_SFTP_PORT']}"
    banner = _banner(apps.gateway_url, sftp, state_dir, access, job_ids, data_dir, time.monotonic() - began)
    if observe:
        url = prometheus.Prometheus(state_dir).start(env)
        banner += f"Prometheus {url} scrapes every service; alert rules from deploy/prometheus/rules.yml\n"
    return banner


def stop(state_dir: Path) -> None:
    """Stop the services, then the infrastructure, recorded in `state_dir`."""
    prometheus.Prometheus(state_dir).stop()
    services.stop_recorded(state_dir)
    stack.down(state_dir)


def _shown(path: Path) -> Path:
    """`path` relative to the current directory when it is below it (shorter in the banner)."""
    return path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path


def _banner(
    url: str, sftp: str, state_dir: Path, access: Access, job_ids: tuple[int, int], data_dir: Path, seconds: float
) -> str:
    state = _shown(state_dir)
    job_id, export_id = job_ids
    return f"""
Connect is up ({seconds:.1f}s).
  Address       {url}  (the API under {url}/api/v1)
  OpenAPI docs  {url}/docs
  Login         {ADMIN} / {access.password}  (password kept in {state / ADMIN_PASSWORD_FILE})
  API token     {access.token}  ({ADMIN}'s, {DEMO_TOKEN_DAYS} days; kept in {state / DEMO_TOKEN_FILE})
  Hosted SFTP   {sftp}  (log in as a Connect user with a key registered at {url}/api/v1/ssh-keys;
                the same files at {url}/api/v1/files)
  Logs          {state / "services"}/*.log

Every API call sends the token as `Authorization: Bearer <token>`.
The demo job {job_id} merges {data_dir}/upload/demo_contacts.csv into table demo_contacts, and job {export_id}
writes the table to download/ of the hosted file server. Run the first:
  export CONNECT_TOKEN={access.token}
  curl -s -H "Authorization: Bearer $CONNECT_TOKEN" -X POST {url}/api/v1/jobs/{job_id}/run
  curl -s -H "Authorization: Bearer $CONNECT_TOKEN" "{url}/api/v1/runs?job_id={job_id}"
Scripts written for the Responsys Connect API log in at {url}/rest/api/v1.3/auth/token; try both jobs with one:
  RESPONSYS_LOGIN_URL={url} RESPONSYS_USER={ADMIN} RESPONSYS_PASSWORD='{access.password}' \\
    python3 tests/scripts/responsys_connect_jobs.py {job_id} {export_id}
Stop everything with: make down
"""
