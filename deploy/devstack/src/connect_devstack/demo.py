"""The demo `make up` seeds (a CSV on the SFTP peer, a custom table, an active import job and an active export
job of the table to the hosted file server's download/ folder) and the API calls
that get it an API token: log in with a password, issue a token with the session cookie and CSRF header.

Stdlib only (`urllib`), like the rest of devstack.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

# The gateway's names (devstack imports nothing of Connect: it must work before anything else is installed).
SESSION_COOKIE = "connect_session"
CSRF_HEADER = "X-CSRF-Token"
DEMO_TABLE = "demo_contacts"
DEMO_JOB = "Demo contacts import"
DEMO_EXPORT_JOB = "Demo contacts export"
DEMO_ROWS = [
    ("C-1001", "ada@example.com", "Ada", "London", "120", "2024-01-15"),
    ("C-1002", "grace@example.com", "Grace", "New York", "80", "2024-02-01"),
    ("C-1003", "alan@example.com", "Alan", "Manchester", "45", "2024-03-12"),
    ("C-1004", "edsger@example.com", "Edsger", "Rotterdam", "300", "2024-04-30"),
    ("C-1005", "barbara@example.com", "Barbara", "Boston", "not-a-number", "2024-05-05"),
    ("C-1006", "donald@example.com", "Donald", "Stanford", "999", "2024-06-18"),
]


def write_demo_file(data_dir: Path) -> Path:
    """Write the demo CSV into `<data_dir>/upload/` and return its path (one row is deliberately bad)."""
    upload = data_dir / "upload"
    upload.mkdir(parents=True, exist_ok=True)
    path = upload / "demo_contacts.csv"
    lines = ["customer_id,email,first_name,city,points,joined"] + [",".join(r) for r in DEMO_ROWS]
    path.write_text("\n".join(lines) + "\n")
    return path


def table_body() -> dict[str, Any]:
    """The demo table definition."""
    return {
        "name": DEMO_TABLE,
        "columns": [
            {"name": "CUSTOMER_ID", "type": "text", "max_length": 64},
            {"name": "EMAIL", "type": "text", "max_length": 255},
            {"name": "FIRST_NAME", "type": "text", "max_length": 100},
            {"name": "CITY", "type": "text", "max_length": 100},
            {"name": "POINTS", "type": "integer"},
            {"name": "JOINED", "type": "date"},
        ],
        "primary_key": ["CUSTOMER_ID"],
    }


def job_body(*, host: str, port: int, user: str, private_key: str, path: Path) -> dict[str, Any]:
    """The demo import job: merge the CSV into the demo table."""
    columns = ["customer_id", "email", "first_name", "city", "points", "joined"]
    return {
        "name": DEMO_JOB,
        "description": "Seeded by make up: merges upload/demo_contacts.csv into demo_contacts",
        "type": "import_custom_table",
        "source": {"host": host, "port": port, "user": user, "path": str(path), "private_key": private_key},
        "file": {"delimiter": ",", "qualifier": '"', "header": True, "encoding": "utf-8"},
        "target": {"table": DEMO_TABLE, "write_mode": "merge"},
        "mapping": [{"source": c, "target": c.upper()} for c in columns],
        "activate": True,
    }


def call(
    base_url: str, method: str, path: str, body: dict[str, Any] | None = None, headers: Mapping[str, str] | None = None
) -> tuple[int, Any]:
    """One JSON request; returns (status, decoded body)."""
    status, decoded, _ = _send(base_url, method, path, body, headers)
    return status, decoded


def _send(
    base_url: str, method: str, path: str, body: dict[str, Any] | None, headers: Mapping[str, str] | None
) -> tuple[int, Any, Message]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{base_url}{path}", data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"null"), answer.headers
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null"), exc.headers


def bearer(token: str) -> dict[str, str]:
    """The header an API token is sent in."""
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Session:
    """A login: the session cookie and the CSRF token every change made with it must send."""

    cookie: str
    csrf_token: str

    def headers(self) -> dict[str, str]:
        """The headers of a change made with this session."""
        return {"Cookie": f"{SESSION_COOKIE}={self.cookie}", CSRF_HEADER: self.csrf_token}


def login(base_url: str, username: str, password: str) -> Session:
    """Log in with a password (`POST /api/v1/auth/login`)."""
    body = {"username": username, "password": password}
    status, answer, headers = _send(base_url, "POST", "/api/v1/auth/login", body, None)
    if status != 200:
        raise RuntimeError(f"logging in as {username} failed: {status} {answer}")
    cookies = SimpleCookie()
    for line in headers.get_all("Set-Cookie") or []:
        cookies.load(line)
    if SESSION_COOKIE not in cookies:
        raise RuntimeError(f"logging in as {username} set no {SESSION_COOKIE} cookie")
    return Session(cookies[SESSION_COOKIE].value, str(answer["csrf_token"]))


def logout(base_url: str, session: Session) -> None:
    """End a session (best effort: it expires by itself anyway)."""
    call(base_url, "POST", "/api/v1/auth/logout", None, session.headers())


def issue_token(base_url: str, session: Session, name: str, expires_at: datetime | None = None) -> str:
    """Issue an API token to the logged-in user (`POST /api/v1/tokens`); its secret, shown only now.

    Without `expires_at` the gateway's default life applies.
    """
    body = {"name": name} if expires_at is None else {"name": name, "expires_at": expires_at.isoformat()}
    status, answer = call(base_url, "POST", "/api/v1/tokens", body, session.headers())
    if status != 201:
        raise RuntimeError(f"issuing the API token {name!r} failed: {status} {answer}")
    return str(answer["token"])


def token_valid(base_url: str, token: str) -> bool:
    """Whether the gateway accepts `token` (`GET /api/v1/auth/session` answers 200)."""
    status, _ = call(base_url, "GET", "/api/v1/auth/session", None, bearer(token))
    return status == 200


def export_job_body() -> dict[str, Any]:
    """The demo export job: the demo table as a CSV in the hosted file server's download/ folder."""
    return {
        "name": DEMO_EXPORT_JOB,
        "description": "Seeded by make up: writes table demo_contacts to download/demo_contacts_<date>.csv",
        "type": "export_file",
        "source": {"kind": "table", "table": DEMO_TABLE},
        "destination": {"kind": "hosted", "path": "download/demo_contacts_%YYYY%%MM%%DD%.csv"},
        "activate": True,
    }


def seed(
    base_url: str, token: str, *, host: str, port: int, user: str, private_key: str, data_dir: Path
) -> tuple[int, int]:
    """Create the demo table and jobs (once) with the API token `token`; returns the import and export job ids."""
    path = write_demo_file(data_dir)
    auth = bearer(token)
    status, body = call(base_url, "POST", "/api/v1/tables", table_body(), auth)
    if status not in (200, 201, 409):
        raise RuntimeError(f"defining the demo table failed: {status} {body}")
    imports = job_body(host=host, port=port, user=user, private_key=private_key, path=path)
    return _job(base_url, auth, imports), _job(base_url, auth, export_job_body())


def _job(base_url: str, auth: Mapping[str, str], body: dict[str, Any]) -> int:
    """The id of the job named as `body` names it: the existing one, else one created from `body`."""
    _, jobs = call(base_url, "GET", "/api/v1/jobs?q=" + urllib.parse.quote(body["name"]), None, auth)
    for job in jobs or []:
        if job.get("name") == body["name"]:
            return int(job["job_id"])
    status, created = call(base_url, "POST", "/api/v1/jobs", body, auth)
    if status != 201:
        raise RuntimeError(f"creating the demo job {body['name']!r} failed: {status} {created}")
    return int(created["job_id"])
