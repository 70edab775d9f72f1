"""The stops consumer's record handler: keep each `run.stop_requested` for the run to see.

The run consumer pauses a running run's partition, so it cannot see a stop request that follows the run's
request there; this consumer has a group of its own on `connect.runs` and runs inside `TransactionalConsumer`'s
transaction, which also stores the record's offset: the stop and the offset commit together.
"""

from __future__ import annotations

import json

from aiokafka.structs import ConsumerRecord

from connect_events import RUNS_TOPIC, RunStopRequested, decode
from connect_runner.handlers import record_stop
from connect_runner.ports import RunLedger
from connect_runtime.db import Conn

STOP_TYPE = "run.stop_requested"


async def handle_stop_record(ledger: RunLedger[Conn], conn: Conn, record: ConsumerRecord[bytes, bytes]) -> None:
    """Record a stop request; other records are passed over. An unreadable stop request raises (the caller
    dead-letters it); other unreadable records are the run consumer's to handle."""
    data = record.value or b""
    if not _is_stop(data):
        return
    event = decode(RUNS_TOPIC, data)
    if isinstance(event, RunStopRequested):
        await record_stop(ledger, conn, event)


def _is_stop(data: bytes) -> bool:
    try:
        message = json.loads(data)
    except ValueError:
        return False
    return isinstance(message, dict) and message.get("type") == STOP_TYPE
