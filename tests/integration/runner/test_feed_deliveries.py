"""The processed-deliveries memory on PostgreSQL: written in the loading transaction, so a rolled-back load leaves
the delivery to be loaded again, and a new version of a delivery replaces the one a job loaded before."""

from __future__ import annotations

import asyncpg
import pytest

from connect_runner.adapters.feed_deliveries import processed, remember

pytestmark = pytest.mark.integration


async def test_a_delivery_is_remembered_with_its_load_and_replaced_by_a_new_version(
    audience_pool: asyncpg.Pool,
) -> None:
    assert await processed(audience_pool, 41) == {}
    async with audience_pool.acquire() as conn, conn.transaction():
        assert await remember(conn, 41, 1, "shop_2026-11-27", "aaa") is None
        assert await remember(conn, 41, 1, "shop_2026-11-28", "bbb") is None
    assert await processed(audience_pool, 41) == {"shop_2026-11-27": "aaa", "shop_2026-11-28": "bbb"}
    assert await processed(audience_pool, 42) == {}  # another job's memory is its own

    async with audience_pool.acquire() as conn, conn.transaction():
        assert await remember(conn, 41, 2, "shop_2026-11-27", "ccc") == "aaa"  # re-delivered: the log says so
    assert (await processed(audience_pool, 41))["shop_2026-11-27"] == "ccc"


async def test_a_rolled_back_load_leaves_the_delivery_unprocessed(audience_pool: asyncpg.Pool) -> None:
    class LoadFailed(Exception):
        pass

    with pytest.raises(LoadFailed):
        async with audience_pool.acquire() as conn, conn.transaction():
            await remember(conn, 43, 1, "shop_2026-11-27", "aaa")
            raise LoadFailed  # e.g. the counts did not reconcile with the manifest
    assert await processed(audience_pool, 43) == {}
