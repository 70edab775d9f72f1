"""Which analytics feed deliveries a job has loaded (`feed_deliveries`, ADR 0013): read before a run looks for
the next delivery, written by the transaction that loads one, so a delivery is loaded once per version even
when a run is redone."""

from __future__ import annotations

import asyncpg

from connect_runtime.db import Conn


async def processed(pool: asyncpg.Pool, job_id: int) -> dict[str, str]:
    """Delivery key → identity of the version the job loaded."""
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT delivery, identity FROM feed_deliveries WHERE job_id = $1", job_id)
    return {row["delivery"]: row["identity"] for row in rows}


async def remember(conn: Conn, job_id: int, run_id: int, delivery: str, identity: str) -> str | None:
    """Record that run `run_id` loaded this version of `delivery` (inside the transaction that loads it);
    returns the identity of the version it replaces, None for a delivery new to the job."""
    earlier: str | None = await conn.fetchval(
        "SELECT identity FROM feed_deliveries WHERE job_id = $1 AND delivery = $2 FOR UPDATE", job_id, delivery
    )
    await conn.execute(
        "INSERT INTO feed_deliveries (job_id, delivery, identity, run_id) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (job_id, delivery) DO UPDATE"
        " SET identity = excluded.identity, run_id = excluded.run_id, processed_at = now()",
        job_id,
        delivery,
        identity,
        run_id,
    )
    return earlier
