"""Issue 10 item 6: every service logs JSON lines naming itself; the lines of a run name it (`JobID.RunID`) and
carry the correlation id of the command that asked for it, from the gateway through the scheduler to the runner
and the catalog; and none of the secrets the run was configured with appears in any log."""

from __future__ import annotations

import json
from typing import Any

import httpx

from connect_devstack.services import SERVICES, Services
from tests.conftest import SftpServer
from tests.e2e.helpers import create, job_body, table_body, wait_for_run, write_csv
from tests.e2e.test_exports_api import test_a_list_is_pushed_to_a_marketing_api as push_a_list
from tests.marketing_api_server import FakeResponsys


def _key_body(private_key: str) -> str:
    lines = [line for line in private_key.splitlines() if line and not line.startswith("-----")]
    return lines[1]


def log_lines(services: Services, name: str) -> list[dict[str, Any]]:
    text = services[name].log_file.read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = []
    for number, line in enumerate(lines, 1):
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise AssertionError(f"{name}.log line {number} is not JSON: {line[:200]}") from exc
    return parsed


async def test_a_runs_lines_carry_its_ids_and_no_secret(
    api: httpx.AsyncClient,
    services: Services,
    sftp: SftpServer,
    admin_login: tuple[str, str],
    admin_token: str,
    unique: str,
) -> None:
    table = f"logs_{unique}"
    await create(api, "/api/v1/tables", table_body(table))
    path = write_csv(sftp.data_dir / unique / "l.csv", [("L1", "l@example.com", "1", "1", "2024-01-01")])
    job = await create(api, "/api/v1/jobs", job_body(f"Logs {unique}", table, sftp, path))
    run = (await api.post(f"/api/v1/jobs/{job['job_id']}/run")).json()["run"]
    await wait_for_run(api, run, {"succeeded"})
    # A login with the password, and a push to a marketing API with its own password.
    async with httpx.AsyncClient(base_url=services.gateway_url) as browser:
        user, password = admin_login
        login = await browser.post("/api/v1/auth/login", json={"username": user, "password": password})
        assert login.status_code == 200, login.text
    await push_a_list(api, f"g{unique}")

    logs = {name: log_lines(services, name) for name in SERVICES}
    for name, lines in logs.items():
        assert lines, f"{name} logged nothing"
        assert all(line.get("service") == name for line in lines), f"a {name} line does not name its service"

    started = [line for line in logs["runner"] if line.get("run") == run and line["message"] == "run started"]
    assert started, f"no runner line names run {run}"
    correlation = started[0]["correlation_id"]
    runner_lines = [line for line in logs["runner"] if line.get("run") == run]
    assert all(line.get("correlation_id") == correlation for line in runner_lines)
    for name in ("gateway", "scheduler", "catalog"):
        assert any(line.get("correlation_id") == correlation for line in logs[name]), f"{name} lost the correlation"

    secrets = {
        "the SFTP private key": _key_body(sftp.private_key),
        "the marketing API's password": FakeResponsys().password,
        "the admin's password": admin_login[1],
        "the admin's API token": admin_token,
        "the vault key": services.env["CONNECT_VAULT_KEY"],
    }
    for name in SERVICES:
        text = services[name].log_file.read_text()
        leaked = [what for what, secret in secrets.items() if secret in text]
        assert not leaked, f"the {name} log holds {', '.join(leaked)}"
