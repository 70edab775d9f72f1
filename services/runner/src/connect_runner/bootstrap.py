"""The one place that builds the runner's real adapters and wires its tasks together."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import partial

import asyncpg
from aiokafka import AIOKafkaProducer

from connect_events import RUNS_TOPIC, TABLES_TOPIC
from connect_runner.adapters.hosted import HostedFiles
from connect_runner.adapters.ledger import PgRunLedger
from connect_runner.adapters.schema import RUNNER_DDL
from connect_runner.adapters.sftp import SftpFiles
from connect_runner.adapters.sources import Sources
from connect_runner.adapters.staging import drop_ended_staging
from connect_runner.adapters.work_dir import claimed_work_dir
from connect_runner.config import RunnerSettings
from connect_runner.entrypoints.reaper import Reaper
from connect_runner.entrypoints.retries import RetryPoller
from connect_runner.entrypoints.run_consumer import RunConsumer
from connect_runner.entrypoints.slots import Slots
from connect_runner.entrypoints.stop_records import handle_stop_record
from connect_runner.entrypoints.table_records import handle_table_record
from connect_runner.handlers import (
    Retry,
    continue_retry,
    execute_run,
    fail_unreadable,
    reap_lost_runs,
    take_up_retries,
)
from connect_runner.ports import RunDeps
from connect_runtime.db import ensure_database, open_pool
from connect_runtime.kafka import ensure_topics, make_consumer, make_producer
from connect_runtime.lifecycle import run_until_stopped
from connect_runtime.observability import OperationsServer
from connect_runtime.offsets import TransactionalConsumer
from connect_runtime.outbox import OutboxRelay
from connect_runtime.vault import VAULT_DDL, Vault

log = logging.getLogger(__name__)

# A run may hold its partition for hours; polling goes on meanwhile, so this is only a backstop.
MAX_POLL_INTERVAL_MS = 30 * 60 * 1000
# A killed runner's partitions move on after this long (the event loop is never blocked for more than ~0.1 s).
SESSION_TIMEOUT_MS = 10_000
HEARTBEAT_INTERVAL_MS = 3_000
# Time for the rebalance listener to cancel runs whose partition moved (a rollback, usually instant).
REBALANCE_TIMEOUT_MS = 60_000
# A partition resumed after its run (the next request of the same job waits there) is fetched only once the
# fetch in flight returns: the broker holds an idle fetch this long. Kafka's 500 ms default made a job's next run
# start up to ~0.8 s late; 100 ms costs an empty fetch ten times a second.
FETCH_MAX_WAIT_MS = 100


def runner_name(settings: RunnerSettings) -> str:
    """The host name unless configured: says where a run was taken, in words users see (`RunStarted`).

    Nothing relies on it being unique: attempts are told apart by their number in the ledger, and each process
    holds a download folder of its own (`runner-<uuid>`, locked while it lives). Operators who run several
    runners on one host and want to tell them apart give each a `RUNNER_NAME`; the log line `runner started`
    pairs the name with the process id and folder.
    """
    return settings.runner_name or socket.gethostname()


def sources(settings: RunnerSettings) -> Sources:
    """External SFTP servers, and the hosted tree when the runner sees it (`CONNECT_FILES_ROOT`)."""
    root = settings.files_root
    hosted = None if root is None else HostedFiles(root, ready_poll_s=settings.ready_poll_s)
    return Sources(SftpFiles(ready_poll_s=settings.ready_poll_s), hosted)


@dataclass(frozen=True)
class Databases:
    """DSNs of the databases the runner uses."""

    audience: str
    vault: str


async def prepare(settings: RunnerSettings) -> Databases:
    """Create the databases and topics when missing."""
    audience = await ensure_database(settings.database_url, settings.audience_database)
    vault = await ensure_database(settings.database_url, settings.vault_database)
    await ensure_topics(settings.kafka_bootstrap_servers, settings.topic_partitions)
    return Databases(audience=audience, vault=vault)


@dataclass(frozen=True)
class Runner:
    """The runner's long-lived parts."""

    runs: RunConsumer
    tables: TransactionalConsumer
    stops: TransactionalConsumer
    reaper: Reaper
    retries: RetryPoller[Retry]
    relay: OutboxRelay
    deps: RunDeps


@asynccontextmanager
async def runner(settings: RunnerSettings, databases: Databases) -> AsyncIterator[Runner]:
    """Open pools and the producer, build the consumers and the relay; close everything on exit."""
    async with AsyncExitStack() as stack:
        pool = await _pool(stack, databases.audience, RUNNER_DDL, settings.concurrency * 2 + 4)
        vault_pool = await _pool(stack, databases.vault, VAULT_DDL, 2)
        producer = make_producer(settings.kafka_bootstrap_servers)
        await producer.start()
        stack.push_async_callback(producer.stop)
        work_dir = stack.enter_context(claimed_work_dir(settings.work_dir))
        await _sweep_staging(pool)
        name = runner_name(settings)
        log.info("runner started", extra={"runner": name, "pid": os.getpid(), "work_dir": str(work_dir)})
        ledger = PgRunLedger(pool)
        deps = RunDeps(
            pool=pool,
            ledger=ledger,
            vault=Vault(vault_pool, settings.vault_key.get_secret_value()),
            files=sources(settings),
            work_dir=work_dir,
            runner=name,
            work_mem=settings.work_mem,
            max_attempts=settings.max_attempts,
            run_timeout_s=settings.run_timeout_s,
            lock_timeout_s=settings.lock_timeout_s,
            abandon_after_s=settings.abandon_after_s,
            api_backoff_s=settings.api_backoff_s,
        )
        slots = Slots(settings.concurrency)  # requested runs and retried ones together
        yield Runner(
            runs=_run_consumer(settings, deps, producer, slots),
            tables=TransactionalConsumer(
                bootstrap=settings.kafka_bootstrap_servers,
                group=settings.tables_consumer_group,
                topics=[TABLES_TOPIC],
                pool=pool,
                handler=handle_table_record,
                dead_letters=producer,
            ),
            stops=TransactionalConsumer(
                bootstrap=settings.kafka_bootstrap_servers,
                group=settings.stops_consumer_group,
                topics=[RUNS_TOPIC],
                pool=pool,
                handler=partial(handle_stop_record, ledger),
                dead_letters=producer,
            ),
            reaper=Reaper(lambda: reap_lost_runs(deps), settings.reap_interval_s),
            retries=RetryPoller(
                lambda limit: take_up_retries(deps, limit),
                lambda retry: continue_retry(retry, deps),
                slots,
                settings.retry_poll_s,
                settings.drain_grace_s,
            ),
            relay=OutboxRelay(databases.audience, producer),
            deps=deps,
        )


async def _sweep_staging(pool: asyncpg.Pool) -> None:
    """Staging tables a run could not drop when it ended (best-effort then, and best-effort now)."""
    try:
        dropped = await drop_ended_staging(pool)
    except Exception as exc:  # leftovers cost disk space only; they must not keep the runner from starting
        log.warning("staging sweep failed", extra={"error": str(exc)})
        return
    if dropped:
        log.info("staging tables of ended runs dropped", extra={"count": dropped})


async def _pool(stack: AsyncExitStack, dsn: str, ddl: str, size: int) -> asyncpg.Pool:
    pool = await open_pool(dsn, ddl, max_size=size)
    stack.push_async_callback(pool.close)
    return pool


def _run_consumer(settings: RunnerSettings, deps: RunDeps, producer: AIOKafkaProducer, slots: Slots) -> RunConsumer:
    consumer = make_consumer(
        settings.kafka_bootstrap_servers,
        settings.consumer_group,
        max_poll_interval_ms=MAX_POLL_INTERVAL_MS,
        session_timeout_ms=SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
        rebalance_timeout_ms=REBALANCE_TIMEOUT_MS,
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
    )
    return RunConsumer(
        consumer=consumer,
        execute=lambda request: execute_run(request, deps),
        reject=lambda request: fail_unreadable(request, deps),
        slots=slots,
        drain_grace_s=settings.drain_grace_s,
        dead_letters=producer,
    )


async def serve(settings: RunnerSettings) -> None:
    """Reap lost runs, then run until SIGTERM/SIGINT: stop taking runs and retries, let running ones finish (or
    cancel them after the grace period: requests are redelivered, retried attempts resumed by another runner's
    poller), then stop the relay once no more events can appear."""
    databases = await prepare(settings)
    async with runner(settings, databases) as parts:
        # Before any request is taken: a run left by a runner that died while none was alive ends lost, and its
        # redelivered request then finds it ended.
        await parts.reaper.reap_once()
        # Everything built so far lives as long as the process: keep it out of the collector's full scans,
        # which a load's millions of short-lived row tuples would otherwise trigger again and again.
        gc.freeze()

        async def runs_then_relay() -> None:
            try:
                async with asyncio.TaskGroup() as executing:
                    executing.create_task(parts.runs.run())
                    executing.create_task(parts.retries.run())
            finally:
                parts.relay.stop()

        operations = OperationsServer(settings.metrics_port, parts.tables.readiness_checks())

        def stop() -> None:
            operations.stop()
            parts.runs.stop()
            parts.retries.stop()
            parts.tables.stop()
            parts.stops.stop()
            parts.reaper.stop()

        tasks = [runs_then_relay(), parts.tables.run(), parts.stops.run(), parts.reaper.run(), parts.relay.run()]
        tasks.append(operations.run())
        await run_until_stopped(tasks, stop)
