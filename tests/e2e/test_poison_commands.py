"""No command stays without a reply (invariant 7): commands that skip the gateway's checks, sent straight to
`connect.commands` by some other producer, still end with a rejection a client can read from
`/api/v1/commands/{id}`, and nothing is stored for them."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
from aiokafka import AIOKafkaProducer

from connect_events import (
    COMMANDS_TOPIC,
    ColumnSpec,
    ColumnType,
    DefineTable,
    DefineTablePayload,
    TableSpec,
    encode,
)
from connect_gateway.domain.errors import REJECTION

REPLY_TIMEOUT_S = 60.0


async def decision(api: httpx.AsyncClient, command_id: UUID) -> dict[str, Any]:
    """Poll the command's status until the scheduler's reply has been recorded."""
    deadline = time.monotonic() + REPLY_TIMEOUT_S
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        last = await api.get(f"/api/v1/commands/{command_id}")
        if last.status_code == 200:
            body: dict[str, Any] = last.json()
            return body
        assert last.status_code == 404, last.text  # "no reply yet" is the only other answer
        await asyncio.sleep(0.2)
    raise AssertionError(f"no reply to {command_id} in {REPLY_TIMEOUT_S}s; last answer: {last and last.text}")


def api_code(scheduler_code: str) -> str:
    """How the API names a rejection code of the scheduler."""
    names = {str(code): str(name) for code, name in REJECTION.items()}
    return names.get(scheduler_code, scheduler_code)  # the command view passes an unmapped code on as it is


async def test_a_malformed_command_is_answered_with_a_rejection(
    api: httpx.AsyncClient, producer: AIOKafkaProducer, unique: str
) -> None:
    command_id = uuid4()
    poison = {
        "type": "table.define",
        "schema_version": 1,
        "command_id": str(command_id),
        "issued_at": datetime.now(UTC).isoformat(),
        "actor": "e2e-producer",
        "correlation_id": str(uuid4()),
        "payload": {"table": {"name": f"poison_{unique}", "columns": "not a list", "primary_key": ["ID"]}},
    }
    await producer.send_and_wait(COMMANDS_TOPIC, json.dumps(poison).encode(), key=b"poison")

    answer = await decision(api, command_id)

    assert (answer["status"], answer["command_type"]) == ("rejected", "table.define")
    assert answer["code"] == api_code("malformed")
    assert answer["message"].startswith("the command could not be read")
    assert [e["field"] for e in answer["errors"]] == ["columns"]  # `payload.table.columns`, as the API names it
    assert "not a list" not in json.dumps(answer)
    assert not await _tables_named(api, unique)


async def test_a_table_name_with_nul_sent_past_the_gateway_is_refused_and_creates_nothing(
    api: httpx.AsyncClient, producer: AIOKafkaProducer, unique: str
) -> None:
    spec = TableSpec(
        name=f"nul_{unique}\x00x",
        columns=(ColumnSpec(name="ID", type=ColumnType.TEXT, max_length=20),),
        primary_key=("ID",),
    )
    command = DefineTable(
        command_id=uuid4(),
        issued_at=datetime.now(UTC),
        actor="e2e-producer",
        correlation_id=uuid4(),
        payload=DefineTablePayload(table=spec),
    )
    await producer.send_and_wait(COMMANDS_TOPIC, encode(command), key=command.partition_key.encode())

    answer = await decision(api, command.command_id)

    assert (answer["status"], answer["code"]) == ("rejected", "validation_failed")
    assert "name" in [e["field"] for e in answer["errors"]]
    # Neither the NUL nor the catalog's stand-in for one: the scheduler's answer never quotes the name.
    assert not {"\x00", "\ufffd"} & set(json.dumps(answer, ensure_ascii=False))
    assert not await _tables_named(api, unique)


async def _tables_named(api: httpx.AsyncClient, unique: str) -> list[str]:
    answer = await api.get("/api/v1/tables")
    assert answer.status_code == 200, answer.text
    return [t["name"] for t in answer.json() if unique in t["name"]]
