"""A few minutes of mixed work for a local stack, so its dashboards have something to show: imports of several
sizes through the hosted file server (some rows rejected), and a job whose file never arrives (it fails).

    CONNECT_URL=http://127.0.0.1:8080 CONNECT_TOKEN=$(cat .devstack/demo.token) \\
        .venv/bin/python deploy/prometheus/workload.py --minutes 10
"""

from __future__ import annotations

import argparse
import os
import random
import time
from uuid import uuid4

import httpx

TABLE = {
    "columns": [
        {"name": "ID", "type": "text", "max_length": 20},
        {"name": "EMAIL", "type": "text", "max_length": 100},
        {"name": "POINTS", "type": "integer"},
    ],
    "primary_key": ["ID"],
}


def csv_rows(count: int, bad_every: int) -> bytes:
    lines = ["id,email,points"]
    for i in range(count):
        points = "many" if bad_every and i % bad_every == 0 else str(i % 1000)
        lines.append(f"W{i},w{i}@example.com,{points}")
    return ("\n".join(lines) + "\n").encode()


def job(name: str, table: str, path: str) -> dict[str, object]:
    return {
        "name": name,
        "type": "import_custom_table",
        "source": {"kind": "hosted", "path": path},
        "file": {"delimiter": ",", "qualifier": '"', "header": True, "encoding": "utf-8"},
        "target": {"table": table, "write_mode": "merge"},
        "mapping": [
            {"source": "id", "target": "ID"},
            {"source": "email", "target": "EMAIL"},
            {"source": "points", "target": "POINTS"},
        ],
        "activate": True,
    }


def visible(api: httpx.Client, path: str) -> None:
    for _ in range(100):
        if api.get(path).status_code == 200:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{path} did not show")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    headers = {"Authorization": f"Bearer {os.environ['CONNECT_TOKEN']}"}
    url = os.environ.get("CONNECT_URL", "http://127.0.0.1:8080")
    tag = uuid4().hex[:6]
    with httpx.Client(base_url=url, headers=headers, timeout=30) as api:
        table = f"workload_{tag}"
        api.post("/api/v1/tables", json={"name": table, **TABLE}).raise_for_status()
        visible(api, f"/api/v1/tables/{table}")
        jobs: list[int] = []
        files: dict[int, tuple[str, bytes]] = {}  # a hosted import archives the file it read: put it back each time
        for size, bad in ((1_000, 0), (20_000, 500), (100_000, 0)):
            path = f"upload/workload_{tag}_{size}.csv"
            content = csv_rows(size, bad)
            made = api.post("/api/v1/jobs", json=job(f"Workload {size} rows {tag}", table, path))
            if made.status_code != 201:
                raise SystemExit(f"job refused: {made.text}")
            jobs.append(made.json()["job_id"])
            files[jobs[-1]] = (path, content)
        missing = api.post("/api/v1/jobs", json=job(f"Workload missing file {tag}", table, f"upload/none_{tag}.csv"))
        missing.raise_for_status()
        jobs.append(missing.json()["job_id"])
        for job_id in jobs:
            visible(api, f"/api/v1/jobs/{job_id}")
        until = time.monotonic() + args.minutes * 60
        started = 0
        while time.monotonic() < until:
            job_id = random.choice(jobs)
            if job_id in files:
                path, content = files[job_id]
                api.put(f"/api/v1/files/{path}", content=content).raise_for_status()
            answer = api.post(f"/api/v1/jobs/{job_id}/run")
            started += answer.status_code == 202  # a job still running is refused (409): pick another next time
            api.get("/api/v1/runs", params={"limit": 20})
            time.sleep(random.uniform(0.5, 3.0))
        print(f"{started} runs requested over {args.minutes:g} minutes on jobs {jobs}")


if __name__ == "__main__":
    main()
