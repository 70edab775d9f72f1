"""Sends commands to `connect.commands` and waits for their replies from the `ReplyListener`."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from connect_events import COMMANDS_TOPIC, Command, encode
from connect_gateway.adapters.replies import ReplyListener
from connect_gateway.ports import CommandNotSentError, CommandSendTimeoutError, Reply

log = logging.getLogger(__name__)


class KafkaCommandBus:
    """Commands are keyed by their aggregate, so one aggregate's commands are decided in order."""

    def __init__(self, producer: AIOKafkaProducer, replies: ReplyListener, topic: str = COMMANDS_TOPIC) -> None:
        self._producer = producer
        self._replies = replies
        self._topic = topic

    def ready(self) -> bool:
        """Whether replies can be received."""
        return self._replies.ready()

    async def submit(self, command: Command, timeout_s: float) -> Reply | None:
        """Send `command`; its reply, or None when none came within `timeout_s` (send time included)."""
        # Registered before sending: a fast scheduler may answer before `send_and_wait` returns.
        waiting = self._replies.expect(command.correlation_id)
        sent = False
        try:
            async with asyncio.timeout(timeout_s):
                await self._send(command)
                sent = True
                return await waiting
        except TimeoutError:
            if not sent:
                raise CommandSendTimeoutError(str(command.command_id)) from None
            return None
        finally:
            self._replies.forget(command.correlation_id)

    async def _send(self, command: Command) -> None:
        try:
            await self._producer.send_and_wait(self._topic, encode(command), key=command.partition_key.encode())
        except KafkaError as exc:
            raise CommandNotSentError(f"{type(exc).__name__}: {exc}") from exc
        log.debug("command sent", extra={"command_id": str(command.command_id)})
