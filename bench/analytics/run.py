"""bench/analytics: a 1,000,000-hit daily analytics feed delivery imported by the runner, beside the plain CSV import
of the same rows and columns, in the same process against the same PostgreSQL and sshd.

The delivery is generated in the documented format (`tests/feed_generator.py`: a lookup archive, 4 `.tar.gz`
parts, the manifest last) on the SFTP server. Its job maps 8 feed columns (`hitid_high` as the key, `visit_num`,
`date_time`, `post_evar12`, `browser`, `country` and `post_event_list` as lookup labels, `post_pagename`) into an
empty custom table, dropping excluded and data-source hits. The CSV side is those loaded rows as a CSV file
(exported from the feed's table in the order they were loaded: the same values in the delivery's order, for a
key-sorted file would load faster), imported by a custom-table job into an identical empty table: the plain import
path (download, COPY-checked staging, validation, one load transaction).

Both runs go through `execute_run` with the same `RunDeps` (the runner's own code, without Kafka around it), each
timed from the request to its terminal event after a CHECKPOINT. Prints each run's time, the rows it loaded a
second, the feed's hits read a second, the ratio feed/CSV (issue 11's target: at least 0.7), each run's stages
as its execution log timed them, and checks the two tables hold the same rows.

Usage: `make bench-analytics` (or `python bench/analytics/run.py --hits N`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path
from uuid import uuid4

from connect_devstack import Stack
from connect_devstack.app import sftp_parts
from connect_events import (
    ColumnMapping,
    ColumnSpec,
    ColumnType,
    RunRequested,
    RunSucceeded,
    SftpLocation,
    TableSpec,
)
from connect_runner.adapters.ledger import PgRunLedger
from connect_runner.adapters.schema import RUNNER_DDL
from connect_runner.adapters.sftp import SftpFiles
from connect_runner.adapters.sources import Sources
from connect_runner.handlers import execute_run
from connect_runner.ports import RunDeps
from connect_runtime.db import ensure_database, open_pool
from connect_runtime.vault import VAULT_DDL, Credential, Vault, generate_key

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: tests' generator and builders
from bench.measure import checkpoint
from tests.feed_generator import generate
from tests.unit.runner.runner_builders import feed_request, run_request

FEED_MAPPING = (
    ("hitid_high", "HIT"),
    ("visit_num", "VISIT"),
    ("date_time", "AT"),
    ("post_evar12", "CUSTOMER_ID"),
    ("browser", "BROWSER"),
    ("country", "COUNTRY"),
    ("post_event_list", "EVENTS"),
    ("post_pagename", "PAGE"),
)
LABELS = ("browser", "country", "post_event_list")
STAGES_LOGGER = "connect_runner.progress"


def hits_table(name: str) -> TableSpec:
    text = ColumnType.TEXT
    return TableSpec(
        name=name,
        columns=(
            ColumnSpec(name="HIT", type=text, max_length=30),
            ColumnSpec(name="VISIT", type=ColumnType.INTEGER),
            ColumnSpec(name="AT", type=ColumnType.TIMESTAMP),
            ColumnSpec(name="CUSTOMER_ID", type=text, max_length=20),
            ColumnSpec(name="BROWSER", type=text, max_length=60),
            ColumnSpec(name="COUNTRY", type=text, max_length=40),
            ColumnSpec(name="EVENTS", type=text, max_length=200),
            ColumnSpec(name="PAGE", type=text, max_length=100),
        ),
        primary_key=("HIT",),
    )


class Bench:
    """One process: the runner's dependencies over the stack's PostgreSQL and sshd."""

    def __init__(self, deps: RunDeps, audience: str) -> None:
        self.deps, self.audience = deps, audience

    async def timed(self, request: RunRequested) -> tuple[float, RunSucceeded]:
        """Run `request` after a CHECKPOINT; its seconds from the request to its end, and its end."""
        await checkpoint(self.audience)
        began = time.perf_counter()
        ended = await execute_run(request, self.deps)
        elapsed = time.perf_counter() - began
        if not isinstance(ended, RunSucceeded):
            raise RuntimeError(f"the run did not succeed: {ended!r}")
        return elapsed, ended


class Stages(logging.Handler):
    """The execution-log entries the runner logs (`progress.Journal`): each stage of a run and how long it took."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seen: dict[str, list[tuple[str, float]]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        run, stage, took = (getattr(record, name, None) for name in ("run", "stage", "duration_ms"))
        if isinstance(run, str) and isinstance(stage, str) and isinstance(took, int):
            self.seen.setdefault(run, []).append((stage, took / 1000))

    def line(self, run: str) -> str:
        return ", ".join(f"{stage} {took:.1f} s" for stage, took in self.seen.get(run, []) if took >= 0.05)


STAGES = Stages()


async def bench(hits: int) -> None:
    logging.getLogger(STAGES_LOGGER).addHandler(STAGES)
    logging.getLogger(STAGES_LOGGER).setLevel(logging.INFO)
    state = Path(tempfile.mkdtemp(prefix="connect-bench-analytics-"))
    stack = Stack(state, components=["postgres", "sshd"])
    infra = stack.start()
    try:
        await _bench(infra, hits, state)
    finally:
        stack.stop()


async def _bench(infra: dict[str, str], hits: int, state: Path) -> None:
    host, port, user, data_dir, key = sftp_parts(infra["SFTP_TEST_URL"])
    audience = await ensure_database(infra["DATABASE_URL"], "bench_audience")
    vault_dsn = await ensure_database(infra["DATABASE_URL"], "bench_vault")
    pool = await open_pool(audience, RUNNER_DDL, max_size=4)
    vault_pool = await open_pool(vault_dsn, VAULT_DDL, max_size=2)
    try:
        vault = Vault(vault_pool, generate_key())
        ref = uuid4()
        await vault.store(ref, Credential(kind="private_key", secret=key.read_text()))
        host_key = infra["SFTP_TEST_HOST_KEY"]
        location = SftpLocation(
            host=host, port=port, user=user, path="", credential_ref=ref, host_key=host_key, host_key_fingerprint=""
        )
        work = state / "work"
        work.mkdir()
        deps = RunDeps(
            pool=pool,
            ledger=PgRunLedger(pool),
            vault=vault,
            files=Sources(SftpFiles(), None),
            work_dir=work,
            runner="bench:1",
        )
        folder = data_dir / "bench-feed"
        began = time.perf_counter()
        made = generate(folder, hits=hits, parts=4, seed=42)
        size = sum((folder / n).stat().st_size for n in (made.lookup, *made.parts))
        print(f"generated a {hits:,}-hit delivery in {time.perf_counter() - began:.0f} s ({size / 2**20:.1f} MiB)")

        feed_table, csv_table = hits_table("bench_feed"), hits_table("bench_csv")
        mapping = tuple(ColumnMapping(source=s, target=t) for s, t in FEED_MAPPING)
        feed = feed_request(
            1,
            1,
            source=location.model_copy(update={"path": str(folder)}),
            table=feed_table,
            columns=mapping,
            labels=LABELS,
            drop_data_source_hits=True,
        )
        runs = Bench(deps, audience)
        feed_s, feed_end = await runs.timed(feed)

        csv_path = data_dir / "bench-feed.csv"
        async with pool.acquire() as conn:
            await conn.copy_from_query('SELECT * FROM custom."bench_feed"', output=csv_path, format="csv", header=True)
        columns = tuple(ColumnMapping(source=c.name, target=c.name) for c in csv_table.columns)
        csv = run_request(
            2, 1, source=location.model_copy(update={"path": str(csv_path)}), table=csv_table, columns=columns
        )
        csv_s, csv_end = await runs.timed(csv)

        async with pool.acquire() as conn:
            same = await conn.fetchval(
                'SELECT NOT EXISTS (SELECT * FROM custom."bench_feed" EXCEPT SELECT * FROM custom."bench_csv")'
                ' AND NOT EXISTS (SELECT * FROM custom."bench_csv" EXCEPT SELECT * FROM custom."bench_feed")'
            )
        report(feed_s, feed_end, csv_s, csv_end, hits, bool(same))
        print(f"feed stages: {STAGES.line('1.1')}")
        print(f"csv stages:  {STAGES.line('2.1')}")
    finally:
        await pool.close()
        await vault_pool.close()


def report(feed_s: float, feed: RunSucceeded, csv_s: float, csv: RunSucceeded, hits: int, same: bool) -> None:
    feed_rows, csv_rows = feed.payload.counts.inserted, csv.payload.counts.inserted
    feed_rate, csv_rate = feed_rows / feed_s, csv_rows / csv_s
    print(f"feed: {hits:,} hits read, {feed.payload.counts.filtered:,} filtered, {feed_rows:,} rows loaded")
    print(f"  {feed_s:.1f} s: {feed_rate:,.0f} rows/s loaded, {hits / feed_s:,.0f} hits/s read")
    print(f"csv:  {csv_rows:,} rows loaded in {csv_s:.1f} s: {csv_rate:,.0f} rows/s")
    print(f"ratio feed/csv (rows loaded a second): {feed_rate / csv_rate:.2f} (target >= 0.70)")
    print(f"same rows in both tables: {'yes' if same else 'NO'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hits", type=int, default=1_000_000)
    asyncio.run(bench(parser.parse_args().hits))


if __name__ == "__main__":
    main()
