"""Profile lists, PETs and a profile import end to end against PostgreSQL: the commands store their streams and
queue their events with the reply, and a run request freezes the list and PETs as they are at request time."""

from __future__ import annotations

from uuid import UUID

import pytest

from connect_events import (
    AddColumnPayload,
    AddListColumn,
    AddPetColumn,
    ColumnMapping,
    ColumnSpec,
    ColumnType,
    Command,
    CommandAccepted,
    CommandRejected,
    DefineList,
    DefineListPayload,
    DefinePet,
    DefinePetPayload,
    ImportProfileData,
    JobDefinition,
    ListColumnAdded,
    ListDefined,
    ListSpec,
    PetColumnAdded,
    PetDefined,
    PetImport,
    PetSpec,
    SftpLocation,
)
from connect_runtime.db import Conn
from connect_scheduler.adapters import event_store
from connect_scheduler.handlers import handle_command
from tests.integration.scheduler.scheduler_commands import create_job, last_request, meta, outbox, run_now

pytestmark = pytest.mark.integration

FIRST_NAME = ColumnSpec(name="FIRST_NAME", type=ColumnType.TEXT, max_length=50)
SCORE = ColumnSpec(name="SCORE", type=ColumnType.INTEGER)
TOTAL = ColumnSpec(name="TOTAL", type=ColumnType.NUMBER)
LAST_ORDER = ColumnSpec(name="LAST_ORDER", type=ColumnType.DATE)


async def handle(conn: Conn, command: Command) -> CommandAccepted | CommandRejected:
    async with conn.transaction():
        reply = await handle_command(conn, command)
    assert isinstance(reply, CommandAccepted | CommandRejected)
    return reply


async def accept(conn: Conn, command: Command) -> CommandAccepted:
    reply = await handle(conn, command)
    assert isinstance(reply, CommandAccepted), reply
    return reply


async def reject(conn: Conn, command: Command) -> CommandRejected:
    reply = await handle(conn, command)
    assert isinstance(reply, CommandRejected), reply
    return reply


def define_list(name: str = "Members") -> DefineList:
    return DefineList(**meta(), payload=DefineListPayload(list=ListSpec(name=name, columns=(FIRST_NAME,))))


def define_pet(name: str = "Orders", list_name: str = "members") -> DefinePet:
    pet = PetSpec(name=name, list_name=list_name, columns=(TOTAL,))
    return DefinePet(**meta(), payload=DefinePetPayload(pet=pet))


def profile_job() -> JobDefinition:
    source = SftpLocation(
        host="sftp.example.com",
        user="loader",
        path="upload/members.csv",
        credential_ref=UUID(int=1),
        host_key="ssh-ed25519 AAAA",
        host_key_fingerprint="SHA256:abc",
    )
    settings = ImportProfileData(
        source=source,
        list_name="MEMBERS",
        mapping=(ColumnMapping(source="email", target="EMAIL_ADDRESS_"), ColumnMapping(source="s", target="score")),
        pets=(PetImport(pet="orders", mapping=(ColumnMapping(source="o", target="LAST_ORDER"),)),),
    )
    return JobDefinition(name="Member import", settings=settings)


async def test_lists_and_pets_are_defined_and_grown_then_frozen_into_a_profile_run(conn: Conn) -> None:
    defined = await accept(conn, define_list())
    assert (defined.payload.target_type, defined.payload.target_id, defined.payload.target_version) == (
        "list",
        "Members",
        1,
    )
    pet = await accept(conn, define_pet())
    assert (pet.payload.target_type, pet.payload.target_id) == ("pet", "Orders")
    grown = await accept(conn, AddListColumn(**meta(), payload=AddColumnPayload(name="members", column=SCORE)))
    assert (grown.payload.target_id, grown.payload.target_version) == ("Members", 2)
    await accept(conn, AddPetColumn(**meta(), payload=AddColumnPayload(name="ORDERS", column=LAST_ORDER)))

    queued = [(topic, key, type(event)) for topic, key, event in await outbox(conn) if topic == "connect.tables"]
    assert queued == [
        ("connect.tables", "members", ListDefined),
        ("connect.tables", "orders", PetDefined),
        ("connect.tables", "members", ListColumnAdded),
        ("connect.tables", "orders", PetColumnAdded),
    ]
    assert [e.aggregate_version for e in (await event_store.load(conn, "list:members"))[0]] == [1, 2]

    job = await accept(conn, create_job(profile_job(), activate=True))
    assert (job.payload.state, job.payload.errors) == ("active", ())
    await accept(conn, run_now(int(job.payload.target_id)))

    request = (await last_request(conn)).payload
    members = ListSpec(name="Members", columns=(FIRST_NAME, SCORE))
    assert (request.list, request.pets) == (
        members,
        (PetSpec(name="Orders", list_name="Members", columns=(TOTAL, LAST_ORDER)),),
    )
    assert request.table == members.as_table()


async def test_refusals_name_their_reason(conn: Conn) -> None:
    await accept(conn, define_list())

    taken = await reject(conn, define_list("MEMBERS"))
    orphan = await reject(conn, define_pet(list_name="Nobody"))
    missing = await reject(conn, AddPetColumn(**meta(), payload=AddColumnPayload(name="Orders", column=TOTAL)))
    twice = await reject(conn, AddListColumn(**meta(), payload=AddColumnPayload(name="Members", column=FIRST_NAME)))

    assert [(r.payload.code, r.payload.reason) for r in (taken, orphan, missing, twice)] == [
        ("conflict", "LIST_EXISTS"),
        ("validation", "LIST_NOT_FOUND"),
        ("not_found", "PET_NOT_FOUND"),
        ("conflict", "COLUMN_EXISTS"),
    ]
    assert [e.aggregate_version for e in (await event_store.load(conn, "list:members"))[0]] == [1]
    assert await event_store.load(conn, "pet:orders") == ([], 0)


async def test_a_profile_job_whose_pet_is_missing_is_saved_as_a_draft_and_cannot_run(conn: Conn) -> None:
    await accept(conn, define_list())
    await accept(conn, AddListColumn(**meta(), payload=AddColumnPayload(name="Members", column=SCORE)))

    job = await accept(conn, create_job(profile_job()))

    assert [(e.field, e.message) for e in job.payload.errors] == [("settings.pets[0].pet", "no PET named orders")]
    refused = await reject(conn, run_now(int(job.payload.target_id), dry_run=True))
    assert (refused.payload.code, refused.payload.reason) == ("invalid_state", "PET_NOT_FOUND")
