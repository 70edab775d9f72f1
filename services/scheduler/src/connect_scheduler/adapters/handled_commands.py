"""Which commands were handled: claimed in the command's own transaction, so each is decided once.

A command's reply is only in the outbox until relayed, and a refused command stores no event, so neither
can tell later whether a command was handled; this table can. Its primary key also orders two
instances handling the same command at once (a stalled one and the one that took its partition over):
the second claim waits for the first transaction and, once that commits, finds the command handled.
"""

from __future__ import annotations

from uuid import UUID

from connect_runtime.db import Conn

CLAIM_COMMAND = """
INSERT INTO handled_commands (command_id) VALUES ($1) ON CONFLICT (command_id) DO NOTHING RETURNING command_id
"""


async def claim(conn: Conn, command_id: UUID) -> bool:
    """Mark the command handled; False when a committed transaction did so before.

    Waits while another open transaction holds the same claim: its outcome decides the answer.
    """
    return await conn.fetchval(CLAIM_COMMAND, command_id) is not None
