"""The PostgreSQL pool returns connections without asyncpg's reset round trip (services/database.py)."""

from __future__ import annotations

from typing import Any

import pytest
from tortoise import connections

from models import User
from services.database import StatelessConnection
from tests.conftest import PG_SERVER

pytestmark = pytest.mark.skipif(not PG_SERVER, reason="PostgreSQL only: VIDGRAPH_TEST_DATABASE_URL is not set")


async def test_statements_run_without_a_reset_query_and_an_open_transaction_is_still_rolled_back(
    client: Any,
) -> None:
    pool = connections.get("default")._pool
    seen: list[str] = []
    holders = [h for h in pool._holders if h._con is not None]
    for holder in holders:
        assert isinstance(holder._con, StatelessConnection)
        holder._con.add_query_logger(lambda record: seen.append(record.query))
    try:
        for _ in range(3):  # each statement takes a connection from the pool and gives it back
            await User.filter(email="nobody@example.com").first()
        async with pool.acquire() as connection:  # released inside a transaction that never ends
            await connection.execute("BEGIN")
            await connection.execute("CREATE TEMP TABLE left_behind (id int) ON COMMIT DROP")
        async with pool.acquire() as connection:
            assert not connection.is_in_transaction()
    finally:
        for holder in holders:
            if holder._con is not None:
                holder._con._query_loggers.clear()
    assert any("users" in query for query in seen)
    assert not [query for query in seen if "RESET ALL" in query or "UNLISTEN" in query]
