"""Invariant 7 against PostgreSQL and Kafka: every command gets exactly one reply, also when it cannot be
handled. A record that names a command but does not decode, and a handler that crashes, each get one
`command.rejected` reply and store nothing else; handling them again replies nothing new."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from connect_events import (
    COMMANDS_TOPIC,
    CommandAccepted,
    CommandRejected,
    CreateJob,
    DefineTable,
    Event,
    JobCreated,
    JobDefined,
    TableDefined,
    encode,
)
from connect_events.values import STORABLE
from connect_runtime.db import Conn
from connect_runtime.kafka import DEAD_LETTER_TOPIC, ensure_topics
from connect_runtime.messages import Causation
from connect_runtime.offsets import TransactionalConsumer
from connect_runtime.retry import RetryPolicy
from connect_scheduler import handlers
from connect_scheduler.adapters import event_store, job_names
from connect_scheduler.adapters.event_store import table_stream
from connect_scheduler.entrypoints.commands import PoisonCommandError, on_command_record
from connect_scheduler.handlers import INTERNAL_MESSAGE, Outcome
from connect_scheduler.policy import Policy
from tests.integration.scheduler.scheduler_commands import (
    T0,
    count,
    create_job,
    customers,
    define_table,
    definition,
    outbox,
    update_job,
)
from tests.kafka_records import read_topics
from tests.polling import until

pytestmark = pytest.mark.integration

NUL = "a\x00b"
DB_TEXT = "division by zero"  # what PostgreSQL says; a reply must not pass it on
FAST = RetryPolicy(initial_s=0.05, max_s=0.2, jitter_s=0.01)


def malformed(**overrides: Any) -> tuple[UUID, bytes]:
    """A create-job command whose definition lacks its settings and whose activate flag is not a boolean."""
    command_id = uuid4()
    body = json.loads(encode(create_job()))
    body["command_id"] = str(command_id)
    del body["payload"]["definition"]["settings"]
    body["payload"]["activate"] = "secret-value"
    return command_id, json.dumps({**body, **overrides}).encode()


def record(value: bytes | None, offset: int = 5) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(COMMANDS_TOPIC, 0, offset, 1_740_000_000_000, 0, b"new", value, None, 3, 0, ())  # type: ignore[arg-type]


async def consume(conn: Conn, value: bytes | None, offset: int = 5) -> None:
    """Handle one record the way the consumer does: inside its transaction."""
    async with conn.transaction():
        await on_command_record(conn, record(value, offset))


async def replies(conn: Conn) -> list[CommandRejected]:
    found = [event for _, _, event in await outbox(conn)]
    assert all(isinstance(e, CommandRejected) for e in found), found
    return [e for e in found if isinstance(e, CommandRejected)]


async def nothing_else_stored(conn: Conn) -> None:
    assert await count(conn, "events") == 0
    assert await count(conn, "job_names") == 0
    assert await conn.fetchval("SELECT value FROM counters WHERE name = 'job_id'") == 0


class TestMalformedRecords:
    async def test_a_record_naming_a_command_gets_one_rejection_naming_the_fields(self, conn: Conn) -> None:
        command_id, value = malformed()

        await consume(conn, value)

        [reply] = await replies(conn)
        p = reply.payload
        assert (p.command_id, p.command_type, p.code) == (command_id, "job.create", "malformed")
        assert {(e.field, e.message) for e in p.errors} == {
            ("payload.definition.settings", "is required"),
            ("payload.activate", "must be true or false"),
        }
        assert p.message.startswith("the command could not be read: ")
        assert "secret-value" not in reply.model_dump_json()
        assert reply.aggregate_id == str(command_id)
        assert await count(conn, "handled_commands") == 1
        await nothing_else_stored(conn)

    async def test_a_redelivery_or_a_copy_replies_nothing_new(self, conn: Conn) -> None:
        _, value = malformed()
        await consume(conn, value)

        await consume(conn, value)  # the same record again
        await consume(conn, value, offset=6)  # sent again: another record with the same command id

        assert len(await replies(conn)) == 1

    async def test_a_garbled_copy_of_a_handled_command_replies_nothing(self, conn: Conn) -> None:
        cmd = define_table()
        await consume(conn, encode(cmd))
        garbled = json.loads(encode(cmd))
        garbled["payload"]["table"]["columns"] = "none"
        await conn.execute("TRUNCATE outbox")

        await consume(conn, json.dumps(garbled).encode(), offset=6)

        assert await count(conn, "outbox") == 0

    @pytest.mark.parametrize(
        "value",
        [b"not json", json.dumps({"type": "job.explode"}).encode(), None, malformed(command_id="nope")[1]],
        ids=["not JSON", "no command id", "tombstone", "command id not a UUID"],
    )
    async def test_a_record_that_names_no_command_is_left_for_the_dead_letter_topic(
        self, conn: Conn, value: bytes | None
    ) -> None:
        with pytest.raises(PoisonCommandError):
            await consume(conn, value)
        assert await count(conn, "outbox") == 0
        assert await count(conn, "handled_commands") == 0


class TestValuesPostgresCannotStore:
    """A NUL reaches the database in no query: the domain refuses it first, as a validation error."""

    async def test_a_nul_in_a_table_name_is_a_validation_rejection(self, conn: Conn) -> None:
        cmd = define_table(customers(NUL))

        await consume(conn, encode(cmd))

        [reply] = await replies(conn)
        assert reply.payload.code == "validation"
        assert [(e.field, e.message) for e in reply.payload.errors] == [("table.name", STORABLE)]
        assert await count(conn, "events") == 0

    @pytest.mark.parametrize(
        ("job", "fields"),
        [
            (definition(name=NUL), ["name"]),
            (definition(table=NUL), ["settings.table"]),
            (definition(name=NUL, table=NUL), ["name", "settings.table"]),
        ],
        ids=["job name", "table name", "both"],
    )
    async def test_a_nul_in_a_job_is_a_validation_rejection(self, conn: Conn, job: Any, fields: list[str]) -> None:
        await consume(conn, encode(define_table()))
        await conn.execute("TRUNCATE outbox")

        await consume(conn, encode(create_job(job)), offset=6)

        [reply] = await replies(conn)
        assert reply.payload.code == "validation"
        assert [e.field for e in reply.payload.errors] == fields
        assert await count(conn, "events") == 1  # the table's
        assert await count(conn, "job_names") == 0

    async def test_a_nul_in_a_renamed_job_is_a_validation_rejection(self, conn: Conn) -> None:
        await consume(conn, encode(define_table()))
        await consume(conn, encode(create_job()), offset=6)
        await conn.execute("TRUNCATE outbox")

        await consume(conn, encode(update_job(1, 1, definition(name=NUL))), offset=7)

        [reply] = await replies(conn)
        assert (reply.payload.code, [e.field for e in reply.payload.errors]) == ("validation", ["name"])

    async def test_an_actor_with_a_nul_is_a_validation_rejection(self, conn: Conn) -> None:
        cmd = define_table().model_copy(update={"actor": NUL})

        await consume(conn, encode(cmd))

        [reply] = await replies(conn)
        assert (reply.payload.code, [e.field for e in reply.payload.errors]) == ("validation", ["actor"])
        assert await count(conn, "events") == 0


async def _writes_then_fails(conn: Conn, cmd: CreateJob, causation: Causation, policy: Policy) -> Outcome:
    """A handler that allocates an id, stores an event and claims a name, then meets a database error."""
    job_id = await job_names.next_job_id(conn)
    event = JobCreated(
        event_id=causation.event_id(0), aggregate_id=str(job_id), aggregate_version=1, occurred_at=T0,
        actor=causation.actor, correlation_id=causation.correlation_id, causation_id=causation.causation_id,
        payload=JobDefined(job_id=job_id, definition=cmd.payload.definition),
    )  # fmt: skip
    await event_store.append(conn, f"job:{job_id}", 0, [event])
    await job_names.claim_name(conn, job_id, cmd.payload.definition.name)
    await conn.fetchval("SELECT 1 / 0")
    raise AssertionError("unreachable")


class TestCrashingHandlers:
    async def test_a_crash_is_refused_as_internal_and_everything_it_wrote_is_rolled_back(
        self, conn: Conn, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setitem(handlers.COMMAND_HANDLERS, CreateJob, _writes_then_fails)
        cmd = create_job()

        await consume(conn, encode(cmd))

        [reply] = await replies(conn)
        assert (reply.payload.command_id, reply.payload.code) == (cmd.command_id, "internal")
        assert reply.payload.message == INTERNAL_MESSAGE
        assert DB_TEXT not in reply.model_dump_json()
        await nothing_else_stored(conn)

        await consume(conn, encode(cmd), offset=6)  # redelivered
        assert len(await replies(conn)) == 1

    async def test_a_foreign_event_in_a_stream_is_refused_as_internal(self, conn: Conn) -> None:
        cmd = define_table()
        await event_store.append(conn, table_stream("Customers"), 0, [_foreign_event()])

        await consume(conn, encode(cmd))

        [reply] = await replies(conn)
        assert (reply.payload.code, reply.payload.message) == ("internal", INTERNAL_MESSAGE)
        assert await count(conn, "events") == 1  # only the foreign one planted above

    async def test_an_infrastructure_failure_propagates_for_the_consumer_to_retry(
        self, conn: Conn, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async def deadlocked(conn: Conn, cmd: DefineTable, causation: Causation, policy: Policy) -> Outcome:
            raise asyncpg.DeadlockDetectedError("deadlock detected")

        monkeypatch.setitem(handlers.COMMAND_HANDLERS, DefineTable, deadlocked)
        cmd = define_table()

        with pytest.raises(asyncpg.DeadlockDetectedError):
            await consume(conn, encode(cmd))
        assert await count(conn, "outbox") == 0
        assert await count(conn, "handled_commands") == 0  # the retry decides it afresh

        monkeypatch.undo()
        await consume(conn, encode(cmd))
        [(_, _, event), (_, _, reply)] = await outbox(conn)
        assert isinstance(event, TableDefined)
        assert isinstance(reply, CommandAccepted)


# Through the real consumer on Kafka: offsets, replies and dead letters commit as the service does it.


async def test_the_consumer_answers_poison_and_crashes_once_and_dead_letters_what_names_nobody(
    kafka_bootstrap: str, pool: asyncpg.Pool, conn: Conn, producer: AIOKafkaProducer
) -> None:
    topic = f"sched.cmds.{uuid4().hex[:10]}"
    await ensure_topics(kafka_bootstrap, 1, [topic])
    poison_id, poison = malformed()
    crash = define_table()
    await event_store.append(conn, table_stream("Customers"), 0, [_foreign_event()])  # deciding it crashes
    values = [poison, b"names nobody", encode(crash), poison, encode(crash)]  # the last two: sent again
    for value in values:
        await producer.send_and_wait(topic, value=value, key=b"new")
    consumer = TransactionalConsumer(
        bootstrap=kafka_bootstrap,
        group=f"g-{topic}",
        topics=[topic],
        pool=pool,
        handler=on_command_record,
        dead_letters=producer,
        retry=FAST,
    )

    task = asyncio.create_task(consumer.run())
    try:
        stored = "SELECT next_offset FROM consumer_offsets WHERE topic = $1"
        await until(lambda: _equals(pool.fetchval(stored, topic), len(values)))
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 15)

    answered = {r.payload.command_id: r.payload.code for r in await replies(conn)}
    assert len(await replies(conn)) == 2
    assert answered == {poison_id: "malformed", crash.command_id: "internal"}
    assert await count(conn, "events") == 1  # only the planted foreign event
    dead = [r for r in await read_topics(kafka_bootstrap, [DEAD_LETTER_TOPIC]) if _source_topic(r) == topic]
    assert [r.value for r in dead] == [b"names nobody"]


def _foreign_event() -> Event:
    body = json.loads(encode(create_job()))
    return JobCreated.model_validate(
        {
            "event_id": uuid4(), "aggregate_id": "1", "aggregate_version": 1, "occurred_at": T0, "actor": "x",
            "correlation_id": uuid4(), "payload": {"job_id": 1, "definition": body["payload"]["definition"]},
        }
    )  # fmt: skip


async def _equals(value: Awaitable[Any], wanted: Any) -> bool:
    return bool(await value == wanted)


def _source_topic(record: Any) -> str | None:
    source = dict(record.headers or ()).get("source")
    return None if source is None else str(json.loads(source)["topic"])
