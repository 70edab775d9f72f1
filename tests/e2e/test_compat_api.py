"""The Responsys-compatible API on the whole stack: a script written for the original runs unchanged.

The jobs are the demo `make up` seeds, made by the same code (`connect_devstack.demo.seed`); the script
(`tests/scripts/responsys_connect_jobs.py`) runs as its own process, as a user would run it, against the gateway.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from connect_devstack import demo
from connect_devstack.services import Services
from tests.compat_contract import CONTRACT, matches
from tests.conftest import SftpServer

SCRIPT = Path(__file__).parents[1] / "scripts" / "responsys_connect_jobs.py"
ON_THE_STACK = [case for case in CONTRACT["cases"] if case.get("stack")]


@pytest.mark.parametrize("case", ON_THE_STACK, ids=lambda c: c["name"])
async def test_the_documented_pairs_that_need_no_data_hold_on_the_stack(
    services: Services, admin_login: tuple[str, str], admin_token: str, case: dict[str, Any]
) -> None:
    """The same pairs the gateway's unit tests replay over fakes, here through uvicorn and the real stores."""
    request, response = case["request"], case["response"]
    auth = request.get("auth")
    headers = {"Authorization": admin_token if auth in ("viewer", "operator") else auth} if auth else {}
    form = request.get("form")
    if form is not None:  # the fixture's user is the unit tests' operator; here it is the stack's admin
        form = {**form, "user_name": admin_login[0]} if "user_name" in form else form
        form = {k: admin_login[1] if v == "<password>" else v for k, v in form.items()}
    async with httpx.AsyncClient(base_url=services.gateway_url, timeout=30) as client:
        answer = await client.request(
            request["method"], request["path"], headers=headers, data=form, json=request.get("json")
        )
    assert answer.status_code == response["status"], answer.text
    matches(response["body"], answer.json())


async def test_an_unchanged_responsys_script_triggers_polls_and_prints_logs(
    services: Services, admin_login: tuple[str, str], admin_token: str, sftp: SftpServer, api: httpx.AsyncClient
) -> None:
    import_id, export_id = await asyncio.to_thread(
        demo.seed,
        services.gateway_url,
        admin_token,
        host=sftp.host,
        port=sftp.port,
        user=sftp.user,
        private_key=sftp.private_key,
        data_dir=sftp.data_dir,
    )
    user, password = admin_login
    env = os.environ | {"RESPONSYS_LOGIN_URL": services.gateway_url, "RESPONSYS_USER": user}
    env["RESPONSYS_PASSWORD"] = password
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        str(import_id),
        str(export_id),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=240)
    text = out.decode()
    assert process.returncode == 0, text + err.decode()

    assert f"logged in; calls go to {services.gateway_url}" in text
    assert f"{import_id:>6}  {demo.DEMO_JOB}  [import_custom_table, on_demand, active]" in text
    assert f"{export_id:>6}  {demo.DEMO_EXPORT_JOB}  [export_file, on_demand, active]" in text
    assert f"triggered job {import_id}: run 1" in text and f"triggered job {export_id}: run 1" in text
    # Six rows, one with points that are no number: rejected, the run still succeeds.
    assert f"job {import_id} run 1: succeeded in" in text
    assert "processed 6, added 5, updated 0, rejected 1" in text
    assert f"job {export_id} run 1: succeeded in" in text
    assert f"log of job {import_id} run 1:" in text and f"log of job {export_id} run 1:" in text
    log = text.split(f"log of job {import_id} run 1:")[1].split("log of job")[0]
    assert " INFO " in log and "rejected" in log

    # What the script saw is what /api/v1 shows.
    done = (await api.get(f"/api/v1/runs/{import_id}.1")).json()
    assert (done["status"], done["counts"]["inserted"], done["counts"]["rejected"]) == ("succeeded", 5, 1)

    # The run list by the original's dates, and a refusal decided by the real scheduler in the original's words.
    today = datetime.now(UTC).strftime("%m-%d-%Y")
    token = await _login(services.gateway_url, user, password)
    async with httpx.AsyncClient(base_url=f"{services.gateway_url}/rest/api/v1.3", timeout=30) as compat:
        runs = await compat.get(
            f"/connectJobs/{import_id}/jobRuns",
            params={"sdate": today, "edate": today},
            headers={"Authorization": token},
        )
        assert runs.status_code == 200, runs.text
        assert [(r["jobRunId"], r["jobRunStatus"]) for r in runs.json()] == [(1, {"value": "succeeded"})]
        deactivated = await api.post(f"/api/v1/jobs/{export_id}/deactivate")
        assert deactivated.status_code == 200, deactivated.text
        refused = await compat.put(f"/connectJobs/{export_id}/trigger", json={}, headers={"Authorization": token})
    assert refused.status_code == 400
    assert refused.json() == {
        "type": "",
        "title": "Connect job not active",
        "errorCode": "CONNECT_JOB_INACTIVE",
        "detail": "Connect Job status is Inactive and can't be run",
        "errorDetails": [],
    }


async def _login(base_url: str, user: str, password: str) -> str:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        answer = await client.post(
            "/rest/api/v1.3/auth/token", data={"user_name": user, "password": password, "auth_type": "password"}
        )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["endPoint"] == base_url and abs(body["issuedAt"] / 1000 - datetime.now(UTC).timestamp()) < 60
    token: str = body["authToken"]
    return token
