"""The database: Tortoise configuration, start-up and shut-down, and aerich migrations.

aerich writes dialect-specific SQL, so each dialect keeps its own migration history under
`migrations/<dialect>/`; both are generated from the same models by `main.py makemigrations`.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import asyncpg
from aerich import Command
from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.context import TortoiseContext

from models import MODEL_MODULES
from services.settings import Settings

log = logging.getLogger(__name__)

MIGRATIONS_ROOT = Path(__file__).resolve().parent.parent / "migrations"
APP = "models"


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": _normalise_url(database_url)},
        "apps": {APP: {"models": [*MODEL_MODULES, "aerich.models"], "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


def _normalise_url(url: str) -> str:
    # accept the spellings people paste from other tools
    for prefix in ("postgresql://", "postgresql+asyncpg://", "asyncpg://"):
        if url.startswith(prefix):
            return "postgres://" + url[len(prefix) :]
    return url


def dialect_of(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgres"


def migrations_location(dialect: str) -> Path:
    return MIGRATIONS_ROOT / dialect


def _ensure_sqlite_dir(settings: Settings) -> None:
    path = settings.sqlite_path()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


class StatelessConnection(asyncpg.Connection):  # type: ignore[misc]
    """A pooled PostgreSQL connection returned to the pool without asyncpg's reset query.

    Tortoise takes a connection from the pool for each statement, and on each release asyncpg
    runs `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;`: a second round
    trip per statement (nine on a library page) and work for the database, which shares the
    machine. vidgraph leaves no session state to reset: no `SET`, no `LISTEN` (events go through
    Redis or memory), no advisory locks, no cursors, no temporary tables; asyncpg still rolls back
    a transaction left open on release."""

    def get_reset_query(self) -> str:
        return ""


def runtime_config(database_url: str) -> dict[str, Any]:
    """`tortoise_config` for serving: on PostgreSQL, pooled connections are `StatelessConnection`s."""
    config = tortoise_config(database_url)
    url = config["connections"]["default"]
    if dialect_of(url) == "postgres":
        connection = expand_db_url(url)
        connection["credentials"]["connection_class"] = StatelessConnection
        config["connections"]["default"] = connection
    return config


async def init_database(settings: Settings) -> None:
    _ensure_sqlite_dir(settings)
    # the app's handlers run outside the context this call creates (Starlette lifespan, worker
    # loops), so Tortoise must fall back to the global context it sets up here
    await Tortoise.init(config=runtime_config(settings.database_url), _enable_global_fallback=True)
    if settings.is_sqlite:
        conn = connections.get("default")
        # WAL lets readers work while the job runner writes; foreign keys are off by default
        await conn.execute_script("PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;")


async def close_database() -> None:
    await Tortoise.close_connections()


async def ping_database() -> None:
    await connections.get("default").execute_query("SELECT 1")


async def migrate(settings: Settings, *, location: Path | None = None) -> list[str]:
    """Bring the database to the newest migration; returns the migrations applied."""
    _ensure_sqlite_dir(settings)
    config = tortoise_config(settings.database_url)
    # a context of its own, so that the app's Tortoise set-up afterwards starts clean
    with TortoiseContext():
        await Tortoise.init(config=config)
        command = Command(
            tortoise_config=config, app=APP, location=str(location or migrations_location(settings.dialect))
        )
        try:
            await command.init()
            applied = await command.upgrade(run_in_transaction=True)
        finally:
            await Tortoise.close_connections()
    for name in applied:
        log.info("applied migration %s", name)
    return applied


# Where makemigrations points each dialect: offline generation never connects.
_OFFLINE_URLS = {"sqlite": "sqlite://:memory:", "postgres": "postgres://offline@127.0.0.1:9/offline"}


async def make_migrations(*, name: str, dialect: str, empty: bool = False, location: Path | None = None) -> str | None:
    """Write the migration that takes `dialect`'s history to the current models, if any change."""
    location = location or migrations_location(dialect)
    command = Command(tortoise_config=tortoise_config(_OFFLINE_URLS[dialect]), app=APP, location=str(location))
    # not `async with command`: entering it initialises online, which connects to the database
    try:
        if not any(Path(location, APP).glob("0_*.py")):  # noqa: ASYNC240 (a developer command)
            await command.init_migrations(safe=True)
            return "0_init"
        await command.init(offline=True)
        created = await command.migrate(name, empty=empty, no_input=True, offline=True)
    finally:
        await command.aclose()
    return created or None


async def has_pending_changes(*, dialect: str) -> bool:
    """Whether the models differ from what `dialect`'s migrations build (checked on a copy)."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp, dialect)
        shutil.copytree(migrations_location(dialect), copy)
        return await make_migrations(name="pending", dialect=dialect, location=copy) is not None
