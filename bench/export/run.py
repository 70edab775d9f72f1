"""bench/export: a 1,000,000-row × 10-column export of an audience to SFTP, against its hand-written baseline.

A profile list is defined through the API and filled directly with SQL (`INSERT … SELECT … FROM
generate_series`), then an audience over it is defined whose filter (`RIID_ > 0`) every row passes, with 10
columns of every type the list has here (integer, text, date, timestamp). An `export_file` job writes the
audience as CSV (header, `"` qualifier where needed, LF) to the devstack's OpenSSH sshd.

The job side is timed from POST /jobs/{id}/run to the API reporting the run succeeded: RunRequested on Kafka →
runner (audience compiled, one `COPY (SELECT …) TO STDOUT` in a read-only snapshot, its bytes streamed to the
SFTP server under a temporary name, renamed in the run's last transaction, log and ledger) → catalog → API.
The baseline, in this process: `COPY (SELECT <the same 10 columns, formatted as text the way the runner does>
… WHERE "RIID_" > 0 ORDER BY "RIID_") TO STDOUT WITH (FORMAT csv, HEADER)` into a local file, then OpenSSH
`sftp` in batch mode puts it on the same server; both steps timed together. Both timed parts start right after a
CHECKPOINT. Afterwards the two files on the server are compared (lines, and whether they are byte-identical).

Prints both times and the ratio job/baseline (target ≤ 1.2), the job's stages as the runner logged them, and the
runner's peak memory during the job (VmHWM, reset before it where the kernel allows; target < 200 MiB).

Then the marketing-API case: an `export_api` job pushes the first `--api-rows` rows (default 100,000) of the list,
through an audience, to a local server implementing the Responsys v1.3 merge contract (`tests/marketing_api_server.py`,
served by this process), 200 records a call; prints rows/s and checks the server holds every record.
Usage: `python bench/export/run.py [--rows N] [--api-rows N] [--keep] [--check]` (`--check`: exit 2 when a target
is missed).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from connect_devstack import Stack, _proc
from connect_devstack.app import demo_token, ensure_admin, sftp_parts
from connect_devstack.services import Services, service_env
from connect_runtime.settings import database_dsn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: bench.measure, the tests' API server
from bench.measure import checkpoint, memory_mib, reset_peak_memory, run_job, stage_times
from tests.marketing_api_server import marketing_api_server

LIST = "bench_export"
AUDIENCE = "bench_export_all"
JOB = "Bench export"
CUSTOM = [
    {"name": "FIRST_NAME", "type": "text", "max_length": 50},
    {"name": "LAST_NAME", "type": "text", "max_length": 50},
    {"name": "POINTS", "type": "integer"},
    {"name": "JOINED", "type": "date"},
]
# The 10 exported columns, in order, each with the SQL the baseline formats it with (as the runner's
# `connect_runner.domain.export_select` does: text as it is, integers `::text`, dates `YYYY-MM-DD`, timestamps
# `YYYY-MM-DD HH:MM:SS[.ffffff]` without the fraction's trailing zeros).
TIMESTAMP = "rtrim(rtrim(to_char({}, 'YYYY-MM-DD HH24:MI:SS.US'), '0'), '.')"
EXPORTED = [
    ("RIID_", 'l."RIID_"::text'),
    ("EMAIL_ADDRESS_", 'l."EMAIL_ADDRESS_"'),
    ("CUSTOMER_ID_", 'l."CUSTOMER_ID_"'),
    ("FIRST_NAME", 'l."FIRST_NAME"'),
    ("LAST_NAME", 'l."LAST_NAME"'),
    ("CITY_", 'l."CITY_"'),
    ("COUNTRY_", 'l."COUNTRY_"'),
    ("POINTS", 'l."POINTS"::text'),
    ("JOINED", """to_char(l."JOINED", 'YYYY-MM-DD')"""),
    ("MODIFIED_DATE_", TIMESTAMP.format('l."MODIFIED_DATE_"')),
]
CITIES = ["London", "Paris", "Berlin", "Madrid", "Rome", "Oslo", "Vienna", "Dublin"]
# Every list column a run of an import would fill, from the row number g (one in ten last names needs quoting).
ADDRESS = "'user' || g || '@example.com'"
NOW = "(now() AT TIME ZONE 'UTC')"
FILL = {
    "CUSTOMER_ID_": "'C' || g",
    "EMAIL_ADDRESS_": ADDRESS,
    "EMAIL_DOMAIN_": "'example.com'",
    "EMAIL_MD5_HASH_": f"md5({ADDRESS})",
    "EMAIL_SHA256_HASH_": f"encode(sha256(convert_to({ADDRESS}, 'UTF8')), 'hex')",
    "EMAIL_FORMAT_": "'H'",
    "EMAIL_PERMISSION_STATUS_": "'O'",
    "MOBILE_PERMISSION_STATUS_": "'O'",
    "POSTAL_STREET_1_": "(g % 999 + 1) || ' High Street'",
    "CITY_": "(ARRAY[" + ", ".join(f"'{c}'" for c in CITIES) + "])[g % 8 + 1]",
    "POSTAL_CODE_": "'PC' || (g % 9973)",
    "COUNTRY_": "CASE WHEN g % 2 = 1 THEN 'GB' ELSE 'FR' END",
    "FIRST_NAME": "'First' || (g % 997)",
    "LAST_NAME": """CASE WHEN g % 10 = 0 THEN 'O''Hara, "Jr"' ELSE 'Last' || (g % 991) END""",
    "POINTS": "(g * 7919) % 100000",
    "JOINED": "date '2020-01-01' + (g % 1500)::int",
    "CREATED_DATE_": f"{NOW} - g * interval '1 second'",
    "MODIFIED_DATE_": f"{NOW} - g * interval '1.001 second'",  # fractions of every length, some none
}
TABLE_TIMEOUT_S = 120.0


def line_count(path: Path) -> int:
    """The number of LF-ended lines of `path`."""
    count = 0
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            count += chunk.count(b"\n")
    return count


def digest(path: Path) -> str:
    """The SHA-256 of the file's bytes."""
    hashed = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            hashed.update(chunk)
    return hashed.hexdigest()


@dataclass(frozen=True)
class Sftp:
    """The stack's sshd as OpenSSH's client reaches it."""

    host: str
    port: int
    user: str
    data_dir: Path
    key: Path
    known_hosts: Path

    def put(self, local: Path, remote: Path, batch: Path) -> None:
        """`sftp -b` putting `local` at `remote`; raises with its output when it fails."""
        batch.write_text(f'put "{local}" "{remote}"\n')
        argv = [
            "sftp", "-q", "-b", str(batch), "-i", str(self.key), "-P", str(self.port),
            "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", f"{self.user}@{self.host}",
        ]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"sftp put failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")


class Bench:
    """The running stack, an API client logged in, and where the bench writes its files."""

    def __init__(self, api: httpx.AsyncClient, apps: Services, infra: dict[str, str], rows: int, local: Path) -> None:
        self.api, self.apps, self.rows, self.local = api, apps, rows, local
        self.audience = database_dsn(infra["DATABASE_URL"], "audience")
        host, port, user, data_dir, key = sftp_parts(infra["SFTP_TEST_URL"])
        self.sftp = Sftp(host, port, user, data_dir, key, Path(infra["SFTP_TEST_KNOWN_HOSTS"]))
        self.remote_dir = data_dir / "bench_export"
        self.remote_dir.mkdir(parents=True, exist_ok=True)

    async def create(self, path: str, body: dict[str, object]) -> dict[str, object]:
        answer = await self.api.post(path, json=body)
        if answer.status_code >= 300:
            raise RuntimeError(f"{path} refused ({answer.status_code}): {answer.text}")
        created: dict[str, object] = answer.json()
        return created

    async def fill_list(self) -> None:
        """Define the list, wait for its table, fill it with `rows` rows in one INSERT, VACUUM ANALYZE it."""
        await self.create("/api/v1/lists", {"name": LIST, "columns": CUSTOM})
        conn = await asyncpg.connect(self.audience)
        try:
            deadline = time.monotonic() + TABLE_TIMEOUT_S
            while await conn.fetchval("SELECT to_regclass($1)", f'lists."{LIST}"') is None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f'table lists."{LIST}" not created after {TABLE_TIMEOUT_S:.0f}s')
                await asyncio.sleep(0.2)
            began = time.perf_counter()
            names = ", ".join(f'"{name}"' for name in FILL)
            values = ", ".join(FILL.values())
            await conn.execute(
                f'INSERT INTO lists."{LIST}" ({names}) SELECT {values} FROM generate_series(1, $1::bigint) AS g',
                self.rows,
            )
            await conn.execute(f'VACUUM ANALYZE lists."{LIST}"')
            size = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size($1))", f'lists."{LIST}"')
            print(f"filled {LIST} with {self.rows:,} rows in {time.perf_counter() - began:.1f}s ({size})", flush=True)
        finally:
            await conn.close()

    async def define_job(self, path: Path) -> int:
        """The audience (every row, through a filter) and an active export job writing it to `path`."""
        await self.create(
            "/api/v1/audiences",
            {
                "name": AUDIENCE,
                "list_name": LIST,
                "filter": {"conditions": [{"column": "RIID_", "operator": "greater_than", "values": ["0"]}]},
                "columns": [{"column": name} for name, _ in EXPORTED],
            },
        )
        sftp = self.sftp
        destination = {"host": sftp.host, "port": sftp.port, "user": sftp.user, "path": str(path)}
        destination["private_key"] = sftp.key.read_text()
        job = await self.create(
            "/api/v1/jobs",
            {
                "type": "export_file",
                "name": JOB,
                "source": {"kind": "audience", "audience": AUDIENCE},
                "destination": destination,
                "activate": True,
            },
        )
        if job.get("has_errors") or job.get("errors") or job.get("state") != "active":
            raise RuntimeError(f"export job saved with state {job.get('state')}, errors {job.get('errors')}")
        return int(str(job["job_id"]))

    async def measure(self, job_id: int) -> tuple[float, dict[str, object], float | None, bool]:
        """Run the job after a checkpoint: seconds, the run, the runner's peak memory in MiB, and whether that
        peak was reset before the run."""
        runner = self.apps["runner"].pid
        reset = reset_peak_memory(runner) if runner is not None else False
        await checkpoint(self.audience)
        seconds, run = await run_job(self.api, job_id)
        return seconds, run, memory_mib(runner, "VmHWM") if runner is not None else None, reset

    async def baseline(self, remote: Path) -> tuple[float, float, Path]:
        """COPY (SELECT …) TO STDOUT into a local file, then `sftp` put: (copy seconds, put seconds, local file)."""
        local = self.local / "baseline.csv"
        listed = ", ".join(f'{sql} AS "{name}"' for name, sql in EXPORTED)
        # `l.` everywhere: a bare "RIID_" in ORDER BY would name the output column (text), not the list's.
        query = f'SELECT {listed} FROM lists."{LIST}" AS l WHERE l."RIID_" > 0 ORDER BY l."RIID_"'
        conn = await asyncpg.connect(self.audience)
        try:
            await conn.execute("CHECKPOINT")
            began = time.perf_counter()
            await conn.copy_from_query(query, output=local, format="csv", header=True)
            copied = time.perf_counter()
        finally:
            await conn.close()
        await asyncio.to_thread(self.sftp.put, local, remote, self.local / "batch")
        return copied - began, time.perf_counter() - copied, local

    async def run_log(self, run: str) -> list[dict[str, object]]:
        answer = await self.api.get(f"/api/v1/runs/{run}/log")
        answer.raise_for_status()
        lines: list[dict[str, object]] = answer.json()["lines"]
        return lines

    async def export(self) -> bool:
        """The whole case; prints its figures and returns whether both targets were met."""
        await self.fill_list()
        job_file, base_file = self.remote_dir / "bench_export.csv", self.remote_dir / "baseline.csv"
        job_id = await self.define_job(job_file)
        job_s, run, peak, reset = await self.measure(job_id)
        copy_s, put_s, local = await self.baseline(base_file)
        base_s = copy_s + put_s
        lines = await self.run_log(str(run["run_key"]))

        job_lines, base_lines = line_count(job_file), line_count(base_file)
        if not job_lines == base_lines == self.rows + 1:
            raise RuntimeError(f"lines: job {job_lines:,}, baseline {base_lines:,}, expected {self.rows + 1:,}")
        identical = digest(job_file) == digest(base_file)
        ratio = job_s / base_s
        peak_text = "unknown" if peak is None else f"{peak:,.0f} MiB"
        runner = self.apps["runner"].pid
        now_rss = memory_mib(runner, "VmRSS") if runner is not None else None

        print(f"[export: audience of {self.rows:,} rows × {len(EXPORTED)} columns to SFTP]")
        print(
            f"job      {job_s:8.2f} s   (runner's own duration {int(str(run['duration_ms'])) / 1000:.2f} s; "
            f"counts {run['counts']})"
        )
        stages = stage_times(self.apps["runner"].log_file, str(run["run_key"]))
        print("         stages: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in stages))
        for line in lines:
            print(f"         log {line['at']} {line['level']:<5} {line['message']}")
        print(
            f"         runner peak memory (VmHWM): {peak_text}"
            f" ({'reset before the run' if reset else 'NOT reset: peak since the runner started'};"
            f" RSS now {'unknown' if now_rss is None else f'{now_rss:,.0f} MiB'})"
        )
        print(f"baseline {base_s:8.2f} s   (COPY to local file {copy_s:.2f} s, sftp put {put_s:.2f} s)")
        print(f"files    job {job_file.stat().st_size:,} bytes, baseline {local.stat().st_size:,} bytes")
        same = "yes" if identical else "NO"
        print(f"         {job_lines:,} lines each (header + {self.rows:,}); byte-identical: {same}")
        ratio_ok, memory_ok = ratio <= 1.2, peak is not None and peak < 200
        print(f"ratio job/baseline = {ratio:.2f}   (target ≤ 1.2: {'met' if ratio_ok else 'MISSED'})")
        print(f"runner peak memory = {peak_text}   (target < 200 MiB: {'met' if memory_ok else 'MISSED'})", flush=True)
        return ratio_ok and memory_ok

    async def push(self, rows: int) -> None:
        """The marketing-API case: `rows` rows of the list merged into the local server's list, timed."""
        async with marketing_api_server() as server:
            await self.create(
                "/api/v1/audiences",
                {
                    "name": f"{AUDIENCE}_api",
                    "list_name": LIST,
                    "filter": {"conditions": [{"column": "RIID_", "operator": "less_than", "values": [str(rows + 1)]}]},
                    "columns": [{"column": name} for name, _ in EXPORTED],
                },
            )
            endpoint = {"url": server.url, "user": server.state.user, "password": server.state.password}
            job = await self.create(
                "/api/v1/jobs",
                {
                    "type": "export_api",
                    "name": f"{JOB} API",
                    "source": {"kind": "audience", "audience": f"{AUDIENCE}_api"},
                    "endpoint": {**endpoint, "calls_per_minute": 100_000},
                    "remote_list": "BENCH",
                    "activate": True,
                },
            )
            if job.get("errors") or job.get("state") != "active":
                raise RuntimeError(f"API export job saved with state {job.get('state')}, errors {job.get('errors')}")
            seconds, run = await run_job(self.api, int(str(job["job_id"])))
            held = len(server.state.lists.get("BENCH", {}))
        if held != rows:
            raise RuntimeError(f"the API server holds {held:,} records, expected {rows:,}")
        print(f"[export to marketing API: {rows:,} rows × {len(EXPORTED)} columns, 200 a call, local server]")
        print(
            f"job      {seconds:8.2f} s   {rows / seconds:,.0f} rows/s   ({server.state.merges:,} merge calls, "
            f"{server.state.logins} login; counts {run['counts']})",
            flush=True,
        )


async def bench(rows: int, api_rows: int, keep: bool) -> bool:
    """Start the stack, run the case, print its figures; stop everything (and remove its files unless `keep`)."""
    state = Path(tempfile.mkdtemp(prefix="connect-bench-export-"))
    local = state / "local"
    local.mkdir()
    stack = Stack(state)
    try:
        infra = stack.start()
        vault_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
        env = service_env(infra, gateway_port=_proc.free_port(), vault_key=vault_key)
        apps = Services(state, env)
        try:
            apps.start()
            token = demo_token(state, apps.gateway_url, ensure_admin(state, env))
            auth = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=apps.gateway_url, timeout=60, headers=auth) as api:
                case = Bench(api, apps, infra, rows, local)
                met = await case.export()
                if api_rows:
                    await case.push(min(api_rows, rows))
                return met
        finally:
            apps.stop()
    finally:
        stack.stop()
        if keep:
            print(f"kept the state dir (logs, files, database) in {state}")
        else:
            shutil.rmtree(state, ignore_errors=True)


def main() -> None:
    """CLI: a failure (a refused request, a failed run, files that differ in lines) exits non-zero with its
    traceback; with `--check`, so does a missed target (exit 2)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the list (default 1,000,000)")
    parser.add_argument("--api-rows", type=int, default=100_000, help="rows pushed to the API (0: skip that case)")
    parser.add_argument("--keep", action="store_true", help="keep the state dir (logs, files, database) afterwards")
    parser.add_argument("--check", action="store_true", help="exit 2 when a target (ratio, memory) is missed")
    arguments = parser.parse_args()
    if arguments.rows < 1:
        parser.error("--rows must be at least 1")
    met = asyncio.run(bench(arguments.rows, arguments.api_rows, arguments.keep))
    if arguments.check and not met:
        sys.exit(2)


if __name__ == "__main__":
    main()
