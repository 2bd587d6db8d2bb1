"""The migrations and the models agree, and an old database upgrades with its rows intact."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import asyncpg
import pytest

from services import database
from services.settings import Settings
from tests.conftest import PG_SERVER, create_pg_database, drop_pg_database

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_models_have_no_unmigrated_changes(dialect):
    # a separate process: aerich keeps its state in class attributes
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "makemigrations", "--check", "--dialect", dialect],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_both_dialects_have_the_same_history():
    names = {d: [p.name.split("_")[0] + "_" + p.stem.split("_", 2)[2] for p in sorted(database.migrations_location(d).glob("models/*.py"))] for d in ("sqlite", "postgres")}
    assert names["sqlite"] == names["postgres"]
    assert len(names["sqlite"]) >= 2


def _first_migration_only(dialect: str, tmp_path: Path) -> Path:
    location = tmp_path / dialect
    (location / "models").mkdir(parents=True)
    [first] = sorted(database.migrations_location(dialect).glob("models/0_*.py"))
    shutil.copy(first, location / "models" / first.name)
    return location


USER_ID = str(uuid.uuid4())
SESSION_ID = str(uuid.uuid4())


async def test_database_at_first_migration_upgrades_with_rows_intact(tmp_path):
    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    if PG_SERVER:
        name = f"vidgraph_upgrade_{uuid.uuid4().hex[:10]}"
        url = await create_pg_database(PG_SERVER, name)
    else:
        url = f"sqlite://{tmp_path / 'old.sqlite3'}"
    settings = Settings(database_url=url)
    try:
        first = await database.migrate(settings, location=_first_migration_only(settings.dialect, tmp_path))
        assert len(first) == 1
        if PG_SERVER:
            conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
            try:
                await conn.execute(
                    "INSERT INTO users (id, email, role, is_anonymous, created_at, updated_at) VALUES ($1, $2, 'user', false, $3, $3)",
                    uuid.UUID(USER_ID), "ada@example.com", stamp,
                )
                await conn.execute(
                    "INSERT INTO sessions (id, user_id, token_hash, created_at, expires_at, device_info) VALUES ($1, $2, 'h', $3, $3, '{}')",
                    uuid.UUID(SESSION_ID), uuid.UUID(USER_ID), stamp,
                )
            finally:
                await conn.close()
        else:
            with sqlite3.connect(tmp_path / "old.sqlite3") as conn:
                conn.execute(
                    "INSERT INTO users (id, email, role, is_anonymous, created_at, updated_at) VALUES (?, ?, 'user', 0, ?, ?)",
                    (USER_ID, "ada@example.com", stamp.isoformat(), stamp.isoformat()),
                )
                conn.execute(
                    "INSERT INTO sessions (id, user_id, token_hash, created_at, expires_at, device_info) VALUES (?, ?, 'h', ?, ?, '{}')",
                    (SESSION_ID, USER_ID, stamp.isoformat(), stamp.isoformat()),
                )

        rest = await database.migrate(settings)
        assert rest and all(not name.startswith("0_") for name in rest)
        assert await database.migrate(settings) == []

        if PG_SERVER:
            conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
            try:
                rows = await conn.fetch("SELECT u.email, s.id FROM users u JOIN sessions s ON s.user_id = u.id")
                indexes = {r["indexname"] for r in await conn.fetch("SELECT indexname FROM pg_indexes")}
            finally:
                await conn.close()
            assert [(r["email"], str(r["id"])) for r in rows] == [("ada@example.com", SESSION_ID)]
        else:
            with sqlite3.connect(tmp_path / "old.sqlite3") as conn:
                rows = conn.execute("SELECT u.email, s.id FROM users u JOIN sessions s ON s.user_id = u.id").fetchall()
                indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
            assert rows == [("ada@example.com", SESSION_ID)]
        assert "uniq_analyses_active" in indexes
    finally:
        if PG_SERVER:
            await drop_pg_database(PG_SERVER, name)


async def test_message_role_is_checked_by_the_database(asgi_app):
    from tortoise import connections
    from tortoise.exceptions import IntegrityError, OperationalError

    from models import Conversation, User

    user = await User.create(email="ada@example.com")
    conversation = await Conversation.create(user=user)
    conn = connections.get("default")
    ph = "$1, $2, $3" if PG_SERVER else "?, ?, ?"
    with pytest.raises((IntegrityError, OperationalError)):
        await conn.execute_query(
            f"INSERT INTO messages (id, conversation_id, role, content, metadata, created_at) VALUES ({ph}, 'robot', 'hi', '{{}}', CURRENT_TIMESTAMP)",
            [str(uuid.uuid4()) if not PG_SERVER else uuid.uuid4(), str(conversation.id) if not PG_SERVER else conversation.id],
        )
