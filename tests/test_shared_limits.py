"""Rate limits across processes: two API servers on one Redis share every budget, and losing
Redis mid-way leaves limits in force per process instead of failing or lifting them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlparse

import httpx
import pytest

from tests.conftest import REDIS_URL
from tests.helpers import data_of, gql, sign_up
from tests.test_worker import Deployment, deployment  # noqa: F401 (the fixture)

pytestmark = pytest.mark.skipif(not REDIS_URL, reason="VIDGRAPH_TEST_REDIS_URL is not set")

SEARCH = '{ search(query: "anything", first: 5) { edges { cursor } } }'


class RedisProxy:
    """A TCP relay in front of the real Redis, so a test can take Redis away and bring it back."""

    def __init__(self, target: str) -> None:
        parsed = urlparse(target)
        self.target = (parsed.hostname or "127.0.0.1", parsed.port or 6379)
        self.database = parsed.path or "/0"
        self.server: asyncio.Server | None = None
        self.links: set[asyncio.StreamWriter] = set()

    async def start(self, port: int = 0) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", port)
        bound: int = self.server.sockets[0].getsockname()[1]
        return bound

    def url(self, port: int) -> str:
        return f"redis://127.0.0.1:{port}{self.database}"

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.links):
            writer.close()
        await self.server.wait_closed()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self.links |= {client_writer, upstream_writer}

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.close()

        await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))


@pytest.fixture
async def two_apis(deployment: Deployment) -> AsyncIterator[tuple[str, str]]:  # noqa: F811
    deployment.env["RATE_LIMIT_SEARCH"] = "3/60"
    first = await deployment.start_api("api-1")
    second = await deployment.start_api("api-2")
    yield first, second


async def test_two_servers_on_one_redis_allow_exactly_the_limit(two_apis):
    first, second = two_apis
    async with httpx.AsyncClient(base_url=first) as one, httpx.AsyncClient(base_url=second) as two:
        token = await sign_up(one)
        answers = [await gql(client, SEARCH, token=token) for client in (one, two, one)]
        assert all("errors" not in a for a in answers), answers
        refused = await two.post("/graphql", json={"query": SEARCH}, headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "RateLimit-Policy" in refused.headers
    assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


async def test_losing_redis_mid_way_keeps_limits_per_process_and_never_fails(deployment):  # noqa: F811
    assert REDIS_URL is not None
    proxy = RedisProxy(REDIS_URL)
    port = await proxy.start()
    deployment.env["REDIS_URL"] = proxy.url(port)
    deployment.env["RATE_LIMIT_SEARCH"] = "2/60"
    deployment.env["RATE_LIMIT_REDIS_RETRY_SECONDS"] = "1"
    api = await deployment.start_api()
    async with httpx.AsyncClient(base_url=api) as client:
        token = await sign_up(client)
        assert "errors" not in await gql(client, SEARCH, token=token)
        await proxy.stop()  # Redis is gone for this server from here on
        statuses = []
        for _ in range(4):
            response = await client.post(
                "/graphql", json={"query": SEARCH}, headers={"Authorization": f"Bearer {token}"}
            )
            statuses.append(response.status_code)
        # counting falls back to this process's memory: the budget holds, nothing fails with 500
        assert 500 not in statuses
        assert statuses.count(429) >= 2, statuses
        viewer = data_of(await gql(client, "{ viewer { email } }", token=token))["viewer"]
        assert viewer["email"] == "ada@example.com"
    assert "counting per process in memory" in deployment.logs()
