#!/usr/bin/env python3
"""A script as marketing teams write them against the Responsys REST API v1.3 Connect calls.

Kept here *unchanged*: it knows nothing of Connect. It logs in with a user name and password, lists the
Connect jobs, triggers two of them, polls each run's status until it ends, and prints each run's log. Point
it at Connect by setting the login address to Connect's gateway (after `make up`):

    RESPONSYS_LOGIN_URL=http://127.0.0.1:8080 RESPONSYS_USER=admin RESPONSYS_PASSWORD=... \\
        python3 tests/scripts/responsys_connect_jobs.py 1 2

With no job ids it triggers the first two active jobs it lists. It exits 0 when both runs succeeded, 1 when
one did not, 2 on an API error. Standard library only, as such scripts often are (no client to install).
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

POLL_SECONDS = 2.0
GIVE_UP_AFTER_SECONDS = 600.0


class ApiError(Exception):
    pass


def request(
    method: str, url: str, token: str | None = None, body: Any = None, form: dict[str, str] | None = None
) -> Any:
    headers = {"Accept": "application/json"}
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = token  # the token alone, as the API documents it
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as answer:
            return json.loads(answer.read().decode())
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read().decode())
        except ValueError:
            raise ApiError(f"{method} {url}: HTTP {exc.code}") from None
        raise ApiError(f"{method} {url}: HTTP {exc.code} {error.get('errorCode')}: {error.get('detail')}") from None


def login(login_url: str, user: str, password: str) -> tuple[str, str]:
    form = {"user_name": user, "password": password, "auth_type": "password"}
    answer = request("POST", f"{login_url}/rest/api/v1.3/auth/token", form=form)
    return answer["authToken"], answer["endPoint"]


def when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def main(argv: list[str]) -> int:
    login_url = os.environ["RESPONSYS_LOGIN_URL"].rstrip("/")
    token, endpoint = login(login_url, os.environ["RESPONSYS_USER"], os.environ["RESPONSYS_PASSWORD"])
    api = f"{endpoint}/rest/api/v1.3"
    print(f"logged in; calls go to {endpoint}")

    jobs = request("GET", f"{api}/connectJobs", token)
    print(f"{len(jobs)} Connect jobs:")
    for job in jobs:
        state = "active" if job["active"] else "inactive"
        running = ", running" if job["running"] else ""
        print(f"  {job['jobId']:>6}  {job['jobName']}  [{job['jobType']}, {job['scheduleType']}, {state}{running}]")

    job_ids = [int(a) for a in argv] or [j["jobId"] for j in jobs if j["active"] and not j["running"]][:2]
    if len(job_ids) != 2:
        print("need two jobs to trigger", file=sys.stderr)
        return 2
    runs: dict[int, int] = {}
    for job_id in job_ids:
        started = request("PUT", f"{api}/connectJobs/{job_id}/trigger", token, body={})
        if not started["success"]:
            print(f"job {job_id} did not start: {started['errorMessage']}", file=sys.stderr)
            return 2
        runs[job_id] = started["jobRunId"]
        print(f"triggered job {job_id}: run {started['jobRunId']}")

    deadline = time.monotonic() + GIVE_UP_AFTER_SECONDS
    statuses: dict[int, dict[str, Any]] = {}
    while len(statuses) < len(runs):
        if time.monotonic() > deadline:
            print("gave up waiting", file=sys.stderr)
            return 1
        for job_id, run_id in runs.items():
            if job_id in statuses:
                continue
            status = request("GET", f"{api}/connectJobs/{job_id}/jobRuns/{run_id}/status", token)
            if status["jobRunStatus"] != "running":
                statuses[job_id] = status
                print(
                    f"job {job_id} run {run_id}: {status['jobRunStatus']} in {status['durationInSeconds']} s; "
                    f"processed {status['recordsProcessed']}, added {status['recordsAdded']}, "
                    f"updated {status['recordsUpdated']}, rejected {status['recordsRejected']}"
                    + (f"; error: {status['errrorMessage']}" if status["errrorMessage"] else "")
                )
        if len(statuses) < len(runs):
            time.sleep(POLL_SECONDS)

    for job_id, run_id in runs.items():
        print(f"log of job {job_id} run {run_id}:")
        for line in request("GET", f"{api}/connectJobs/{job_id}/jobRuns/{run_id}/logs", token):
            print(f"  {when(line['logTime'])}  {line['logLevel']:<5}  {line['logMessage']}")

    return 0 if all(s["jobRunStatus"] == "succeeded" for s in statuses.values()) else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except ApiError as exc:
        print(exc, file=sys.stderr)
        sys.exit(2)
