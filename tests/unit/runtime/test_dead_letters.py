"""A dead letter always fits the bus: the error text is capped, and a record too large to send whole keeps its
source and error without its value (it would otherwise be refused forever and hold its consumer up)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiokafka.errors import MessageSizeTooLargeError

from connect_runtime.kafka import DEAD_LETTER_TOPIC, MAX_ERROR_HEADER_CHARS, send_dead_letter


@dataclass
class Record:
    topic: str = "connect.commands"
    partition: int = 1
    offset: int = 41
    key: bytes = b"k"
    value: bytes | None = b"v"


@dataclass
class Producer:
    refuse_values_over: int = 1_000_000
    sent: list[dict[str, Any]] = field(default_factory=list)

    async def send_and_wait(self, topic: str, **message: Any) -> None:
        if message["value"] is not None and len(message["value"]) > self.refuse_values_over:
            raise MessageSizeTooLargeError()
        self.sent.append({"topic": topic, **message})


async def test_a_dead_letter_names_its_source_and_a_capped_error() -> None:
    producer = Producer()
    await send_dead_letter(producer, Record(), ValueError("x" * 50_000), "scheduler")  # type: ignore[arg-type]
    [letter] = producer.sent
    headers = dict(letter["headers"])
    assert letter["topic"] == DEAD_LETTER_TOPIC and letter["value"] == b"v"
    assert len(headers["error"]) == MAX_ERROR_HEADER_CHARS
    assert b'"offset": 41' in headers["source"] and b'"group": "scheduler"' in headers["source"]


async def test_a_record_too_large_to_dead_letter_whole_goes_without_its_value() -> None:
    producer = Producer(refuse_values_over=10)
    await send_dead_letter(producer, Record(value=b"v" * 100), ValueError("bad"), "runner")  # type: ignore[arg-type]
    [letter] = producer.sent
    assert letter["value"] is None
    assert "value_dropped" in dict(letter["headers"])
