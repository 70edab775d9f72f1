"""Notifications end to end on real peers: run events on Kafka consumed into PostgreSQL queue the deliveries a
run's end owes, exactly once, and the notifier sends them to a real SMTP server (aiosmtpd) and a local HTTP
receiver, retrying a failure until it passes and giving up on a refusal. A group run's end queues its group's
deliveries wherever it is recorded (a member run's end, a run-now, a scheduled fire), apart from its members'."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiosmtpd.smtp import SMTP, Envelope, Session

from connect_events import (
    Command,
    CommandAccepted,
    CreateGroup,
    CreateGroupPayload,
    Cron,
    Event,
    GroupDefinition,
    Notifications,
    RunCounts,
    RunEndedPayload,
    RunFailed,
    RunFailedPayload,
    RunGroupNow,
    RunGroupNowPayload,
    RunStatus,
    RunSucceeded,
    encode,
    run_key,
)
from connect_runtime.db import Conn
from connect_runtime.retry import RetryPolicy
from connect_scheduler.adapters import notifications
from connect_scheduler.adapters.notifications import NOTIFICATIONS_DDL
from connect_scheduler.adapters.smtp import SmtpSender, SmtpServer
from connect_scheduler.adapters.webhook import WebhookSender
from connect_scheduler.domain.notifications import GroupRunNotice, RunNotice
from connect_scheduler.entrypoints.notifier import Notifier
from connect_scheduler.entrypoints.runs import on_run_record
from connect_scheduler.entrypoints.ticker import GROUPS, tick, utc_now
from connect_scheduler.policy import Policy
from tests.integration.scheduler.runs_consumer import runs_consumer
from tests.integration.scheduler.scheduler_commands import (
    T0,
    create_job,
    define_table,
    definition,
    last_request,
    meta,
    run_logged,
    run_now,
    run_started,
)
from tests.integration.scheduler.test_scheduler_handlers import accept as accept_under
from tests.integration.scheduler.test_scheduler_run_view import offset_reached, record, send
from tests.polling import until

pytestmark = pytest.mark.integration

KEY = b"integration-signing-key-0123456789"
PUBLIC = "http://connect.test"
EMAILS = ("ops@example.com", "data@example.com")
QUICK_DELIVERY = RetryPolicy(initial_s=0.05, max_s=0.1, jitter_s=0.01, max_attempts=3)
DELIVERIES = "SELECT channel, status, attempts, last_error FROM notifications ORDER BY channel"
DELIVERY_ID = "SELECT delivery_id::text FROM notifications WHERE channel = $1"


# The receiver listens on loopback: these tests run as an operator who allows private webhook receivers.
ALLOW_PRIVATE = Policy(allow_private_webhooks=True)


async def accept(conn: Conn, command: Command) -> CommandAccepted:
    return await accept_under(conn, command, ALLOW_PRIVATE)


@dataclass
class Mailbox:
    """An aiosmtpd handler keeping what it accepted; it refuses recipients in `refuse` with a 550."""

    refuse: set[str] = field(default_factory=set)
    messages: list[tuple[Envelope, Message]] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append((envelope, message_from_bytes(envelope.content)))
        return "250 Message accepted"


@dataclass
class Receiver:
    """A minimal HTTP/1.1 receiver: answers each request with the next of `answers` (the last one repeats)."""

    answers: list[int]
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        status = self.answers[min(len(self.requests), len(self.answers) - 1)]
        self.requests.append((headers, body))
        writer.write(f"HTTP/1.1 {status} Answer\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()


@pytest.fixture
async def mailbox() -> AsyncIterator[tuple[Mailbox, int]]:
    """A real SMTP server on a free loopback port, in the test's loop."""
    box = Mailbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(box, hostname="smtp.test", loop=loop), "127.0.0.1", 0)
    yield box, server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


@pytest.fixture
def answers() -> list[int]:
    return [200]


@pytest.fixture
async def receiver(answers: list[int]) -> AsyncIterator[Receiver]:
    box = Receiver(answers)
    server = await asyncio.start_server(box.handle, "127.0.0.1", 0)
    box.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hooks/connect?token=t"
    yield box
    server.close()
    await server.wait_closed()


@pytest.fixture
async def notifier(pool: asyncpg.Pool, mailbox: tuple[Mailbox, int]) -> AsyncIterator[Notifier]:
    """A notifier on the real SMTP server and HTTP client, not yet running."""
    _, port = mailbox
    smtp = SmtpServer(host="127.0.0.1", port=port, sender="connect@example.com", starttls=False, timeout_s=5)
    async with httpx.AsyncClient(timeout=5) as http:
        webhook = WebhookSender(http, PUBLIC, KEY, utc_now, allow_private=True)  # the receiver is on loopback
        senders = {"email": SmtpSender(smtp, PUBLIC), "webhook": webhook}
        yield Notifier(pool, senders, interval_s=0.05, retry=QUICK_DELIVERY)  # type: ignore[arg-type]


@pytest.fixture
async def clean(conn: Conn) -> Conn:
    await conn.execute("TRUNCATE notifications, run_notice_settings")
    return conn


@pytest.fixture
async def runs_topic(kafka_bootstrap: str, pool: asyncpg.Pool, producer: AIOKafkaProducer) -> AsyncIterator[str]:
    """A fresh runs topic with the scheduler's runs consumer on it."""
    async with runs_consumer(kafka_bootstrap, pool, producer, "sched.notify") as topic:
        yield topic


@pytest.fixture
async def running_notifier(notifier: Notifier) -> AsyncIterator[Notifier]:
    """The notifier's own loop, running for the test."""
    task = asyncio.create_task(notifier.run())
    yield notifier
    notifier.stop()
    await asyncio.wait_for(task, 15)


async def given_job(conn: Conn, settings: Notifications) -> int:
    await accept(conn, define_table())
    job = definition().model_copy(update={"notifications": settings})
    reply = await accept(conn, create_job(job, activate=True))
    await conn.execute("TRUNCATE outbox")
    return int(reply.payload.target_id)


def run_failed(job_id: int, run_id: int) -> RunFailed:
    payload = RunFailedPayload(
        job_id=job_id,
        run_id=run_id,
        counts=RunCounts(rows_read=10, inserted=4, rejected=6),
        started_at=T0,
        finished_at=T0,
        code="LOAD_FAILED",
        error="too many rejected rows",
    )
    return RunFailed(**_meta(job_id, run_id), payload=payload)


def run_succeeded(job_id: int, run_id: int) -> RunSucceeded:
    payload = RunEndedPayload(job_id=job_id, run_id=run_id, counts=RunCounts(), started_at=T0, finished_at=T0)
    return RunSucceeded(**_meta(job_id, run_id), payload=payload)


def _meta(job_id: int, run_id: int) -> dict[str, Any]:
    return {
        "event_id": uuid4(),
        "aggregate_id": run_key(job_id, run_id),
        "aggregate_version": 3,
        "occurred_at": T0,
        "actor": "runner",
        "correlation_id": uuid4(),
    }


async def deliveries(conn: Conn) -> list[tuple[str, str, int, str | None]]:
    return [tuple(r) for r in await conn.fetch(DELIVERIES)]  # type: ignore[misc]


async def all_finished(conn: Conn, count: int) -> bool:
    rows = await deliveries(conn)
    return len(rows) == count and all(status != "pending" for _, status, _, _ in rows)


async def run_failed_on_kafka(conn: Conn, producer: AIOKafkaProducer, topic: str, job_id: int) -> None:
    """Run 1 of the job is requested, starts and fails, on the topic; returns once all three were consumed."""
    await accept(conn, run_now(job_id))
    await send(producer, topic, await last_request(conn), run_started(job_id, 1), run_failed(job_id, 1))
    await until(lambda: offset_reached(conn, topic, 3))  # type: ignore[arg-type]


async def test_a_failed_run_sends_one_email_and_one_signed_webhook(
    clean: Conn,
    producer: AIOKafkaProducer,
    runs_topic: str,
    mailbox: tuple[Mailbox, int],
    receiver: Receiver,
    running_notifier: Notifier,
) -> None:
    conn, (box, _) = clean, mailbox
    settings = Notifications(on_failure=True, emails=EMAILS, webhook_url=receiver.url)
    job_id = await given_job(conn, settings)

    await run_failed_on_kafka(conn, producer, runs_topic, job_id)
    await until(lambda: all_finished(conn, 2))

    assert await deliveries(conn) == [("email", "delivered", 1, None), ("webhook", "delivered", 1, None)]
    [(envelope, email)] = box.messages
    assert sorted(envelope.rcpt_tos) == sorted(EMAILS)
    assert email["Subject"] == f'Connect: job {job_id}.1 "Nightly customers" failed'
    text = email.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "Error: too many rejected rows" in text
    assert f"Log: {PUBLIC}/api/v1/runs/{job_id}.1/log" in text
    [(headers, body)] = receiver.requests
    signed = headers["x-connect-timestamp"].encode() + b"." + body
    assert headers["x-connect-signature"] == "sha256=" + hmac.new(KEY, signed, hashlib.sha256).hexdigest()
    assert headers["x-connect-delivery"] == await conn.fetchval(DELIVERY_ID, "webhook")
    assert email["X-Connect-Delivery"] == await conn.fetchval(DELIVERY_ID, "email")
    facts = json.loads(body)
    assert (facts["run"], facts["status"], facts["counts"]["rejected"]) == (f"{job_id}.1", "failed", 6)


@pytest.mark.parametrize("answers", [[500, 200]])
async def test_a_receiver_that_fails_first_gets_it_again_and_it_is_delivered(
    clean: Conn, receiver: Receiver, notifier: Notifier
) -> None:
    conn = clean
    job_id = await given_job(conn, Notifications(on_failure=True, webhook_url=receiver.url))
    await consume(conn, await request_of(conn, job_id), run_started(job_id, 1), run_failed(job_id, 1))

    await until(lambda: finished_after_a_round(conn, notifier))

    assert await deliveries(conn) == [("webhook", "delivered", 2, None)]
    first, second = receiver.requests
    assert first[0]["x-connect-delivery"] == second[0]["x-connect-delivery"]  # one delivery, two attempts
    assert first[1] == second[1]


async def test_a_redelivered_end_does_not_notify_twice(
    clean: Conn, producer: AIOKafkaProducer, runs_topic: str, receiver: Receiver, notifier: Notifier
) -> None:
    conn = clean
    job_id = await given_job(conn, Notifications(on_failure=True, webhook_url=receiver.url))
    await run_failed_on_kafka(conn, producer, runs_topic, job_id)
    assert await notifier.deliver_due() == 1

    end = run_failed(job_id, 1)
    await send(producer, runs_topic, end, end)  # the same end again, twice
    await until(lambda: offset_reached(conn, runs_topic, 5))  # type: ignore[arg-type]

    assert await notifier.deliver_due() == 0
    assert await deliveries(conn) == [("webhook", "delivered", 1, None)]
    assert len(receiver.requests) == 1


async def test_consuming_the_same_end_twice_queues_each_delivery_once(clean: Conn) -> None:
    conn = clean
    job_id = await given_job(conn, Notifications(on_success=True, emails=EMAILS, webhook_url="http://h.test/"))
    end = run_succeeded(job_id, 1)
    await consume(conn, await request_of(conn, job_id), run_started(job_id, 1), end, end)
    await conn.execute("UPDATE run_status SET status = 'running'")  # as if the first end had been lost
    await consume(conn, end)

    assert [(c, s) for c, s, _, _ in await deliveries(conn)] == [("email", "pending"), ("webhook", "pending")]


async def test_a_dry_run_notifies_no_one_and_its_log_entries_are_ignored(clean: Conn) -> None:
    conn = clean
    job_id = await given_job(conn, Notifications(on_success=True, emails=EMAILS))
    await accept(conn, run_now(job_id, dry_run=True))
    dry = await last_request(conn)
    await consume(conn, dry, run_started(job_id, 1), run_logged(job_id, 1), run_succeeded(job_id, 1))
    assert dry.payload.dry_run
    assert await deliveries(conn) == []

    real = await request_of(conn, job_id)  # the same job's next run, a real one, does notify
    await consume(conn, real, run_started(job_id, 2), run_logged(job_id, 2), run_succeeded(job_id, 2))
    assert [(c, s) for c, s, _, _ in await deliveries(conn)] == [("email", "pending")]


@pytest.mark.parametrize("answers", [[404]])
async def test_a_refusal_is_not_retried(clean: Conn, receiver: Receiver, notifier: Notifier) -> None:
    conn = clean
    job_id = await given_job(conn, Notifications(on_failure=True, webhook_url=receiver.url))
    await consume(conn, await request_of(conn, job_id), run_started(job_id, 1), run_failed(job_id, 1))

    assert await notifier.deliver_due() == 1

    assert await deliveries(conn) == [("webhook", "failed", 1, "the receiver answered HTTP 404")]


@pytest.mark.parametrize("answers", [[503]])
async def test_a_delivery_that_keeps_failing_is_given_up_after_its_attempts(
    clean: Conn, receiver: Receiver, notifier: Notifier
) -> None:
    conn = clean
    job_id = await given_job(conn, Notifications(on_failure=True, webhook_url=receiver.url))
    await consume(conn, await request_of(conn, job_id), run_started(job_id, 1), run_failed(job_id, 1))

    await until(lambda: finished_after_a_round(conn, notifier))

    assert await deliveries(conn) == [("webhook", "failed", 3, "the receiver answered HTTP 503")]
    assert len(receiver.requests) == QUICK_DELIVERY.max_attempts


async def test_an_smtp_refusal_of_every_recipient_fails_the_email(
    clean: Conn, mailbox: tuple[Mailbox, int], notifier: Notifier
) -> None:
    conn, (box, _) = clean, mailbox
    box.refuse.update(EMAILS)
    job_id = await given_job(conn, Notifications(on_failure=True, emails=EMAILS))
    await consume(conn, await request_of(conn, job_id), run_started(job_id, 1), run_failed(job_id, 1))

    assert await notifier.deliver_due() == 1

    assert await deliveries(conn) == [("email", "failed", 1, "the SMTP server refused every recipient (reply 550)")]


@pytest.mark.parametrize(
    ("settings", "end"),
    [
        (Notifications(on_success=True, emails=EMAILS), run_failed),
        (Notifications(on_failure=True, emails=EMAILS), run_succeeded),
    ],
    ids=["failure not asked for", "success not asked for"],
)
async def test_an_outcome_not_asked_for_queues_nothing(clean: Conn, settings: Notifications, end: Any) -> None:
    conn = clean
    job_id = await given_job(conn, settings)
    await consume(conn, await request_of(conn, job_id), run_started(job_id, 1), end(job_id, 1))

    assert await deliveries(conn) == []
    assert await conn.fetchval("SELECT count(*) FROM run_notice_settings") == 0  # taken back at the end


async def request_of(conn: Conn, job_id: int) -> Any:
    await accept(conn, run_now(job_id))
    return await last_request(conn)


async def consume(conn: Conn, *events: Event) -> None:
    """Each event as the runs consumer applies it: one transaction per record."""
    for event in events:
        async with conn.transaction():
            await on_run_record(conn, record(encode(event)))


async def finished_after_a_round(conn: Conn, notifier: Notifier) -> bool:
    """One round of the notifier (what is due), then whether the one delivery is finished."""
    await notifier.deliver_due()
    return await all_finished(conn, 1)


SILENT = Notifications()
KEYS = "SELECT kind, job_id, run_id, channel FROM notifications ORDER BY kind, channel"
GROUP_NOTICE = "SELECT notice FROM notifications WHERE kind = 'group'"
TEN = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)  # the first fire of AT_TEN after T0 (09:30)
AT_TEN = Cron(expression="0 10 * * *", time_zone="UTC")


async def given_group(
    conn: Conn, settings: Notifications, first_job: Notifications = SILENT, **fields: Any
) -> tuple[int, int, int]:
    """Group "Morning loads" of two active on-demand jobs, notifying with `settings`, its first job with
    `first_job`; returns the group's id and its jobs'."""
    await accept(conn, define_table())
    jobs = (definition("Load 1").model_copy(update={"notifications": first_job}), definition("Load 2"))
    first, second = [int((await accept(conn, create_job(job, activate=True))).payload.target_id) for job in jobs]
    group = GroupDefinition(name="Morning loads", members=(first, second), notifications=settings, **fields)
    reply = await accept(conn, CreateGroup(**meta(), payload=CreateGroupPayload(definition=group)))
    await conn.execute("TRUNCATE outbox")
    return int(reply.payload.target_id), first, second


def run_group(group_id: int) -> RunGroupNow:
    return RunGroupNow(**meta(), payload=RunGroupNowPayload(group_id=group_id))


async def test_a_failed_group_run_notifies_once_with_its_members_apart_from_its_members_own_run(
    clean: Conn, mailbox: tuple[Mailbox, int], receiver: Receiver, notifier: Notifier
) -> None:
    conn, (box, _) = clean, mailbox
    group_settings = Notifications(on_failure=True, emails=EMAILS, webhook_url=receiver.url)
    group_id, first, second = await given_group(
        conn, group_settings, Notifications(on_failure=True, webhook_url=receiver.url)
    )
    assert group_id == first  # group run 1.1 and job run 1.1 end together: neither stands for the other
    await accept(conn, run_group(group_id))

    failed = run_failed(first, 1)
    await consume(conn, await last_request(conn), run_started(first, 1), failed, failed)
    await conn.execute("UPDATE run_status SET status = 'running'")  # as if the first end had been lost
    await consume(conn, failed)

    assert [tuple(r) for r in await conn.fetch(KEYS)] == [
        ("group", group_id, 1, "email"),
        ("group", group_id, 1, "webhook"),
        ("job", first, 1, "webhook"),
    ]
    assert await notifier.deliver_due() == 3
    [(envelope, email)] = box.messages
    assert sorted(envelope.rcpt_tos) == sorted(EMAILS)
    assert email["Subject"] == f'Connect: group {group_id}.1 "Morning loads" failed'
    text = email.get_payload(decode=True).decode().splitlines()  # type: ignore[union-attr]
    assert text[4:8] == ["Members:", f"  {first}.1 failed", f"  {second} not started", "Error: too many rejected rows"]
    assert text[-1] == f"Group run: {PUBLIC}/api/v1/groups/{group_id}/runs/1"
    bodies = sorted((json.loads(body) for _, body in receiver.requests), key=lambda body: str(body["kind"]))
    assert [(b["kind"], b["run"], b["status"]) for b in bodies] == [
        ("group", f"{group_id}.1", "failed"),
        ("job", f"{first}.1", "failed"),
    ]
    assert bodies[0]["members"] == [
        {"job_id": first, "run_id": 1, "status": "failed"},
        {"job_id": second, "run_id": None, "status": None},
    ]


async def test_a_group_run_that_succeeded_tells_only_who_asked_for_successes(clean: Conn) -> None:
    conn = clean
    group_id, first, second = await given_group(conn, Notifications(on_failure=True, emails=EMAILS))
    await accept(conn, run_group(group_id))
    await consume(conn, await last_request(conn), run_started(first, 1), run_succeeded(first, 1))
    await consume(conn, await last_request(conn), run_started(second, 1), run_succeeded(second, 1))

    assert await conn.fetch(KEYS) == []


async def when_run_now(conn: Conn, group_id: int) -> None:
    await accept(conn, run_group(group_id))


async def when_its_fire_comes(conn: Conn, group_id: int) -> None:
    assert await tick(conn, GROUPS, TEN, 10) == 1


@pytest.mark.parametrize("start", [when_run_now, when_its_fire_comes], ids=["run now", "scheduled fire"])
async def test_a_group_run_whose_first_member_cannot_start_notifies_with_its_end(clean: Conn, start: Any) -> None:
    conn = clean
    settings = Notifications(on_failure=True, webhook_url="http://hooks.test/")
    group_id, first, second = await given_group(conn, settings, schedule=AT_TEN)
    await accept(conn, run_now(first))  # the first member is running on its own

    await start(conn, group_id)

    notice = GroupRunNotice.model_validate_json(await conn.fetchval(GROUP_NOTICE))
    assert (notice.run, notice.status) == (f"{group_id}.1", RunStatus.FAILED)
    assert notice.error == f"member 1 could not start: job {first} is running (run {first}.1)"
    assert [str(member) for member in notice.members] == [f"{first} not started", f"{second} not started"]


async def test_a_queue_from_before_group_notifications_is_upgraded_in_place(clean: Conn) -> None:
    conn = clean
    job = RunNotice(
        id=1, run_id=1, name="Load", status=RunStatus.FAILED, counts=RunCounts(), started_at=T0, finished_at=T0
    )
    group = GroupRunNotice(
        id=1, run_id=1, name="Loads", status=RunStatus.FAILED, started_at=T0, finished_at=T0, members=()
    )
    upgrade = conn.transaction()
    await upgrade.start()
    try:
        await conn.execute(QUEUE_BEFORE_GROUPS)
        await conn.execute(OLD_ENQUEUE, uuid4(), list(EMAILS), job.model_dump_json())

        await conn.execute(NOTIFICATIONS_DDL)
        await conn.execute(NOTIFICATIONS_DDL)  # idempotent
        await notifications.enqueue(conn, job, [("email", EMAILS)])  # the old row's key holds
        await notifications.enqueue(conn, group, [("email", EMAILS)])

        assert [tuple(r) for r in await conn.fetch(KEYS)] == [("group", 1, 1, "email"), ("job", 1, 1, "email")]
    finally:
        await upgrade.rollback()


# The queue as it was before group notifications: no kind, keyed by (job_id, run_id, channel); and a job run's
# delivery queued into it then.
QUEUE_BEFORE_GROUPS = """
ALTER TABLE notifications DROP COLUMN kind;
ALTER TABLE notifications ADD CONSTRAINT notifications_job_id_run_id_channel_key UNIQUE (job_id, run_id, channel);
"""
OLD_ENQUEUE = """
INSERT INTO notifications (delivery_id, job_id, run_id, channel, target, notice) VALUES ($1, 1, 1, 'email', $2, $3)
"""
