"""Requests per second of a cheap query, `{ viewer { id } }`, with rate limits off, in memory and in
Redis, side by side in one run; and the Redis round trips the limiter makes per request.

Run: `python -m bench.bench_rate_limits [--redis redis://127.0.0.1:6379/15]` from the repository root.
The app runs in process (httpx's ASGI transport, a temporary SQLite file, one signed-in client) on
uvloop, as under `main.py serve`, so the figures are the server's own cost per request. Prints the
median of several rounds per variant.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvloop
from redis.asyncio.connection import Connection
from starlette.types import Receive, Scope, Send
from strawberry.extensions import ParserCache, ValidationCache

from main import AppServices, runtime
from schema import Mutation, Query, Subscription, VidgraphSchema
from schema.extensions import ErrorPolicy, FreshLoaders
from schema.protection import QueryLimits, protection_extensions
from schema.view import GraphQLView
from services import database
from services.rate_limits import RateLimiter, RateLimitSettings
from services.settings import Settings

CHEAP = "{ viewer { id } }"
ROUNDS = 7
REQUESTS = 400


def make_view(settings: Settings) -> GraphQLView:
    # the production extensions in their production order, plus protection
    schema = VidgraphSchema(
        query=Query, mutation=Mutation, subscription=Subscription,
        extensions=[ErrorPolicy, FreshLoaders, lambda: ParserCache(maxsize=512),
                    lambda: ValidationCache(maxsize=512), *protection_extensions(settings, QueryLimits())],
    )
    return GraphQLView(schema, graphql_ide=None, limits=QueryLimits())


class RoundTrips:
    """Counts writes to Redis sockets: a pipeline is one write, so one write is one round trip."""

    def __init__(self) -> None:
        self.count = 0
        self._real: Callable[..., Any] = Connection.send_packed_command

    def __enter__(self) -> RoundTrips:
        real = self._real

        async def counting(conn: Connection, *args: Any, **kwargs: Any) -> None:
            self.count += 1
            await real(conn, *args, **kwargs)

        Connection.send_packed_command = counting  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        Connection.send_packed_command = self._real  # type: ignore[method-assign]


CONCURRENCY = 1  # clients at once; set by --concurrency


async def one_round(client: httpx.AsyncClient, token: str) -> float:
    """REQUESTS requests from CONCURRENCY clients at once: with more than one, the server's wait for
    Redis overlaps with other requests' work, as it does under real load."""
    headers = {"Authorization": f"Bearer {token}"}

    async def one_client(count: int) -> None:
        for _ in range(count):
            response = await client.post("/graphql", json={"query": CHEAP}, headers=headers)
            assert response.status_code == 200 and "errors" not in response.json(), response.text

    started = time.perf_counter()
    await asyncio.gather(*[one_client(REQUESTS // CONCURRENCY) for _ in range(CONCURRENCY)])
    return REQUESTS // CONCURRENCY * CONCURRENCY / (time.perf_counter() - started)


async def bench(redis_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite://{Path(tmp) / 'bench.sqlite3'}", jobs_in_process=True)
        await database.migrate(settings)
        # budgets high enough that the bench measures counting, not refusals
        rates = {**RateLimitSettings().rates}
        roomy = RateLimitSettings.from_env({"RATE_LIMIT_POINTS_PER_HOUR": "100000000"})
        rates["points"] = roomy.rates["points"]
        limiters: dict[str, RateLimiter | None] = {"off": None, "memory": RateLimiter(rates=rates)}
        if redis_url:
            prefix = f"bench-{uuid.uuid4().hex[:8]}:"
            limiters["redis"] = RateLimiter(rates=rates, redis_url=redis_url, prefix=prefix)
        async with runtime(settings) as services:
            view = make_view(settings)
            current: dict[str, AppServices] = {"services": services}

            async def app(scope: Scope, receive: Receive, send: Send) -> None:
                scope["state"] = dict(current)
                await view(scope, receive, send)

            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                anonymous = {"query": "mutation { startAnonymousSession { token } }"}
                started = await client.post("/graphql", json=anonymous)
                token = started.json()["data"]["startAnonymousSession"]["token"]
                rates_seen: dict[str, list[float]] = {name: [] for name in limiters}
                trips: dict[str, float] = {}
                for limiter in limiters.values():  # warm-up: caches, script loading
                    services.rate_limiter = limiter
                    await one_round(client, token)
                for _ in range(ROUNDS):  # variants interleaved so drift hits them all alike
                    for name, limiter in limiters.items():
                        services.rate_limiter = limiter
                        with RoundTrips() as counter:
                            rates_seen[name].append(await one_round(client, token))
                        trips[name] = counter.count / REQUESTS
            for limiter in limiters.values():
                if limiter is not None:
                    await limiter.aclose()
    print(f"{CHEAP}: {REQUESTS} requests x {ROUNDS} rounds per variant, {CONCURRENCY} client(s) at once, "
          "median req/s")
    base = statistics.median(rates_seen["off"])
    for name, seen in rates_seen.items():
        median = statistics.median(seen)
        print(f"  limits {name:<7} {median:8.0f} req/s  ({median / base - 1:+.1%} vs off)"
              f"  Redis round trips/request: {trips[name]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", help="a Redis URL to bench the shared limiter against")
    parser.add_argument("--concurrency", type=int, default=1, help="clients sending at once (default 1)")
    args = parser.parse_args()
    global CONCURRENCY
    CONCURRENCY = max(1, args.concurrency)
    # uvloop: the loop `main.py serve` runs on (uvicorn[standard] picks it)
    uvloop.run(bench(args.redis))


if __name__ == "__main__":
    main()
