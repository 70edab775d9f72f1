"""Scale-out: many small import runs queued at once, taken by 1, 2 and 4 runner processes of one consumer group.

    make bench-scale                     # 400 runs of 10,000 rows, runners 1 2 4, 100 empty runs
    make bench-scale BENCH_ARGS="--runs 80 --rows 2000 --runners 1 2 --empty 20"   # a quick look

The whole stack runs as real processes on this machine (Kafka, PostgreSQL, scheduler, catalog, gateway, runners;
`connect.runs` with `--partitions` partitions). `--jobs` jobs (ten per custom table) read hosted files of
`--rows` rows each; every round empties the tables, asks for one run of each job through the REST API at once,
and waits until the catalog shows them all ended. It prints per round: runs per minute (first request to last
run ended), rows per second, how the runs spread over the runners, the CPU each process used (percent of one
core over the round, so the saturated one stands out), and the checks that nothing ran twice (every run one
attempt and succeeded, every table holding exactly its jobs' rows, one ledger row per run). Last, the overhead
of a run with nothing to load (a header-only file): from the request's event to the terminal event, p50/p99,
`--empty` runs one after another with one runner, beside the same figure for a 10,000-row run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from connect_devstack import _proc
from connect_devstack.app import demo_token, ensure_admin
from connect_devstack.services import Services, service_env, wait_ready
from connect_devstack.stack import Stack
from connect_runtime.settings import database_dsn

JOBS_PER_TABLE = 10
REQUEST_CONCURRENCY = 16
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def write_file(path: Path, first_key: int, rows: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        out.write("id,email,points\n")
        for key in range(first_key, first_key + rows):
            out.write(f"K{key},user{key}@example.com,{key % 997}\n")


def table_body(name: str) -> dict[str, object]:
    return {
        "name": name,
        "columns": [
            {"name": "ID", "type": "text", "max_length": 20},
            {"name": "EMAIL", "type": "text", "max_length": 100},
            {"name": "POINTS", "type": "integer"},
        ],
        "primary_key": ["ID"],
    }


def job_body(name: str, table: str, path: str) -> dict[str, object]:
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


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` and its reaped children so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / CLOCK_TICKS_PER_S


def processes(named: dict[str, int]) -> dict[str, list[int]]:
    """Each named process with its descendants (PostgreSQL's backends under its postmaster)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))

    def family(pid: int) -> list[int]:
        return [pid, *(p for child in children.get(pid, []) for p in family(child))]

    return {name: family(pid) for name, pid in named.items()}


@dataclass(frozen=True)
class Ticks:
    """The machine's CPU time by kind (from /proc/stat), in clock ticks."""

    busy: int
    iowait: int
    idle: int

    def __sub__(self, other: Ticks) -> Ticks:
        return Ticks(self.busy - other.busy, self.iowait - other.iowait, self.idle - other.idle)


def machine_cpu() -> Ticks:
    user, nice, system, idle, iowait, irq, softirq, steal = (
        int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return Ticks(user + nice + system + irq + softirq + steal, iowait, idle)


@dataclass
class Round:
    runners: int
    seconds: float
    runs: int
    rows: int
    spread: dict[str, int]
    cpu: dict[str, float]
    checks: list[tuple[str, bool]]
    phases: dict[str, float]
    machine: Ticks


class Scale:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.state = Path(tempfile.mkdtemp(prefix="connect-bench-scale-"))
        self.stack = Stack(self.state, ["kafka", "postgres", "sshd"])
        self.extra: list[subprocess.Popen[bytes]] = []
        self.empty_job = 0

    def start(self) -> None:
        infra = self.stack.start()
        self.infra = infra
        env = service_env(
            infra,
            gateway_port=_proc.free_port(),
            vault_key=base64.urlsafe_b64encode(os.urandom(32)).decode(),
            state_dir=self.state,
        )
        env["CONNECT_TOPIC_PARTITIONS"] = str(self.args.partitions)
        env["RUNNER_NAME"] = "runner-1"
        self.env = env
        self.apps = Services(self.state, env)
        self.apps.start()
        self.catalog = database_dsn(infra["DATABASE_URL"], "catalog")
        self.audience = database_dsn(infra["DATABASE_URL"], "audience")
        self.files = Path(env["CONNECT_FILES_ROOT"])

    def stop(self) -> None:
        self.set_runners(0)
        self.apps.stop()
        self.stack.stop()

    def set_runners(self, count: int) -> None:
        """`runner-1` is the stack's own; the others are started beside it in the same consumer group."""
        while len(self.extra) > max(0, count - 1):
            proc = self.extra.pop()
            _proc.terminate(proc.pid, timeout=15.0, proc=proc)
        while len(self.extra) < count - 1:
            name = f"runner-{len(self.extra) + 2}"
            port = _proc.free_port()
            env = {**os.environ, **self.env, "RUNNER_NAME": name, "RUNNER_METRICS_PORT": str(port)}
            log = self.state / "services" / f"{name}.log"
            proc = _proc.spawn([sys.executable, "-m", "connect_runner"], log_path=log, cwd=log.parent, env=env)
            self.extra.append(proc)
            wait_ready(f"http://127.0.0.1:{port}")

    def pids(self) -> dict[str, int]:
        """The process of every service, runner and infrastructure component now running."""
        found = {name: self.apps[name].pid for name in ("scheduler", "catalog", "gateway")}
        found["runner-1"] = self.apps["runner"].pid
        found |= {f"runner-{i + 2}": proc.pid for i, proc in enumerate(self.extra)}
        found["kafka"] = _proc.read_pid(self.state / "kafka" / "pid")
        found["postgres"] = _proc.read_pid(self.state / "postgres" / "data" / "postmaster.pid")
        return {name: pid for name, pid in found.items() if pid is not None}

    async def prepare(self, api: httpx.AsyncClient) -> tuple[list[int], list[str], int]:
        """The tables, files and jobs of the rounds, and the empty-run job."""
        tables = [f"scale_{i}" for i in range((self.args.jobs + JOBS_PER_TABLE - 1) // JOBS_PER_TABLE)]
        for slot in range(JOBS_PER_TABLE):  # job k of every table reads file k: its own keys in its table
            write_file(self.files / "slots" / f"scale_{slot}.csv", slot * self.args.rows, self.args.rows)
        write_file(self.files / "slots" / "scale_empty.csv", 0, 0)
        for table in [*tables, "scale_empty"]:
            (await api.post("/api/v1/tables", json=table_body(table))).raise_for_status()
        await self.visible(api, [f"/api/v1/tables/{t}" for t in tables])
        jobs: list[int] = []
        for index in range(self.args.jobs):
            table, slot = tables[index // JOBS_PER_TABLE], index % JOBS_PER_TABLE
            body = job_body(f"Scale {index}", table, f"upload/scale_{index}.csv")
            answer = await api.post("/api/v1/jobs", json=body)
            answer.raise_for_status()
            jobs.append(int(answer.json()["job_id"]))
        empty = await api.post("/api/v1/jobs", json=job_body("Scale empty", "scale_empty", "upload/scale_empty.csv"))
        empty.raise_for_status()
        self.empty_job = int(empty.json()["job_id"])
        await self.visible(api, [f"/api/v1/jobs/{j}" for j in [*jobs, empty.json()["job_id"]]])
        return jobs, tables, int(empty.json()["job_id"])

    def place(self, jobs: int) -> None:
        """Each job's file in upload/ (a hard link to its slot's): a hosted import archives the file it read."""
        for index in range(jobs):
            target = self.files / "upload" / f"scale_{index}.csv"
            target.unlink(missing_ok=True)
            os.link(self.files / "slots" / f"scale_{index % JOBS_PER_TABLE}.csv", target)

    def place_empty(self) -> None:
        target = self.files / "upload" / "scale_empty.csv"
        target.unlink(missing_ok=True)
        os.link(self.files / "slots" / "scale_empty.csv", target)

    async def visible(self, api: httpx.AsyncClient, urls: list[str]) -> None:
        for url in urls:
            for _ in range(600):
                if (await api.get(url)).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"{url} never showed")

    async def request_all(self, api: httpx.AsyncClient, jobs: list[int]) -> list[tuple[int, int]]:
        gate = asyncio.Semaphore(REQUEST_CONCURRENCY)

        async def one(job_id: int) -> tuple[int, int]:
            async with gate:
                answer = await api.post(f"/api/v1/jobs/{job_id}/run")
            if answer.status_code != 202:
                raise RuntimeError(f"run of job {job_id} refused: {answer.status_code} {answer.text}")
            return job_id, int(answer.json()["run_id"])

        return list(await asyncio.gather(*(one(j) for j in jobs)))

    async def wait_ended(self, conn: asyncpg.Connection, runs: list[tuple[int, int]]) -> None:
        wanted = len(runs)
        while True:
            ended = await conn.fetchval(
                "SELECT count(*) FROM runs r JOIN unnest($1::bigint[], $2::int[]) AS w(j, n)"
                " ON r.job_id = w.j AND r.run_id = w.n WHERE r.status IN ('succeeded', 'failed', 'stopped', 'skipped')",
                [j for j, _ in runs],
                [n for _, n in runs],
            )
            if ended == wanted:
                return
            await asyncio.sleep(0.2)

    async def round(self, api: httpx.AsyncClient, runners: int, jobs: list[int], tables: list[str]) -> Round:
        self.set_runners(runners)
        await asyncio.sleep(self.args.settle)  # the group rebalanced onto its members before the clock starts
        audience = await asyncpg.connect(self.audience)
        catalog = await asyncpg.connect(self.catalog)
        try:
            for table in tables:
                await audience.execute(f'TRUNCATE custom."{table}"')
            self.place(len(jobs))
            await audience.execute("CHECKPOINT")
            named = self.pids()
            groups = processes(named)
            before = {name: sum(cpu_s(p) for p in pids) for name, pids in groups.items()}
            machine = machine_cpu()
            began = time.perf_counter()
            runs = await self.request_all(api, jobs)
            accepted = time.perf_counter() - began
            await self.wait_ended(catalog, runs)
            seconds = time.perf_counter() - began
            groups = processes(named)
            after = {name: sum(cpu_s(p) for p in pids) for name, pids in groups.items()}
            keys = ([j for j, _ in runs], [n for _, n in runs])
            rows = await catalog.fetch(
                "SELECT runner, status, attempt, rows_read, duration_ms,"
                " extract(epoch FROM started_at - requested_at) AS waited_s,"
                " extract(epoch FROM requested_at) AS requested_s"
                " FROM runs r JOIN unnest($1::bigint[], $2::int[]) AS w(j, n)"
                " ON r.job_id = w.j AND r.run_id = w.n",
                *keys,
            )
            started = await catalog.fetchval(
                "SELECT count(*) FROM run_log l JOIN unnest($1::bigint[], $2::int[]) AS w(j, n)"
                " ON l.job_id = w.j AND l.run_id = w.n WHERE l.message LIKE 'Started attempt%'",
                *keys,
            )
            ledger = await audience.fetchval(
                "SELECT count(*) FROM run_ledger l JOIN unnest($1::bigint[], $2::int[]) AS w(j, n)"
                " ON l.job_id = w.j AND l.run_id = w.n",
                *keys,
            )
            expected = {t: JOBS_PER_TABLE * self.args.rows for t in tables}
            expected[tables[-1]] = (len(jobs) - JOBS_PER_TABLE * (len(tables) - 1)) * self.args.rows
            held = {t: await audience.fetchval(f'SELECT count(*) FROM custom."{t}"') for t in tables}
        finally:
            await audience.close()
            await catalog.close()
        spread: dict[str, int] = {}
        for row in rows:
            spread[row["runner"]] = spread.get(row["runner"], 0) + 1
        checks = [
            ("every run succeeded", all(r["status"] == "succeeded" for r in rows) and len(rows) == len(jobs)),
            ("every run one attempt, started once", all(r["attempt"] == 1 for r in rows) and started == len(jobs)),
            ("one ledger row per run", ledger == len(jobs)),
            ("every table holds exactly its jobs' rows", held == expected),
        ]
        cpu = {name: 100 * (after[name] - before[name]) / seconds for name in before}
        requested = [float(r["requested_s"]) for r in rows]
        phases = {
            "all accepted by the API": accepted,
            "requests decided over": max(requested) - min(requested),
            "mean wait request to start": statistics.fmean(float(r["waited_s"]) for r in rows),
            "mean run duration": statistics.fmean(int(r["duration_ms"]) / 1000 for r in rows),
        }
        rows_read = sum(r["rows_read"] for r in rows)
        return Round(runners, seconds, len(jobs), rows_read, spread, cpu, checks, phases, machine_cpu() - machine)

    async def overhead(self, api: httpx.AsyncClient, job_id: int, count: int) -> list[float]:
        """Milliseconds from each run's request event to its terminal event, runs one after another."""
        catalog = await asyncpg.connect(self.catalog)
        try:
            for _ in range(count):
                if job_id == self.empty_job:
                    self.place_empty()
                else:
                    self.place(1)
                answer = await api.post(f"/api/v1/jobs/{job_id}/run")
                answer.raise_for_status()
                await self.wait_ended(catalog, [(job_id, int(answer.json()["run_id"]))])
            found = await catalog.fetch(
                "SELECT extract(epoch FROM finished_at - requested_at) * 1000 AS ms,"
                " extract(epoch FROM started_at - requested_at) * 1000 AS queued_ms, status FROM runs"
                " WHERE job_id = $1 ORDER BY run_id DESC LIMIT $2",
                job_id,
                count,
            )
        finally:
            await catalog.close()
        if any(r["status"] != "succeeded" for r in found):
            raise RuntimeError(f"a run of job {job_id} did not succeed")
        queued = [float(r["queued_ms"]) for r in found]
        p50, p99 = percentile(queued, 0.5), percentile(queued, 0.99)
        print(f"  (of which request to start: p50 {p50:.0f} ms, p99 {p99:.0f} ms)")
        return [float(r["ms"]) for r in found]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(result: Round, baseline: Round) -> None:
    per_min = result.runs / result.seconds * 60
    base_per_min = baseline.runs / baseline.seconds * 60
    print(f"[{result.runners} runner{'s' if result.runners > 1 else ''}]")
    print(
        f"  {result.runs} runs in {result.seconds:.1f} s: {per_min:.0f} runs/min, {result.rows / result.seconds:,.0f} "
        f"rows/s; ratio to 1 runner {per_min / base_per_min:.2f}"
    )
    print("  runs per runner: " + ", ".join(f"{k} {v}" for k, v in sorted(result.spread.items())))
    busiest = max(result.cpu, key=lambda k: result.cpu[k])
    per_run = {k: v / 100 * result.seconds / result.runs * 1000 for k, v in result.cpu.items()}
    print(
        "  CPU % of one core: "
        + ", ".join(f"{k} {v:.0f}" for k, v in sorted(result.cpu.items(), key=lambda kv: -kv[1]))
        + f"  (busiest: {busiest}; {os.cpu_count()} cores)"
    )
    print("  CPU ms per run: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(per_run.items(), key=lambda kv: -kv[1])))
    total = result.machine.busy + result.machine.iowait + result.machine.idle or 1
    print(
        f"  machine: busy {100 * result.machine.busy / total:.0f}%, iowait {100 * result.machine.iowait / total:.0f}%,"
        f" idle {100 * result.machine.idle / total:.0f}%; "
        + ", ".join(f"{k} {v:.2f} s" for k, v in result.phases.items())
    )
    for what, ok in result.checks:
        print(f"  {'ok ' if ok else 'FAIL'} {what}")
    sys.stdout.flush()


async def bench(args: argparse.Namespace) -> None:
    scale = Scale(args)
    scale.start()
    try:
        token = demo_token(scale.state, scale.apps.gateway_url, ensure_admin(scale.state, scale.env))
        auth = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=scale.apps.gateway_url, timeout=120, headers=auth) as api:
            print(f"preparing {args.jobs} jobs of {args.rows:,} rows ({args.partitions} partitions) …", flush=True)
            jobs, tables, empty = await scale.prepare(api)
            results: list[Round] = []
            for runners in args.runners:
                results.append(await scale.round(api, runners, jobs, tables))
                report(results[-1], results[0])
            scale.set_runners(1)
            await asyncio.sleep(args.settle)
            empty_ms = await scale.overhead(api, empty, args.empty)
            full_ms = await scale.overhead(api, jobs[0], min(args.empty, 20))
        print(
            f"[run overhead, nothing to load] {len(empty_ms)} runs: p50 {percentile(empty_ms, 0.5):.0f} ms, "
            f"p99 {percentile(empty_ms, 0.99):.0f} ms, mean {statistics.fmean(empty_ms):.0f} ms "
            f"(request event to terminal event; target p99 < 500 ms)"
        )
        ratio = percentile(empty_ms, 0.5) / percentile(full_ms, 0.5)
        print(
            f"[a {args.rows:,}-row run alone] {len(full_ms)} runs: p50 {percentile(full_ms, 0.5):.0f} ms, "
            f"p99 {percentile(full_ms, 0.99):.0f} ms; ratio p50 empty/full {ratio:.2f}"
        )
        failed = [what for r in results for what, ok in r.checks if not ok]
        if failed:
            raise SystemExit(f"checks failed: {failed}")
    finally:
        scale.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=400, help="runs per round (one per job)")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--runners", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--partitions", type=int, default=8, help="partitions of connect.runs")
    parser.add_argument("--empty", type=int, default=100, help="runs with nothing to load, for the overhead")
    parser.add_argument("--settle", type=float, default=8.0, help="seconds for the group to rebalance")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
