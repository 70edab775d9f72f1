"""bench/import: 1,000,000-row merges through real jobs, each against its hand-written baseline.

Two cases, each starting both sides from identical 1,000,000-row targets and merging the same 1,000,000-row file,
half of whose keys already exist (so ~500,000 updates and ~500,000 inserts):

- custom:  a 10-column custom table keyed on ID. Baseline: COPY of the file into an unindexed staging table +
           one INSERT … ON CONFLICT (ID) DO UPDATE.
- profile: a profile list (unique indexes on RIID_, EMAIL_ADDRESS_ and CUSTOMER_ID_, plus the list's other
           indexes) merged on EMAIL_ADDRESS_ from a 10-column file. Baseline: COPY into staging + one
           INSERT … ON CONFLICT (EMAIL_ADDRESS_) DO UPDATE computing the same derived columns (lower-cased trimmed
           address, domain, MD5, SHA-256), default codes and dates in SQL.

The job side is timed from POST /jobs/{id}/run to the API reporting the run succeeded: RunRequested on Kafka →
runner (SFTP download, parse, COPY into staging, validation, one load transaction with rejects, log, ledger and
outbox) → catalog → API. Both timed parts start right after a CHECKPOINT, so neither pays for writing out what
came before it. After both, the two targets are compared (row count and a digest of their contents) so the
baseline is known to do the same work.

Prints both times and the ratio job/baseline per case, the job's stages as the runner logged them (transfer,
parse and stage, validate, load) and the runner's peak memory during the job (VmHWM, reset before it where the
kernel allows). Usage: `make bench` (or `python bench/import/run.py --rows N --case custom|profile|all`).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

from connect_devstack import Stack, _proc
from connect_devstack.app import demo_token, ensure_admin, sftp_parts
from connect_devstack.services import Services, service_env
from connect_runtime.settings import database_dsn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for bench.measure
from bench.measure import checkpoint, memory_mib, reset_peak_memory, run_job, stage_times

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


async def baseline(dsn: str, target: str, path: Path) -> float:
    """COPY into an unindexed staging table, then one INSERT … ON CONFLICT … DO UPDATE."""
    cols = ", ".join(f'"{c[0]}"' for c in COLUMNS)
    updates = ", ".join(f'"{c[0]}" = EXCLUDED."{c[0]}"' for c in COLUMNS[1:])
    return await timed_baseline(
        dsn,
        f"CREATE UNLOGGED TABLE bench_staging (LIKE {target} INCLUDING DEFAULTS)",
        f'INSERT INTO {target} ({cols}) SELECT {cols} FROM bench_staging ON CONFLICT ("ID") DO UPDATE SET {updates}',
        path,
    )


async def timed_baseline(dsn: str, create_staging: str, merge: str, path: Path) -> float:
    """Time COPY of `path` into the staging table `create_staging` makes, and `merge`, in one transaction."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DROP TABLE IF EXISTS bench_staging")
        await conn.execute(create_staging)
        await conn.execute("CHECKPOINT")
        began = time.perf_counter()
        async with conn.transaction():
            await conn.copy_to_table("bench_staging", source=path, format="csv", header=True)
            await conn.execute(merge)
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


# The profile case: a list's file columns, each with the list column it maps to and the staging column type.
PROFILE_COLUMNS = [
    ("email", "EMAIL_ADDRESS_"),
    ("customer", "CUSTOMER_ID_"),
    ("street", "POSTAL_STREET_1_"),
    ("city", "CITY_"),
    ("postcode", "POSTAL_CODE_"),
    ("country", "COUNTRY_"),
    ("tier", "TIER"),
    ("points", "POINTS"),
    ("joined", "JOINED"),
    ("active", "ACTIVE"),
]
PROFILE_CUSTOM = [
    {"name": "TIER", "type": "text", "max_length": 10},
    {"name": "POINTS", "type": "integer"},
    {"name": "JOINED", "type": "date"},
    {"name": "ACTIVE", "type": "boolean"},
]
TIERS = ["bronze", "silver", "gold", "platinum"]


def write_profile_csv(path: Path, first_key: int, rows: int, seed: int) -> None:
    """`rows` profiles with keys first_key…first_key+rows-1 (address and customer id follow the key)."""
    rng = random.Random(seed)
    with path.open("w") as out:
        out.write(",".join(c[0] for c in PROFILE_COLUMNS) + "\n")
        for key in range(first_key, first_key + rows):
            out.write(
                f"user{key}@Example.com,C{key},{rng.randrange(1, 999)} High Street,{CITIES[key % 8]},"
                f"PC{key % 9973},{'GB' if key % 2 else 'FR'},{TIERS[rng.randrange(4)]},{rng.randrange(100000)},"
                f"2024-{key % 12 + 1:02d}-{key % 28 + 1:02d},{'true' if rng.random() < 0.5 else 'false'}\n"
            )


def profile_job_body(name: str, members: str, infra: dict[str, str], path: Path) -> dict[str, object]:
    """An import-profile-data job merging `path` into the list `members` on EMAIL_ADDRESS_."""
    host, port, user, _, key = sftp_parts(infra["SFTP_TEST_URL"])
    return {
        "name": name,
        "type": "import_profile_data",
        "source": {"host": host, "port": port, "user": user, "path": str(path), "private_key": key.read_text()},
        "file": {"delimiter": ",", "qualifier": '"', "header": True, "encoding": "utf-8"},
        "target": {"list": members},
        "mapping": [{"source": source, "target": target} for source, target in PROFILE_COLUMNS],
        "activate": True,
    }


async def prepare_baseline_list(dsn: str, members: str) -> str:
    """A table like the list (same columns, identity, indexes) holding a copy of its rows, RIIDs included, its
    identity going on from the list's."""
    target = "lists.bench_baseline"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {target}")
        await conn.execute(f'CREATE TABLE {target} (LIKE lists."{members}" INCLUDING ALL)')
        await conn.execute(f'INSERT INTO {target} OVERRIDING SYSTEM VALUE SELECT * FROM lists."{members}"')
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{target}', 'RIID_'), (SELECT max(\"RIID_\") FROM {target}))"
        )
        await conn.execute(f"VACUUM ANALYZE {target}")
        await conn.execute(f'VACUUM ANALYZE lists."{members}"')
    finally:
        await conn.close()
    return target


async def profile_baseline(dsn: str, target: str, path: Path) -> float:
    """COPY into staging, then one INSERT … ON CONFLICT (EMAIL_ADDRESS_) DO UPDATE with the derived columns,
    default codes and dates computed in SQL."""
    staged = ", ".join(f"{source} text" for source, _ in PROFILE_COLUMNS)
    address = "lower(trim(s.email))"
    utf8 = f"convert_to({address}, 'UTF8')"
    values = {
        "EMAIL_ADDRESS_": address,
        "EMAIL_DOMAIN_": f"split_part({address}, '@', 2)",
        "EMAIL_MD5_HASH_": f"md5({utf8})",
        "EMAIL_SHA256_HASH_": f"encode(sha256({utf8}), 'hex')",
        "CUSTOMER_ID_": "s.customer",
        "POSTAL_STREET_1_": "s.street",
        "CITY_": "s.city",
        "POSTAL_CODE_": "s.postcode",
        "COUNTRY_": "s.country",
        "TIER": "s.tier",
        "POINTS": "s.points::bigint",
        "JOINED": "s.joined::date",
        "ACTIVE": "s.active::boolean",
        "EMAIL_PERMISSION_STATUS_": "'O'",  # the job's default codes
        "MOBILE_PERMISSION_STATUS_": "'O'",
        "EMAIL_FORMAT_": "'H'",
        "CREATED_DATE_": "(now() AT TIME ZONE 'UTC')",
        "MODIFIED_DATE_": "(now() AT TIME ZONE 'UTC')",
    }
    kept = ("EMAIL_ADDRESS_", "EMAIL_PERMISSION_STATUS_", "MOBILE_PERMISSION_STATUS_", "EMAIL_FORMAT_", "CREATED_DATE_")
    names = ", ".join(f'"{n}"' for n in values)
    updates = ", ".join(f'"{n}" = EXCLUDED."{n}"' for n in values if n not in kept)
    merge = (
        f"INSERT INTO {target} ({names}) SELECT {', '.join(values.values())} FROM bench_staging AS s"
        f' ON CONFLICT ("EMAIL_ADDRESS_") DO UPDATE SET {updates}'
    )
    return await timed_baseline(dsn, f"CREATE UNLOGGED TABLE bench_staging ({staged})", merge, path)


async def same_contents(dsn: str, first: str, second: str, columns: list[str]) -> bool:
    """Whether two tables hold the same rows in `columns` (count and an order-independent digest)."""
    listed = ", ".join(f'"{c}"' for c in columns)
    digest = f"SELECT count(*), sum(hashtext(row({listed})::text)::bigint) FROM {{}}"
    conn = await asyncpg.connect(dsn)
    try:
        return tuple(await conn.fetchrow(digest.format(first)) or ()) == tuple(
            await conn.fetchrow(digest.format(second)) or ()
        )
    finally:
        await conn.close()


class Bench:
    """The running stack, an API client logged in, and where the bench writes its files."""

    def __init__(self, api: httpx.AsyncClient, apps: Services, infra: dict[str, str], rows: int) -> None:
        self.api, self.apps, self.infra, self.rows = api, apps, infra, rows
        self.audience = database_dsn(infra["DATABASE_URL"], "audience")
        self.data_dir = sftp_parts(infra["SFTP_TEST_URL"])[3] / "bench"
        self.data_dir.mkdir(parents=True, exist_ok=True)

    async def create(self, path: str, body: dict[str, object]) -> dict[str, object]:
        answer = await self.api.post(path, json=body)
        if answer.status_code >= 300:
            raise RuntimeError(f"{path} refused: {answer.text}")
        created: dict[str, object] = answer.json()
        return created

    async def seed(self, body: dict[str, object], what: str) -> None:
        job = await self.create("/api/v1/jobs", body)
        seconds, _ = await run_job(self.api, int(str(job["job_id"])))
        print(f"seeded {what} with {self.rows:,} rows through a job in {seconds:.1f}s", flush=True)

    async def measure(self, body: dict[str, object]) -> tuple[float, dict[str, object], float | None]:
        """Run the job after a checkpoint: seconds, the run, the runner's peak memory in MiB."""
        job = await self.create("/api/v1/jobs", body)
        runner = self.apps["runner"].pid
        if runner is not None:
            reset_peak_memory(runner)
        await checkpoint(self.audience)
        seconds, run = await run_job(self.api, int(str(job["job_id"])))
        return seconds, run, memory_mib(runner, "VmHWM") if runner is not None else None

    def report(self, case: str, job: tuple[float, dict[str, object], float | None], base_s: float, same: bool) -> None:
        job_s, run, peak = job
        print(f"[{case}]")
        print(
            f"job      {job_s:8.2f} s   (runner's own duration {int(str(run['duration_ms'])) / 1000:.2f} s; "
            f"counts {run['counts']})"
        )
        stages = stage_times(self.apps["runner"].log_file, str(run["run_key"]))
        print("         stages: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in stages))
        print(f"         runner peak memory (VmHWM): {'unknown' if peak is None else f'{peak:,.0f} MiB'}")
        print(f"baseline {base_s:8.2f} s")
        print(f"targets identical after both merges: {'yes' if same else 'NO'}")
        print(f"ratio job/baseline = {job_s / base_s:.2f}", flush=True)

    async def custom(self) -> None:
        initial, update = self.data_dir / "initial.csv", self.data_dir / "update.csv"
        print(f"[custom] generating 2 × {self.rows:,} rows …", flush=True)
        write_csv(initial, 0, self.rows, seed=1)
        write_csv(update, self.rows // 2, self.rows, seed=2)  # half the keys overlap the initial rows
        await self.create("/api/v1/tables", table_body("bench_job"))
        await self.seed(job_body("Bench seed", "bench_job", self.infra, initial), "the custom table")
        target = await prepare_baseline_table(self.audience, "bench_job", initial)
        job = await self.measure(job_body("Bench merge", "bench_job", self.infra, update))
        base_s = await baseline(self.audience, target, update)
        same = await same_contents(self.audience, 'custom."bench_job"', target, [c[0] for c in COLUMNS])
        self.report("custom table, merge on ID", job, base_s, same)

    async def profile(self) -> None:
        initial, update = self.data_dir / "profiles_initial.csv", self.data_dir / "profiles_update.csv"
        print(f"[profile] generating 2 × {self.rows:,} profiles …", flush=True)
        write_profile_csv(initial, 0, self.rows, seed=1)
        write_profile_csv(update, self.rows // 2, self.rows, seed=2)
        await self.create("/api/v1/lists", {"name": "bench_members", "columns": PROFILE_CUSTOM})
        await self.seed(profile_job_body("Bench list seed", "bench_members", self.infra, initial), "the list")
        target = await prepare_baseline_list(self.audience, "bench_members")
        job = await self.measure(profile_job_body("Bench list merge", "bench_members", self.infra, update))
        base_s = await profile_baseline(self.audience, target, update)
        derived = ["EMAIL_DOMAIN_", "EMAIL_MD5_HASH_", "EMAIL_SHA256_HASH_"]
        derived += ["EMAIL_PERMISSION_STATUS_", "EMAIL_FORMAT_"]
        compared = [t for _, t in PROFILE_COLUMNS] + derived
        same = await same_contents(self.audience, 'lists."bench_members"', target, compared)
        self.report("profile list, merge on EMAIL_ADDRESS_", job, base_s, same)


async def bench(rows: int, cases: list[str]) -> None:
    """Start the stack, run each case, print its figures."""
    state = Path(tempfile.mkdtemp(prefix="connect-bench-"))
    stack = Stack(state)
    infra = stack.start()
    vault_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    env = service_env(infra, gateway_port=_proc.free_port(), vault_key=vault_key)
    apps = Services(state, env)
    try:
        apps.start()
        token = demo_token(state, apps.gateway_url, ensure_admin(state, env))
        auth = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=apps.gateway_url, timeout=60, headers=auth) as api:
            bench_ = Bench(api, apps, infra, rows)
            for case in cases:
                await getattr(bench_, case)()
    finally:
        apps.stop()
        stack.stop()


def main() -> None:
    """CLI."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--case", choices=["custom", "profile", "all"], default="all")
    arguments = parser.parse_args()
    cases = ["custom", "profile"] if arguments.case == "all" else [arguments.case]
    asyncio.run(bench(arguments.rows, cases))


if __name__ == "__main__":
    main()
