"""bench/import: a 1,000,000-row merge through a real job, against the hand-written baseline.

Both sides start from an identical 1,000,000-row custom table and merge the same 1,000,000-row, 10-column
file, half of whose keys already exist (so ~500,000 updates and ~500,000 inserts):

- job:      POST /jobs/{id}/run → RunRequested on Kafka → runner: SFTP download, parse, COPY into staging,
            set-based validation, one merge transaction with ledger and outbox → catalog → API shows it.
            Timed from the POST to the API reporting the run succeeded.
- baseline: COPY of the same file into an unindexed staging table + one INSERT … ON CONFLICT … DO UPDATE,
            by hand, in the same database, same process.

Both timed parts start right after a CHECKPOINT, so neither pays for writing out what came before it (a
checkpoint landing inside one of them made the comparison unfair).

Prints both times and the ratio job/baseline, the job's stages as the runner logged them (transfer, parse and
stage, validate, load) and the runner's peak memory during the job (VmHWM, reset before it where the kernel
allows). Usage: `make bench` (or `python bench/import/run.py --rows N`).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

from connect_devstack import Stack, _proc
from connect_devstack.app import demo_token, ensure_admin, sftp_parts
from connect_devstack.services import Services, service_env
from connect_runtime.settings import database_dsn

COLUMNS = [
    ("ID", "text", "varchar(20)"),
    ("EMAIL", "text", "varchar(100)"),
    ("FIRST_NAME", "text", "varchar(50)"),
    ("LAST_NAME", "text", "varchar(50)"),
    ("CITY", "text", "varchar(50)"),
    ("COUNTRY", "text", "varchar(2)"),
    ("POINTS", "integer", "bigint"),
    ("BALANCE", "number", "numeric(12,2)"),
    ("JOINED", "date", "date"),
    ("ACTIVE", "boolean", "boolean"),
]
CITIES = ["London", "Paris", "Berlin", "Madrid", "Rome", "Oslo", "Vienna", "Dublin"]


def write_csv(path: Path, first_key: int, rows: int, seed: int) -> None:
    """`rows` rows with keys first_key…first_key+rows-1; `seed` varies the non-key values."""
    rng = random.Random(seed)
    with path.open("w") as out:
        out.write(",".join(c[0].lower() for c in COLUMNS) + "\n")
        for key in range(first_key, first_key + rows):
            out.write(
                f"K{key},user{key}@example.com,First{key % 997},Last{key % 991},{CITIES[key % 8]},"
                f"{'GB' if key % 2 else 'FR'},{rng.randrange(100000)},{rng.randrange(10**6)}.{rng.randrange(100):02d},"
                f"2024-{key % 12 + 1:02d}-{key % 28 + 1:02d},{'true' if rng.random() < 0.5 else 'false'}\n"
            )


def table_body(name: str) -> dict[str, object]:
    """The API definition of the bench table."""
    columns: list[dict[str, object]] = []
    for name_, kind, sql in COLUMNS:
        column: dict[str, object] = {"name": name_, "type": kind}
        if sql.startswith("varchar"):
            column["max_length"] = int(sql[8:-1])
        if sql.startswith("numeric"):
            column["precision"], column["scale"] = 12, 2
        columns.append(column)
    return {"name": name, "columns": columns, "primary_key": ["ID"]}


def job_body(name: str, table: str, infra: dict[str, str], path: Path) -> dict[str, object]:
    """An import job merging `path` into `table`."""
    host, port, user, _, key = sftp_parts(infra["SFTP_TEST_URL"])
    return {
        "name": name,
        "type": "import_custom_table",
        "source": {"host": host, "port": port, "user": user, "path": str(path), "private_key": key.read_text()},
        "file": {"delimiter": ",", "qualifier": '"', "header": True, "encoding": "utf-8"},
        "target": {"table": table, "write_mode": "merge"},
        "mapping": [{"source": c[0].lower(), "target": c[0]} for c in COLUMNS],
        "activate": True,
    }


async def run_job(api: httpx.AsyncClient, job_id: int) -> tuple[float, dict[str, object]]:
    """Run a job and wait for its terminal status; returns (seconds, run)."""
    began = time.perf_counter()
    answer = await api.post(f"/api/v1/jobs/{job_id}/run")
    answer.raise_for_status()
    run = answer.json()["run"]
    while True:
        got = await api.get(f"/api/v1/runs/{run}")
        if got.status_code == 200 and got.json()["status"] in ("succeeded", "failed", "stopped"):
            body: dict[str, object] = got.json()
            if body["status"] != "succeeded":
                raise RuntimeError(f"run {run} ended {body['status']}: {body.get('error')}")
            return time.perf_counter() - began, body
        await asyncio.sleep(0.05)


async def checkpoint(dsn: str) -> None:
    """Write out everything so far, so the next timed part starts from the same state as the other one."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


def stage_times(log_file: Path, run: str) -> list[tuple[str, float]]:
    """The run's stages and how long each took, from the runner's log (its execution-log entries)."""
    stages: list[tuple[str, float]] = []
    for line in log_file.read_text().splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if entry.get("run") == run and "duration_ms" in entry:
                stages.append((str(entry["stage"]), int(entry["duration_ms"]) / 1000))
    return stages


def reset_peak_memory(pid: int) -> None:
    """Start VmHWM afresh (Linux: writing 5 to clear_refs); where that is not allowed it keeps the process' peak."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_memory_mib(pid: int) -> float | None:
    """The process' peak resident memory (VmHWM) in MiB, None when it cannot be read."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


async def baseline(dsn: str, target: str, path: Path) -> float:
    """COPY into an unindexed staging table, then one INSERT … ON CONFLICT … DO UPDATE."""
    cols = ", ".join(f'"{c[0]}"' for c in COLUMNS)
    updates = ", ".join(f'"{c[0]}" = EXCLUDED."{c[0]}"' for c in COLUMNS[1:])
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DROP TABLE IF EXISTS bench_staging")
        await conn.execute(f"CREATE UNLOGGED TABLE bench_staging (LIKE {target} INCLUDING DEFAULTS)")
        await conn.execute("CHECKPOINT")
        began = time.perf_counter()
        async with conn.transaction():
            await conn.copy_to_table("bench_staging", source=path, format="csv", header=True)
            await conn.execute(
                f"INSERT INTO {target} ({cols}) SELECT {cols} FROM bench_staging "
                f'ON CONFLICT ("ID") DO UPDATE SET {updates}'
            )
        elapsed = time.perf_counter() - began
        await conn.execute("DROP TABLE bench_staging")
        return elapsed
    finally:
        await conn.close()


async def prepare_baseline_table(dsn: str, job_table: str, initial: Path) -> str:
    """An identical table (same columns, types and key) holding the same initial rows."""
    target = "custom.bench_baseline"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {target}")
        await conn.execute(f'CREATE TABLE {target} (LIKE custom."{job_table}" INCLUDING ALL)')
        await conn.copy_to_table("bench_baseline", schema_name="custom", source=initial, format="csv", header=True)
        await conn.execute(f"VACUUM ANALYZE {target}")
        await conn.execute(f'VACUUM ANALYZE custom."{job_table}"')
    finally:
        await conn.close()
    return target


async def bench(rows: int) -> None:
    """Start the stack, prepare both tables, time both merges, print the ratio."""
    state = Path(tempfile.mkdtemp(prefix="connect-bench-"))
    stack = Stack(state)
    infra = stack.start()
    vault_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    env = service_env(infra, gateway_port=_proc.free_port(), vault_key=vault_key)
    apps = Services(state, env)
    try:
        apps.start()
        token = demo_token(state, apps.gateway_url, ensure_admin(state, env))
        data_dir = sftp_parts(infra["SFTP_TEST_URL"])[3] / "bench"
        data_dir.mkdir(parents=True, exist_ok=True)
        initial, update = data_dir / "initial.csv", data_dir / "update.csv"
        print(f"generating 2 × {rows:,} rows …", flush=True)
        write_csv(initial, 0, rows, seed=1)
        write_csv(update, rows // 2, rows, seed=2)  # half the keys overlap the initial rows
        audience = database_dsn(infra["DATABASE_URL"], "audience")
        auth = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=apps.gateway_url, timeout=60, headers=auth) as api:
            (await api.post("/api/v1/tables", json=table_body("bench_job"))).raise_for_status()
            seed_job = (await api.post("/api/v1/jobs", json=job_body("Bench seed", "bench_job", infra, initial))).json()
            seed_s, _ = await run_job(api, int(seed_job["job_id"]))
            print(f"seeded the job's table with {rows:,} rows through a job in {seed_s:.1f}s", flush=True)
            target = await prepare_baseline_table(audience, "bench_job", initial)
            bench_job = (
                await api.post("/api/v1/jobs", json=job_body("Bench merge", "bench_job", infra, update))
            ).json()
            runner = apps["runner"].pid
            if runner is not None:
                reset_peak_memory(runner)
            await checkpoint(audience)
            job_s, run = await run_job(api, int(bench_job["job_id"]))
        peak = peak_memory_mib(runner) if runner is not None else None
        base_s = await baseline(audience, target, update)
        print(
            f"job      {job_s:8.2f} s   (runner's own duration {int(str(run['duration_ms'])) / 1000:.2f} s; "
            f"counts {run['counts']})"
        )
        stages = stage_times(apps["runner"].log_file, str(run["run_key"]))
        print("         stages: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in stages))
        print(f"         runner peak memory (VmHWM): {'unknown' if peak is None else f'{peak:,.0f} MiB'}")
        print(f"baseline {base_s:8.2f} s   (COPY into unindexed staging + one INSERT … ON CONFLICT DO UPDATE)")
        print(f"ratio job/baseline = {job_s / base_s:.2f}")
    finally:
        apps.stop()
        stack.stop()


def main() -> None:
    """CLI."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    asyncio.run(bench(parser.parse_args().rows))


if __name__ == "__main__":
    main()
