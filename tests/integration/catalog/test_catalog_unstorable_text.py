"""The live projector stores every reply and every event, also when a text holds NUL, which PostgreSQL cannot
store in `text` or `jsonb`: it is stored as U+FFFD instead of the event being dead-lettered."""

from __future__ import annotations

import json

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from connect_catalog.config import CatalogSettings
from connect_events import CommandRejectedPayload, FieldError, JobDefined
from tests.integration.catalog.catalog_it import eventually, new_job_id, publish, running
from tests.unit.catalog.catalog_builders import command_rejected, definition, job_created

pytestmark = pytest.mark.integration

NUL, REPLACED = "a\x00b", "a\ufffdb"


async def test_a_rejection_and_a_job_holding_nul_are_stored_with_the_replacement_character(
    catalog_settings: CatalogSettings, catalog_dsn: str, db: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    reply = command_rejected()
    payload = CommandRejectedPayload(
        command_id=reply.payload.command_id,
        command_type=f"table.define{NUL}",
        code="validation",
        message=f"table {NUL} has 1 error(s)",
        errors=(FieldError(field="table.name", message=f"{NUL} is not a valid name"),),
    )
    reply = reply.model_copy(update={"payload": payload})
    job = new_job_id()
    created = job_created(job)
    created = created.model_copy(
        update={"payload": JobDefined(job_id=job, definition=definition(name=NUL, description=f"about {NUL}"))}
    )
    await publish(producer, reply, created)

    async with running(catalog_settings, catalog_dsn):
        command = await eventually(
            lambda: db.fetchrow("SELECT * FROM commands WHERE command_id = $1", payload.command_id),
            lambda row: row is not None,
        )
        row = await eventually(
            lambda: db.fetchrow("SELECT * FROM jobs WHERE job_id = $1", job), lambda row: row is not None
        )

    assert (command["command_type"], command["status"], command["message"]) == (
        f"table.define{REPLACED}",
        "rejected",
        f"table {REPLACED} has 1 error(s)",
    )
    assert json.loads(command["errors"]) == [{"field": "table.name", "message": f"{REPLACED} is not a valid name"}]
    assert (row["name"], row["description"]) == (REPLACED, f"about {REPLACED}")
    assert json.loads(row["definition"])["name"] == REPLACED
