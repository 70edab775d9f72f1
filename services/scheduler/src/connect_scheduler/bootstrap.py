"""The one place that builds real adapters: database, topics, producer, command and run consumers, ticker,
notifier and its senders, outbox relay."""

from __future__ import annotations

import logging
from contextlib import suppress
from functools import partial

import httpx

from connect_events import COMMANDS_TOPIC, RUNS_TOPIC
from connect_runtime.db import ensure_database, open_pool
from connect_runtime.kafka import ensure_topics, make_producer
from connect_runtime.lifecycle import run_until_stopped
from connect_runtime.observability import OperationsServer
from connect_runtime.offsets import TransactionalConsumer
from connect_runtime.outbox import OutboxRelay
from connect_scheduler.adapters import job_store
from connect_scheduler.adapters.schema import SCHEDULER_DDL
from connect_scheduler.adapters.smtp import SmtpSender, SmtpServer, no_smtp_server
from connect_scheduler.adapters.webhook import WebhookSender, webhook_client
from connect_scheduler.config import SchedulerSettings
from connect_scheduler.domain.notifications import Channel
from connect_scheduler.entrypoints.commands import on_command_record
from connect_scheduler.entrypoints.notifier import Notifier, Sender
from connect_scheduler.entrypoints.runs import on_run_records
from connect_scheduler.entrypoints.ticker import Ticker, utc_now

log = logging.getLogger(__name__)


async def prepare_database(server_url: str, database: str) -> str:
    """Create the scheduler's database and tables when missing, and the run rows of jobs stored before those
    were kept (idempotent); returns its DSN."""
    dsn = await ensure_database(server_url, database)
    pool = await open_pool(dsn, SCHEDULER_DDL, max_size=1)
    try:
        async with pool.acquire() as conn:
            await job_store.backfill(conn)
    finally:
        await pool.close()
    return dsn


async def run(settings: SchedulerSettings) -> None:
    """Consume commands and run events and relay the outbox until SIGTERM/SIGINT, then drain and close."""
    dsn = await prepare_database(settings.database_url, settings.database)
    pool = await open_pool(dsn, max_size=5)
    producer = make_producer(settings.kafka_bootstrap_servers)
    http = webhook_client()
    try:
        await ensure_topics(settings.kafka_bootstrap_servers, settings.topic_partitions)
        await producer.start()
        consumer = TransactionalConsumer(
            bootstrap=settings.kafka_bootstrap_servers,
            group=settings.consumer_group,
            topics=[COMMANDS_TOPIC],
            pool=pool,
            handler=partial(on_command_record, policy=settings.policy),
            dead_letters=producer,
        )
        runs = TransactionalConsumer(
            bootstrap=settings.kafka_bootstrap_servers,
            group=settings.runs_consumer_group,
            topics=[RUNS_TOPIC],
            pool=pool,
            batch_handler=on_run_records,
            dead_letters=producer,
        )
        ticker = Ticker(
            pool,
            interval_s=settings.tick_interval_s,
            batch_size=settings.tick_batch_size,
            cache_size=settings.state_cache_size,
        )
        notifier = Notifier(pool, notification_senders(settings, http))
        relay = OutboxRelay(dsn, producer)
        operations = OperationsServer(settings.metrics_port, consumer.readiness_checks())

        def stop() -> None:
            operations.stop()
            consumer.stop()
            runs.stop()
            ticker.stop()
            notifier.stop()
            relay.stop()

        log.info(
            "scheduler started",
            extra={
                "consumer_group": settings.consumer_group,
                "runs_consumer_group": settings.runs_consumer_group,
                "database": settings.database,
                "topics": [COMMANDS_TOPIC, RUNS_TOPIC],
            },
        )
        tasks = [consumer.run(), runs.run(), ticker.run(), notifier.run(), relay.run(), operations.run()]
        await run_until_stopped(tasks, stop)
    finally:
        # The relay has flushed what it sent; anything still in the outbox is published on next start.
        with suppress(Exception):
            await producer.stop()
        await http.aclose()
        await pool.close()
        log.info("scheduler stopped")


def notification_senders(settings: SchedulerSettings, http: httpx.AsyncClient) -> dict[Channel, Sender]:
    """The email and webhook senders the settings describe; says at start what will not be sent or signed."""
    if settings.smtp_host is None:
        log.warning("no SMTP server is configured (CONNECT_SMTP_HOST): email notifications will fail")
        email: Sender = no_smtp_server
    else:
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        server = SmtpServer(
            host=settings.smtp_host,
            port=settings.smtp_server_port,
            sender=settings.smtp_from,
            user=settings.smtp_user,
            password=password,
            starttls=settings.smtp_starttls_required,
            tls=settings.smtp_tls,
        )
        email = SmtpSender(server, settings.public_url)
    # An empty key would sign with nothing: it counts as none.
    key = settings.webhook_signing_key.get_secret_value().encode() if settings.webhook_signing_key else None
    if not key:
        log.warning("no webhook signing key is configured (CONNECT_WEBHOOK_SIGNING_KEY): webhooks are sent unsigned")
        key = None
    private = settings.webhook_allow_private
    if private:
        log.warning("webhooks may reach private and local addresses (CONNECT_WEBHOOK_ALLOW_PRIVATE)")
    webhook = WebhookSender(http, settings.public_url, key, utc_now, allow_private=private)
    return {"email": email, "webhook": webhook}
