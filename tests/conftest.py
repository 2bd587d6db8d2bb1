"""Test harness: a fresh database (SQLite, or PostgreSQL when VIDGRAPH_TEST_DATABASE_URL names a
server), Redis when VIDGRAPH_TEST_REDIS_URL is set, the app through its real lifespan, and a live
uvicorn server for WebSocket clients. Every test starts from empty tables."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from tortoise import connections

from main import AppServices, create_app
from services import database
from services.jobs import InProcessQueue
from services.settings import Settings
from tests.fixture_source import FixtureSource

PG_SERVER = os.environ.get("VIDGRAPH_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("VIDGRAPH_TEST_REDIS_URL")


def pg_url(server: str, name: str) -> str:
    base, _, _ = server.rpartition("/")
    return f"{base}/{name}"


async def create_pg_database(server: str, name: str) -> str:
    conn = await asyncpg.connect(server.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return pg_url(server, name)


async def drop_pg_database(server: str, name: str) -> None:
    conn = await asyncpg.connect(server.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def settings(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Settings]:
    name = f"vidgraph_test_{uuid.uuid4().hex[:12]}"
    if PG_SERVER:
        url = await create_pg_database(PG_SERVER, name)
    else:
        url = f"sqlite://{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    settings = Settings(
        database_url=url,
        redis_url=REDIS_URL,
        redis_prefix=f"{name}:",
        session_cleanup_interval_seconds=3600,
        jobs_in_process=True,
    )
    await database.migrate(settings)
    yield settings
    if PG_SERVER:
        await drop_pg_database(PG_SERVER, name)


@pytest.fixture(scope="session")
def fixture_source() -> FixtureSource:
    return FixtureSource()


@pytest.fixture(scope="session")
async def lifespan(settings: Settings, fixture_source: FixtureSource) -> AsyncIterator[LifespanManager]:
    app = create_app(settings, source=fixture_source)
    async with LifespanManager(app) as manager:
        yield manager


@pytest.fixture(scope="session")
def asgi_app(lifespan: LifespanManager) -> Any:
    return lifespan.app


@pytest.fixture(scope="session")
def app_services(lifespan: LifespanManager) -> AppServices:
    """The running app's services (queue, broker, analyzer), as its lifespan made them."""
    services: AppServices = lifespan._state["services"]
    return services


@pytest.fixture
async def client(asgi_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=asgi_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture(scope="session")
async def live_server(asgi_app: Any) -> AsyncIterator[str]:
    """The same app behind a real uvicorn socket, for real WebSocket clients."""
    config = uvicorn.Config(
        asgi_app, host="127.0.0.1", port=0, lifespan="off", log_level="warning", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    await task


def _model_tables() -> list[str]:
    from tortoise import Tortoise

    tables = []
    for model in Tortoise.apps["models"].values():
        if model._meta.db_table != "aerich":
            tables.append(model._meta.db_table)
            tables.extend(f.through for f in model._meta.fetch_fields if getattr(f, "through", None))
    return sorted(set(tables))


@pytest.fixture(autouse=True)
async def empty_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    services = request.getfixturevalue("app_services") if "asgi_app" in request.fixturenames else None
    yield
    if services is None:
        return
    # A test may end while a job it started still writes; let in-process work finish first.
    queue = services.queue
    if isinstance(queue, InProcessQueue):
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(30):
                await queue.wait_idle()
    conn = connections.get("default")
    tables = _model_tables()
    if PG_SERVER:
        # TRUNCATE locks every table; a write still in flight elsewhere (a session touch, a
        # subscriber's read) can deadlock with it. PostgreSQL picks one side to fail: retry ours.
        for attempt in range(5):
            try:
                await conn.execute_script("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")
                break
            except Exception as error:
                if "deadlock" not in str(error) or attempt == 4:
                    raise
                await asyncio.sleep(0.1 * (attempt + 1))
    else:
        await conn.execute_script(
            "PRAGMA foreign_keys=OFF;" + "".join(f'DELETE FROM "{t}";' for t in tables) + "PRAGMA foreign_keys=ON;"
        )


FIXTURES = Path(__file__).parent / "fixtures"
