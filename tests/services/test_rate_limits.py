"""The rate limiter: budgets per class and per hour, in memory and shared through Redis, and its
fallback to memory while Redis does not answer."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from services.rate_limits import (
    POINTS,
    RateLimiter,
    RateLimitSettings,
    identity_of,
    make_rate_limiter,
    parse_rate,
)

REDIS_URL = os.environ.get("VIDGRAPH_TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="VIDGRAPH_TEST_REDIS_URL is not set")
DEAD_REDIS = "redis://127.0.0.1:9/0"  # the discard port: nothing listens there


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock | None = None, **kwargs) -> RateLimiter:
    return RateLimiter(rates=RateLimitSettings().rates, clock=clock or Clock(), **kwargs)


async def test_analyze_allows_five_a_minute_then_refuses():
    rl = limiter()
    decisions = [await rl.hit(identity="user:a", operation_class="analyze") for _ in range(7)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0, 0]
    assert decisions[0].policy == '"analyze";q=5;w=60'


async def test_refusal_says_when_to_retry_and_the_window_then_refills():
    clock = Clock()
    rl = limiter(clock)
    for _ in range(5):
        await rl.hit(identity="user:a", operation_class="analyze")
    refused = await rl.hit(identity="user:a", operation_class="analyze")
    assert not refused.allowed
    assert 1 <= refused.retry_after <= 60
    assert refused.reset_at == pytest.approx(clock.now + refused.retry_after, abs=1)
    clock.now = refused.reset_at
    again = await rl.hit(identity="user:a", operation_class="analyze")
    assert again.allowed and again.remaining == 4


async def test_default_budgets_match_the_seed():
    rates = RateLimitSettings().rates
    assert {name: (r.amount, r.get_expiry()) for name, r in rates.items()} == {
        "analyze": (5, 60), "search": (30, 60), "history": (20, 60), "chat": (20, 60), POINTS: (5000, 3600),
    }


async def test_identities_are_counted_apart():
    rl = limiter()
    for _ in range(5):
        await rl.hit(identity="user:a", operation_class="analyze")
    assert (await rl.hit(identity="user:b", operation_class="analyze")).allowed
    assert not (await rl.hit(identity="user:a", operation_class="analyze")).allowed


async def test_points_are_charged_by_cost_and_a_refused_query_costs_nothing():
    rl = limiter()
    assert (await rl.hit(identity="user:a", operation_class=POINTS, cost=4000)).remaining == 1000
    refused = await rl.hit(identity="user:a", operation_class=POINTS, cost=2000)
    assert not refused.allowed and refused.remaining == 1000
    fits = await rl.hit(identity="user:a", operation_class=POINTS, cost=1000)
    assert fits.allowed and fits.remaining == 0 and fits.used == 5000


async def test_hit_all_charges_nothing_when_one_limit_refuses():
    rl = limiter()
    await rl.hit(identity="user:a", operation_class=POINTS, cost=4990)
    search, points = await rl.hit_all(identity="user:a", costs={"search": 1, POINTS: 11})
    assert search.allowed and not points.allowed
    assert (await rl.peek(identity="user:a", operation_class="search")).remaining == 30
    assert (await rl.peek(identity="user:a", operation_class=POINTS)).remaining == 10


async def test_peek_charges_nothing():
    rl = limiter()
    await rl.hit(identity="user:a", operation_class="search")
    first = await rl.peek(identity="user:a", operation_class="search")
    second = await rl.peek(identity="user:a", operation_class="search")
    assert first.remaining == second.remaining == 29
    assert first.cost == 0 and first.allowed


def test_header_item_follows_the_ietf_draft():
    rl = limiter()
    decision = asyncio.run(rl.hit(identity="user:a", operation_class="search"))
    item = decision.header_item(now=rl.clock())
    assert item.startswith('"search";r=29;t=')
    assert 1 <= int(item.rsplit("=", 1)[1]) <= 60


def test_settings_read_the_environment():
    settings = RateLimitSettings.from_env({"RATE_LIMIT_ANALYZE": "2/10", "RATE_LIMIT_POINTS_PER_HOUR": "300"})
    assert (settings.rates["analyze"].amount, settings.rates["analyze"].get_expiry()) == (2, 10)
    assert settings.rates["search"].amount == 30
    assert settings.rates[POINTS].amount == 300
    assert settings.enabled


def test_limits_can_be_turned_off():
    settings = RateLimitSettings.from_env({"RATE_LIMITS_ENABLED": "false"})
    assert make_rate_limiter(settings=settings, redis_url=None, prefix="x:") is None


@pytest.mark.parametrize("text", ["five", "5/0", "0/60", "-1/60"])
def test_malformed_rates_are_refused(text):
    with pytest.raises(ValueError, match="rate"):
        parse_rate(text)


def test_identity_is_the_user_else_the_address():
    assert identity_of(user_id="u1", client_address="10.0.0.1") == "user:u1"
    assert identity_of(user_id=None, client_address="10.0.0.1") == "ip:10.0.0.1"
    assert identity_of(user_id=None, client_address=None) == "ip:unknown"


async def test_unreachable_redis_falls_back_to_memory_with_one_warning(caplog):
    rl = limiter(redis_url=DEAD_REDIS, redis_timeout_seconds=0.2, redis_retry_seconds=0)
    caplog.set_level(logging.WARNING, logger="vidgraph.rate_limits")
    try:
        decisions = [await rl.hit(identity="user:a", operation_class="analyze") for _ in range(6)]
    finally:
        await rl.aclose()
    # never an error and never unlimited: the same budget, counted in this process
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert not rl.shared
    warnings = [r for r in caplog.records if "Redis does not answer" in r.getMessage()]
    assert len(warnings) == 1


async def test_a_redis_that_never_answers_costs_a_request_only_the_timeout(caplog):
    """Connected, then silence: each call gives up after the timeout and counts in memory."""
    connections: list[asyncio.StreamWriter] = []

    async def accept_and_say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)

    mute = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    port = mute.sockets[0].getsockname()[1]
    rl = limiter(redis_url=f"redis://127.0.0.1:{port}/0", redis_timeout_seconds=0.2, redis_retry_seconds=0)
    caplog.set_level(logging.WARNING, logger="vidgraph.rate_limits")
    try:
        started = asyncio.get_running_loop().time()
        decisions = await asyncio.wait_for(
            asyncio.gather(*(rl.hit(identity="user:a", operation_class="analyze") for _ in range(6))), 10
        )
        took = asyncio.get_running_loop().time() - started
    finally:
        await rl.aclose()
        for writer in connections:
            writer.close()
        mute.close()
        await mute.wait_closed()
    assert sorted(d.allowed for d in decisions) == [False] + [True] * 5
    assert not rl.shared
    assert took < 2.0
    assert any("Redis does not answer" in r.getMessage() for r in caplog.records)


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    yield prefix
    assert REDIS_URL is not None
    client = Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@needs_redis
async def test_two_limiters_sharing_redis_allow_exactly_the_limit_in_total(redis_prefix):
    clock = Clock()
    one, two = (limiter(clock, redis_url=REDIS_URL, prefix=redis_prefix) for _ in range(2))
    try:
        decisions = await asyncio.gather(
            *(rl.hit(identity="user:a", operation_class="analyze") for rl in (one, two) for _ in range(10))
        )
    finally:
        await one.aclose()
        await two.aclose()
    assert sum(d.allowed for d in decisions) == 5
    assert one.shared and two.shared


@needs_redis
async def test_a_request_costs_one_redis_round_trip(redis_prefix, monkeypatch):
    rl = limiter(redis_url=REDIS_URL, prefix=redis_prefix)
    await rl.hit(identity="user:a", operation_class="search")  # loads the script once
    client = rl._shared.bridge.get_connection()  # type: ignore[union-attr]
    trips = 0
    real_execute = type(client.pipeline()).execute

    async def counting_execute(self, *args, **kwargs):
        nonlocal trips
        trips += 1
        return await real_execute(self, *args, **kwargs)

    monkeypatch.setattr(type(client.pipeline()), "execute", counting_execute)
    try:
        search, points = await rl.hit_all(identity="user:a", costs={"search": 1, POINTS: 12})
    finally:
        await rl.aclose()
    assert trips == 1
    assert (search.remaining, points.remaining) == (28, 4988)


@needs_redis
async def test_a_redis_that_forgot_the_script_is_taught_again(redis_prefix):
    rl = limiter(redis_url=REDIS_URL, prefix=redis_prefix)
    try:
        await rl.hit(identity="user:a", operation_class="chat")
        await rl._shared.bridge.get_connection().script_flush()  # type: ignore[union-attr]
        decision = await rl.hit(identity="user:a", operation_class="chat")
    finally:
        await rl.aclose()
    assert decision.remaining == 18 and rl.shared


class RedisProxy:
    """A TCP hop in front of the test Redis that can be cut and restored, like a Redis restart."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.server: asyncio.Server | None = None
        self.port = 0
        self.pipes: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.pipes:
            writer.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.pipes |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))


@needs_redis
async def test_redis_stopping_mid_way_falls_back_then_returns(redis_prefix, caplog):
    assert REDIS_URL is not None
    target = Redis.from_url(REDIS_URL).connection_pool.connection_kwargs
    proxy = RedisProxy(target.get("host", "127.0.0.1"), target.get("port", 6379))
    await proxy.start()
    db = target.get("db", 0)
    rl = limiter(redis_url=f"redis://127.0.0.1:{proxy.port}/{db}", prefix=redis_prefix,
                 redis_timeout_seconds=0.3, redis_retry_seconds=0)
    caplog.set_level(logging.INFO, logger="vidgraph.rate_limits")
    try:
        assert (await rl.hit(identity="user:a", operation_class="analyze")).remaining == 4
        await proxy.stop()
        during = [await rl.hit(identity="user:a", operation_class="analyze") for _ in range(6)]
        assert not rl.shared
        await proxy.start()
        after = await rl.hit(identity="user:a", operation_class="analyze")
    finally:
        await rl.aclose()
        await proxy.stop()
    # in memory the outage starts a fresh count, still bounded; back on Redis the shared count goes on
    assert [d.allowed for d in during] == [True] * 5 + [False]
    assert rl.shared and after.remaining == 3
    messages = [r.getMessage() for r in caplog.records]
    assert sum("Redis does not answer" in m for m in messages) == 1
    assert sum("Redis answers again" in m for m in messages) == 1
