"""The `connect` command against the running stack, as a user runs it: a separate process with its own
configuration file, logging in with a password, following a real run's progress, stopping a run, tailing a log,
moving files and taking a job definition through YAML and back."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from connect_devstack.services import Services
from tests.conftest import SftpServer
from tests.e2e.helpers import TERMINAL, create, job_body, table_body, wait_for_run, write_csv

pytestmark = pytest.mark.e2e

CONNECT = str(Path(sys.executable).with_name("connect"))
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli_env(services: Services, tmp_path: Path) -> dict[str, str]:
    """An environment with a configuration file of the test's own and no credential yet."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECT_")}
    env |= {"CONNECT_CONFIG": str(tmp_path / "config.json"), "COLUMNS": "160", "NO_COLOR": "1"}
    return env


async def connect(env: dict[str, str], *args: str, stdin: str = "", timeout: float = 120) -> Result:
    process = await asyncio.create_subprocess_exec(
        CONNECT,
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), timeout)
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


@pytest.fixture
async def logged_in(cli_env: dict[str, str], services: Services, admin_login: tuple[str, str]) -> dict[str, str]:
    username, password = admin_login
    url = services.gateway_url
    done = await connect(cli_env, "login", "--url", url, "--username", username, "--password-stdin", stdin=password)
    assert done.code == 0, done.err
    assert f"Logged in to {url} as {username}" in done.out
    saved = json.loads(Path(cli_env["CONNECT_CONFIG"]).read_text())
    assert saved["token"].startswith("cnt_") and password not in Path(cli_env["CONNECT_CONFIG"]).read_text()
    assert Path(cli_env["CONNECT_CONFIG"]).stat().st_mode & 0o077 == 0  # the token is the user's alone
    return cli_env


async def test_login_refusals_and_logout(
    cli_env: dict[str, str], services: Services, logged_in: dict[str, str]
) -> None:
    wrong = await connect(
        cli_env, "login", "--url", services.gateway_url, "--username", "admin", "--password-stdin", stdin="not it"
    )
    assert wrong.code == 1 and wrong.err.startswith("error: ") and "Traceback" not in wrong.err, wrong
    whoami = await connect(logged_in, "whoami")
    assert (whoami.code, whoami.out.split()[:2]) == (0, ["admin", "(admin)"]), whoami
    out = await connect(logged_in, "logout")
    assert out.code == 0, out.err
    after = await connect(logged_in, "jobs", "list")
    assert (after.code, after.err.strip()) == (1, "error: not logged in: run `connect login` (or set CONNECT_TOKEN)")
    unreachable = await connect({**cli_env, "CONNECT_URL": "http://127.0.0.1:9", "CONNECT_TOKEN": "x"}, "jobs", "list")
    assert (unreachable.code, unreachable.err.strip()) == (1, "error: cannot reach Connect at http://127.0.0.1:9")


async def test_a_run_is_followed_with_a_live_progress_bar_and_its_log_tailed(
    api: httpx.AsyncClient, logged_in: dict[str, str], sftp: SftpServer, unique: str
) -> None:
    table = f"cli_{unique}"
    await create(api, "/api/v1/tables", table_body(table))
    rows = [(f"K{i}", f"k{i}@example.com", "1.00", "1", "2024-01-02") for i in range(100_000)]
    path = write_csv(sftp.data_dir / unique / "many.csv", rows)
    job = await create(api, "/api/v1/jobs", job_body(f"CLI {unique}", table, sftp, path))

    # A terminal as rich sees one: the bar is redrawn in place while the run goes on.
    tty = {**logged_in, "TTY_INTERACTIVE": "1", "TTY_COMPATIBLE": "1"}
    done = await connect(tty, "jobs", "run", str(job["job_id"]))
    assert done.code == 0, done.err
    frames = [ANSI.sub("", f) for f in re.split(r"\r|\n", done.out)]
    drawn = [f for f in frames if re.search(rf"\b{job['job_id']}\.1 \w+ ", f) and not f.startswith("Run ")]
    states = [re.search(rf"\b{job['job_id']}\.1 (\w+) ", f).group(1) for f in drawn]  # type: ignore[union-attr]
    assert states[-1] == "succeeded", repr(done.out[-2000:])
    # Drawn while the run went on, not only once it ended: a terminal sees the bar move.
    assert len(drawn) >= 2 and set(states) - {"succeeded"}, repr(done.out[-2000:])
    assert f"Run {job['job_id']}.1 succeeded" in done.out
    assert "100,000 read, 100,000 inserted, 0 updated, 0 rejected" in done.out
    assert re.search(r"100,000 rows", drawn[-1]), drawn[-1]

    listed = await connect(logged_in, "runs", "list", "--job", str(job["job_id"]), "--json")
    assert [r["run_key"] for r in json.loads(listed.out)] == [f"{job['job_id']}.1"]
    log = await connect(logged_in, "runs", "log", f"{job['job_id']}.1")
    assert log.code == 0 and "Succeeded: 100000 rows read" in log.out, log


async def test_a_waiting_run_is_stopped_and_its_log_followed_to_the_end(
    api: httpx.AsyncClient, logged_in: dict[str, str], sftp: SftpServer, unique: str
) -> None:
    table = f"cli_stop_{unique}"
    await create(api, "/api/v1/tables", table_body(table))
    path = write_csv(sftp.data_dir / unique / "people.csv", [("K1", "k1@example.com", "1.00", "1", "2024-01-02")])
    body = job_body(f"CLI stop {unique}", table, sftp, path, files={"ready_file": "never", "ready_timeout_s": 600})
    job = await create(api, "/api/v1/jobs", body)
    started = await connect(logged_in, "jobs", "run", str(job["job_id"]), "--no-wait")
    assert started.code == 0, started.err
    run = f"{job['job_id']}.1"
    await wait_for_run(api, run, {"running"})
    follower = asyncio.create_task(connect(logged_in, "runs", "log", run, "--follow"))
    stopped = await connect(logged_in, "jobs", "stop", str(job["job_id"]))
    assert (stopped.code, stopped.out.strip()) == (0, f"Stop of run {run} requested"), stopped
    assert (await wait_for_run(api, run, TERMINAL))["status"] == "stopped"
    followed = await follower
    assert followed.code == 0 and "Stop requested by admin" in followed.out, followed
    shown = await connect(logged_in, "runs", "show", run)
    assert (shown.code, shown.out.split()[:3]) == (0, ["Run", run, "stopped"]), shown
    nothing = await connect(logged_in, "jobs", "stop", str(job["job_id"]))
    assert (nothing.code, nothing.err.strip()) == (1, f"error: job {job['job_id']} has no run running")


async def test_files_go_up_and_come_back(logged_in: dict[str, str], tmp_path: Path, unique: str) -> None:
    local = tmp_path / "contacts.csv"
    local.write_bytes(b"id,email\n" + b"".join(b"%d,u%d@example.com\n" % (i, i) for i in range(50_000)))
    up = await connect(logged_in, "files", "upload", str(local), f"upload/{unique}.csv")
    assert up.code == 0 and f"Uploaded upload/{unique}.csv ({local.stat().st_size:,} bytes)" in up.out, up
    listed = await connect(logged_in, "files", "list", "upload")
    assert f"upload/{unique}.csv" in listed.out
    back = tmp_path / "back.csv"
    down = await connect(logged_in, "files", "download", f"upload/{unique}.csv", str(back))
    assert down.code == 0, down.err
    assert back.read_bytes() == local.read_bytes()
    missing = await connect(logged_in, "files", "download", f"upload/{unique}-none.csv", str(tmp_path / "x"))
    assert missing.code == 1 and not (tmp_path / "x").exists() and not list(tmp_path.glob(".x*")), missing


async def test_a_job_definition_goes_through_yaml_and_back(
    api: httpx.AsyncClient, logged_in: dict[str, str], sftp: SftpServer, tmp_path: Path, unique: str
) -> None:
    table = f"cli_yaml_{unique}"
    await create(api, "/api/v1/tables", table_body(table))
    path = write_csv(sftp.data_dir / unique / "people.csv", [("K1", "k1@example.com", "1.00", "1", "2024-01-02")])
    job = await create(api, "/api/v1/jobs", job_body(f"CLI yaml {unique}", table, sftp, path))
    job_id = job["job_id"]
    file = tmp_path / "job.yaml"
    exported = await connect(logged_in, "jobs", "export", str(job_id), "-o", str(file))
    assert exported.code == 0, exported.err
    document = yaml.safe_load(file.read_text())
    assert (document["kind"], document["job_id"]) == ("connect/job", job_id)
    assert "private_key" not in file.read_text() and "BEGIN OPENSSH" not in file.read_text()  # no secret leaves

    unchanged = await connect(logged_in, "jobs", "apply", str(file))
    assert unchanged.out.strip() == f"Job {job_id} unchanged (version {job['version']})", unchanged

    document["definition"]["description"] = "kept in git"
    document["definition"]["schedule"] = {"kind": "daily", "time": "02:30", "time_zone": "Europe/Paris"}
    document["definition"]["limits"] = {"max_rejected_rows": 10}
    file.write_text(yaml.safe_dump(document))
    applied = await connect(logged_in, "jobs", "apply", str(file))
    assert applied.code == 0 and applied.out.startswith(f"Job {job_id} updated: version"), applied
    version = int(applied.out.split("version ")[1].split(",")[0])

    async def current() -> dict[str, object]:
        for _ in range(100):
            shown = (await api.get(f"/api/v1/jobs/{job_id}")).json()
            if shown["version"] >= version:
                return dict(shown)
            await asyncio.sleep(0.1)
        raise AssertionError(f"job {job_id} never reached version {version}")

    shown = await current()
    assert shown["description"] == "kept in git"
    assert shown["schedule"]["kind"] == "daily" and shown["schedule"]["time_zone"] == "Europe/Paris"
    assert shown["limits"]["max_rejected_rows"] == 10
    again = await connect(logged_in, "jobs", "export", str(job_id))
    definition = yaml.safe_load(again.out)["definition"]
    assert definition["description"] == "kept in git" and definition["limits"] == {"max_rejected_rows": 10}
    assert definition["schedule"]["time"] == "02:30"
    file.write_text(again.out)
    assert (await connect(logged_in, "jobs", "apply", str(file))).out.strip().endswith(f"unchanged (version {version})")

    # A new job from the same file without its id: created (a definition needs its secret, kept out of YAML).
    del document["job_id"]
    document["definition"]["name"] = f"CLI yaml copy {unique}"
    (tmp_path / "key").write_text(sftp.private_key)
    file.write_text(yaml.safe_dump(document))
    made = await connect(logged_in, "jobs", "apply", str(file), "--private-key-file", str(tmp_path / "key"))
    assert made.code == 0 and re.match(r"Job \d+ created: version \d+", made.out), made

    file.write_text("kind: connect/job\ndefinition: [oops\n")
    broken = await connect(logged_in, "jobs", "apply", str(file))
    assert broken.code == 1 and re.fullmatch(
        rf"error: {re.escape(str(file))}: not valid YAML at line \d+", broken.err.strip()
    )
    file.write_text(yaml.safe_dump({"kind": "connect/job", "job_id": job_id, "definition": {"name": ""}}))
    refused = await connect(logged_in, "jobs", "apply", str(file))
    assert (refused.code, refused.err.strip()) == (1, "error: invalid request: type: is required")
