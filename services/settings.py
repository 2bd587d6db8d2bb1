"""One typed settings object, read from the environment once at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_DATABASE_URL = "sqlite://var/vidgraph.sqlite3"


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting vidgraph reads; defaults give the embedded single-process shape."""

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    redis_prefix: str = "vidgraph:"
    host: str = "127.0.0.1"
    port: int = 8000
    debug: bool = False
    graphiql: bool = True
    session_ttl_seconds: int = 7 * 24 * 3600
    session_cleanup_interval_seconds: int = 3600
    password_min_length: int = 8
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    openai_embedding_model: str | None = "text-embedding-3-small"
    log_level: str = "INFO"
    jobs_in_process: bool = True
    job_concurrency: int = 2
    job_lease_seconds: float = 60.0
    max_video_seconds: float = 6 * 3600
    ws_compression: bool = False
    sql_json: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            database_url=env.get("DATABASE_URL", DEFAULT_DATABASE_URL),
            redis_url=env.get("REDIS_URL") or None,
            redis_prefix=env.get("REDIS_PREFIX", "vidgraph:"),
            host=env.get("HOST", "127.0.0.1"),
            port=int(env.get("PORT", "8000")),
            debug=_bool(env.get("DEBUG", "false")),
            graphiql=_bool(env.get("GRAPHIQL", "true")),
            session_ttl_seconds=int(env.get("SESSION_TTL_SECONDS", str(7 * 24 * 3600))),
            session_cleanup_interval_seconds=int(env.get("SESSION_CLEANUP_INTERVAL_SECONDS", "3600")),
            password_min_length=int(env.get("PASSWORD_MIN_LENGTH", "8")),
            openai_api_key=env.get("OPENAI_API_KEY") or None,
            openai_base_url=env.get("OPENAI_BASE_URL") or None,
            openai_model=env.get("OPENAI_MODEL", "gpt-4o-mini"),
            # empty turns embeddings off; an endpoint without the model turns them off by itself
            openai_embedding_model=env.get("OPENAI_EMBEDDING_MODEL", "text-embedding-3-small") or None,
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
            # with Redis, `python main.py worker` processes run the jobs unless told otherwise
            jobs_in_process=_bool(env.get("JOBS_IN_PROCESS", "false" if env.get("REDIS_URL") else "true")),
            job_concurrency=int(env.get("JOB_CONCURRENCY", "2")),
            job_lease_seconds=float(env.get("JOB_LEASE_SECONDS", "60")),
            max_video_seconds=float(env.get("MAX_VIDEO_SECONDS", str(6 * 3600))),
            ws_compression=_bool(env.get("WS_COMPRESSION", "false")),
            # a library page from one statement that builds its JSON (PostgreSQL; schema/sql_json.py)
            sql_json=_bool(env.get("SQL_JSON", "true")),
        )

    def uvicorn_options(self) -> dict[str, Any]:
        """How uvicorn serves the app. WebSocket frames go uncompressed unless asked: events are a
        few hundred bytes, and permessage-deflate costs each connection its own zlib state (most of
        its memory) and every frame a compression, for little saved."""
        return {"log_config": None, "ws_per_message_deflate": self.ws_compression}

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def dialect(self) -> str:
        return "sqlite" if self.is_sqlite else "postgres"

    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        path = self.database_url.split("://", 1)[1]
        return None if path in {"", ":memory:"} else Path(path)
