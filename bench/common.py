"""What the server benchmarks share: a real vidgraph server in a subprocess, on a fresh database.

The server is `main.create_app` run by uvicorn exactly as `python main.py serve` runs it, with one
difference: YouTube is replaced by the fixture files (`tests.fixture_source.FixtureSource`), held
back by a gate per video, so no benchmark can reach the internet and a job can be kept running
(waiting at its first stage) for as long as a benchmark needs subscribers on it. Start it with
`running_server(...)`; this module is also the subprocess's entry point (`python -m bench.common`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import websockets

from tests.fixture_source import DATA, FixtureSource
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class GatedFixtureSource(FixtureSource):
    """The fixture videos as YouTube, but a video's job waits until `<gate_dir>/<video id>` exists."""

    def __init__(self, gate_dir: Path) -> None:
        super().__init__()
        self.gate_dir = gate_dir

    async def fetch_metadata(self, *, video_id: str) -> tuple[Any, dict[str, Any]]:
        # the gate opens from another process: a file is the simplest signal that crosses over
        while not (self.gate_dir / video_id).exists():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        return await super().fetch_metadata(video_id=video_id)


def open_gate(gate_dir: Path, video_id: str) -> None:
    (gate_dir / video_id).touch()


def fixture_files(video_id: str) -> tuple[Path, list[Path]]:
    [info] = DATA.glob(f"*[[]{video_id}[]].info.json")
    subtitles = sorted(p for p in DATA.glob(f"*[[]{video_id}[]].*") if not p.name.endswith(".info.json"))
    return info, subtitles



def raise_open_files(wanted: int) -> int:
    """Lift the soft limit on open files towards `wanted` (as far as the hard limit allows)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: the smallest value with at least pct % of the values at or below it."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def summary(values: Sequence[float]) -> str:
    return (f"n={len(values)} p50 {percentile(values, 50):.1f} p99 {percentile(values, 99):.1f} "
            f"max {max(values):.1f} mean {statistics.fmean(values):.1f}")


@dataclass(frozen=True)
class Database:
    url: str
    kind: str  # "sqlite" | "postgres"

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Read behind the server's back, for checks (never timed); `$1` placeholders on both."""
        if self.kind == "sqlite":
            with contextlib.closing(sqlite3.connect(self.url.split("://", 1)[1])) as conn:
                return [tuple(r) for r in conn.execute(sql.replace("$1", "?"), args).fetchall()]
        return _in_thread(self._pg_rows(sql, args))

    async def _pg_rows(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(_asyncpg_url(self.url))
        try:
            return [tuple(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()


def _in_thread(coroutine: Any) -> Any:
    # asyncpg from synchronous helpers that may be called inside the benchmark's own event loop
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def as_datetime(value: datetime | str) -> datetime:
    """A timestamp column as read back: a datetime from PostgreSQL, ISO text from SQLite."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _asyncpg_url(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


@contextlib.contextmanager
def fresh_database(kind: str, workdir: Path, pg_server: str = DEFAULT_PG_SERVER) -> Iterator[Database]:
    """A new, migrated SQLite file or PostgreSQL database, removed afterwards."""
    if kind == "sqlite":
        yield Database(f"sqlite://{workdir / 'bench.sqlite3'}", "sqlite")
        return
    name = f"vidgraph_bench_{uuid.uuid4().hex[:12]}"
    _in_thread(_pg_execute(pg_server, f'CREATE DATABASE "{name}"'))
    url = pg_server.rpartition("/")[0] + "/" + name
    try:
        env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
        subprocess.run([sys.executable, "main.py", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)
        yield Database(url, "postgres")
    finally:
        _in_thread(_pg_execute(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _pg_execute(server: str, sql: str) -> None:
    conn = await asyncpg.connect(_asyncpg_url(server))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    gate_dir: Path
    database: Database
    redis_prefix: str

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"


@contextlib.asynccontextmanager
async def running_server(
    *,
    database: str = "sqlite",
    redis_url: str | None = None,
    env: Mapping[str, str] | None = None,
    pg_server: str = DEFAULT_PG_SERVER,
    startup_timeout: float = 60.0,
) -> AsyncIterator[Server]:
    """One uvicorn process serving vidgraph on a free port, on a fresh database; stopped at exit."""
    workdir = Path(tempfile.mkdtemp(prefix="vidgraph-bench-"))
    gate_dir = workdir / "gates"
    gate_dir.mkdir()
    prefix = f"vidgraph_bench_{uuid.uuid4().hex[:8]}:"
    port = free_port()
    try:
        with fresh_database(database, workdir, pg_server) as db:
            server_env = {
                **os.environ,
                "DATABASE_URL": db.url,
                "REDIS_PREFIX": prefix,
                "LOG_LEVEL": "WARNING",
                "GRAPHIQL": "false",
                # with Redis the app would hand jobs to separate workers; run them in the server
                "JOBS_IN_PROCESS": "true",
                **(env or {}),
            }
            server_env.pop("REDIS_URL", None)
            if redis_url:
                server_env["REDIS_URL"] = redis_url
            log_path = workdir / "server.log"
            process = _spawn(["--port", str(port), "--gate-dir", str(gate_dir)], server_env, log_path)
            server = Server(process, port, gate_dir, db, prefix)
            try:
                await _wait_ready(server, startup_timeout, log_path)
                yield server
            finally:
                _stop(process)
                if redis_url:
                    await _forget_redis_keys(redis_url, prefix)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log:
        command = [sys.executable, "-m", "bench.common", *args]
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603


def _startup_failure(log_path: Path) -> RuntimeError:
    return RuntimeError("the server did not start:\n" + log_path.read_text(errors="replace")[-4000:])


async def _wait_ready(server: Server, seconds: float, log_path: Path) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=server.http) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                break
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    _stop(server.process)
    raise _startup_failure(log_path)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown: the lifespan closes clients
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _forget_redis_keys(redis_url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    try:
        keys = [key async for key in redis.scan_iter(match=prefix + "*", count=500)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


async def subscribe(
    url: str, token: str, query: str, variables: dict[str, Any], *, sub_id: str = "1"
) -> websockets.ClientConnection:
    """A signed-in graphql-transport-ws connection with one subscription started on it."""
    ws = await websockets.connect(url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
                                  open_timeout=60, max_queue=None)
    await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
    ack = json.loads(await asyncio.wait_for(ws.recv(), 60))
    if ack["type"] != "connection_ack":
        raise RuntimeError(f"connection refused: {ack}")
    await start(ws, query, variables, sub_id=sub_id)
    return ws


async def start(ws: websockets.ClientConnection, query: str, variables: dict[str, Any], *, sub_id: str) -> None:
    payload = {"query": query, "variables": variables}
    await ws.send(json.dumps({"id": sub_id, "type": "subscribe", "payload": payload}))


def _serve() -> None:
    """The server subprocess: `main.create_app` under uvicorn, with the gated fixture source."""
    import uvicorn

    from main import create_app
    from services.logs import configure_logging
    from services.settings import Settings

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--gate-dir", type=Path, required=True)
    args = parser.parse_args()
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    app = create_app(settings, source=GatedFixtureSource(args.gate_dir))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", **settings.uvicorn_options())


if __name__ == "__main__":
    _serve()
