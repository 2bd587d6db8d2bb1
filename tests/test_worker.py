"""The production shape: an API process and separate worker processes sharing Redis and the database.

Everything runs as real processes (`python main.py serve`, `python main.py worker`); the test talks to
them only over HTTP and WebSocket, as a client would. Jobs start from imports, so no worker ever needs
YouTube.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from tests.conftest import PG_SERVER, REDIS_URL, create_pg_database, drop_pg_database
from tests.fixture_source import MARATHON
from tests.helpers import data_of, free_port, gql, sign_up
from tests.schema.test_analyses import _collect, _subscribe
from tests.schema.test_import import compiler_files, fixture_file, import_files

pytestmark = pytest.mark.skipif(not REDIS_URL, reason="VIDGRAPH_TEST_REDIS_URL is not set")

REPO = Path(__file__).resolve().parent.parent
LEASE_SECONDS = 3
STATUS = "query($id: ID!) { node(id: $id) { ... on Analysis { status progress highlights { id } } } }"
LIBRARY = "{ viewer { library(first: 5) { edges { node { video { youtubeId } analysis { id status } } } } } }"



class Deployment:
    """The processes of one production-shaped deployment, and what they need to share."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp = tmp
        self.env = env
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.api_url = ""

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        # output goes to a file: a full pipe would stall the process
        with open(self.tmp / f"{name}.log", "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "main.py", *args], cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self.processes.append((name, process))
        return process

    async def start_api(self, name: str = "api") -> str:
        port = free_port()
        api = self.start(name, "serve", "--port", str(port))
        self.api_url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=self.api_url) as client:
            deadline = time.monotonic() + 30
            while True:
                assert api.poll() is None, f"the API exited with {api.returncode}\n{self.logs()}"
                assert time.monotonic() < deadline, f"the API never became ready\n{self.logs()}"
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        return self.api_url
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        return self.start(name, "worker")

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name} ---\n{path.read_text(encoding='utf-8', errors='replace')[-4000:]}"
            for path in sorted(self.tmp.glob("*.log"))
        )

    def stop_all(self) -> None:
        for _, process in self.processes:
            if process.poll() is None:
                process.terminate()
        for _, process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


async def delete_redis_keys(url: str, prefix: str) -> None:
    redis = Redis.from_url(url)
    try:
        # the app's own keys, and saq's for the queue named `<prefix>jobs`
        for pattern in (f"{prefix}*", f"saq:{prefix}*", f"saq:job:{prefix}*"):
            keys = [key async for key in redis.scan_iter(match=pattern, count=500)]
            if keys:
                await redis.delete(*keys)
    finally:
        await redis.aclose()


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    assert REDIS_URL is not None
    name = f"vidgraph_worker_{uuid.uuid4().hex[:12]}"
    database_url = await create_pg_database(PG_SERVER, name) if PG_SERVER else f"sqlite://{tmp_path / 'x.sqlite3'}"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONUTF8": "1",
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": f"{name}:",
        # the API only enqueues: a job that runs at all ran in a worker
        "JOBS_IN_PROCESS": "false",
        "JOB_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    deployment = Deployment(tmp_path, env)
    try:
        # once, before any process starts, as an operator does on every release
        migrate = await asyncio.create_subprocess_exec(
            sys.executable, "main.py", "migrate", cwd=REPO, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            _, errors = await asyncio.wait_for(migrate.communicate(), 60)
        except TimeoutError:
            migrate.kill()
            raise
        assert migrate.returncode == 0, errors.decode()
        yield deployment
    finally:
        deployment.stop_all()
        await delete_redis_keys(REDIS_URL, f"{name}:")
        if PG_SERVER:
            await drop_pg_database(PG_SERVER, name)


async def analysis_state(client: httpx.AsyncClient, token: str, analysis_id: str) -> dict[str, Any]:
    node: dict[str, Any] = data_of(await gql(client, STATUS, {"id": analysis_id}, token=token))["node"]
    return node


async def wait_for_status(
    client: httpx.AsyncClient, token: str, analysis_id: str, statuses: set[str]
) -> dict[str, Any]:
    while True:
        state = await analysis_state(client, token, analysis_id)
        if state["status"] in statuses:
            return state
        await asyncio.sleep(0.2)


async def until_stage(ws: Any, status: str, deployment: Deployment) -> None:
    """Read the progress subscription until the job enters ``status``."""
    try:
        async with asyncio.timeout(60):
            while True:
                message = json.loads(await ws.recv())
                assert message["type"] == "next", message
                event = message["payload"]["data"]["analysisProgress"]
                assert not event["final"], f"the job ended before {status}: {event}\n{deployment.logs()}"
                if event["kind"] == "stage" and event["status"] == status:
                    return
    except TimeoutError:
        # a failure with the logs, rather than a bare TimeoutError
        pytest.fail(f"the job never reached {status}\n{deployment.logs()}")


async def test_worker_process_runs_an_import_and_progress_reaches_the_api_subscriber(deployment):
    api_url = await deployment.start_api()
    host = api_url.removeprefix("http://")
    async with httpx.AsyncClient(base_url=api_url) as client:
        token = await sign_up(client)
        info_json, subtitles = compiler_files()
        payload = data_of(await import_files(client, info_json, subtitles, token=token))["importVideo"]
        assert payload["errors"] == []
        analysis_id = payload["analysis"]["id"]
        # no worker yet, and the API does not run jobs itself: the job waits in the queue
        await asyncio.sleep(1)
        assert (await analysis_state(client, token, analysis_id))["status"] == "QUEUED"

        ws = await _subscribe(host, "graphql-transport-ws", token, analysis_id)
        async with ws:
            deployment.start_worker("worker")
            events = await _collect(ws, "graphql-transport-ws")

        assert events[0]["kind"] == "state" and events[0]["status"] == "QUEUED", deployment.logs()
        # every stage the worker went through reached this subscriber of the API process
        stages = [e["status"] for e in events if e["kind"] == "stage"]
        assert stages == ["FETCHING_METADATA", "FETCHING_TRANSCRIPT", "ANALYZING"], deployment.logs()
        assert any(e["kind"] == "highlight" for e in events)
        final = events[-1]
        assert (final["final"], final["status"], final["analysis"]["status"]) == (True, "COMPLETED", "COMPLETED")

        done = await analysis_state(client, token, analysis_id)
        assert done["status"] == "COMPLETED" and done["highlights"]
        library = data_of(await gql(client, LIBRARY, token=token))["viewer"]["library"]["edges"]
        assert [e["node"]["analysis"]["id"] for e in library] == [analysis_id]


async def test_job_of_a_killed_worker_completes_in_a_new_worker(deployment):
    api_url = await deployment.start_api()
    async with httpx.AsyncClient(base_url=api_url) as client:
        token = await sign_up(client)
        # the three-hour talk: its analysis lasts long enough to be caught in the middle
        info_json, vtt = fixture_file(MARATHON, "info.json"), fixture_file(MARATHON, "en-orig.vtt")
        payload = data_of(await import_files(client, info_json, [vtt], token=token))["importVideo"]
        analysis_id = payload["analysis"]["id"]

        # pushed events arrive within milliseconds, where polling could miss the whole analysis
        ws = await _subscribe(api_url.removeprefix("http://"), "graphql-transport-ws", token, analysis_id)
        async with ws:
            first = deployment.start_worker("worker-1")
            await until_stage(ws, "ANALYZING", deployment)
            first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        # killed in the middle: the job still holds its lease and nothing half-done is shown
        killed = await analysis_state(client, token, analysis_id)
        assert killed["status"] == "ANALYZING" and killed["highlights"] == [], deployment.logs()

        deployment.start_worker("worker-2")
        # the dead worker's lease runs out after LEASE_SECONDS; the new worker needs a few seconds to
        # start and notice: well within this, unless something other than the lease holds the job
        async with asyncio.timeout(20):
            done = await wait_for_status(client, token, analysis_id, {"COMPLETED", "FAILED", "CANCELLED"})
        assert done["status"] == "COMPLETED", deployment.logs()
        assert done["highlights"]
