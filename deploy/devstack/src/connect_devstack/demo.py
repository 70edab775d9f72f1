"""The demo `make up` seeds: a CSV on the SFTP peer, a custom table and an active import job."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

DEMO_TABLE = "demo_contacts"
DEMO_JOB = "Demo contacts import"
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


def call(base_url: str, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """One JSON request; returns (status, decoded body)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{base_url}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def seed(base_url: str, *, host: str, port: int, user: str, private_key: str, data_dir: Path) -> int:
    """Create the demo table and job (once); returns the job id."""
    path = write_demo_file(data_dir)
    status, body = call(base_url, "POST", "/api/v1/tables", table_body())
    if status not in (200, 201, 409):
        raise RuntimeError(f"defining the demo table failed: {status} {body}")
    _, jobs = call(base_url, "GET", "/api/v1/jobs?q=" + urllib.parse.quote(DEMO_JOB))
    for job in jobs or []:
        if job.get("name") == DEMO_JOB:
            return int(job["job_id"])
    job = job_body(host=host, port=port, user=user, private_key=private_key, path=path)
    status, body = call(base_url, "POST", "/api/v1/jobs", job)
    if status != 201:
        raise RuntimeError(f"creating the demo job failed: {status} {body}")
    return int(body["job_id"])
