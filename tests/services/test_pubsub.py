from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest
from redis.asyncio import Redis

from services.pubsub import Broker, InMemoryBroker, RedisBroker, Subscription, SubscriptionDropped

REDIS_URL = os.environ.get("VIDGRAPH_TEST_REDIS_URL", "")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="VIDGRAPH_TEST_REDIS_URL is not set")

BrokerFactory = Callable[..., Broker]


async def next_message(messages: AsyncIterator[Mapping[str, Any]], within: float = 5.0) -> Mapping[str, Any]:
    return await asyncio.wait_for(anext(messages), within)


@contextlib.asynccontextmanager
async def redis_broker_factory() -> AsyncIterator[Callable[..., RedisBroker]]:
    """RedisBrokers that share a fresh prefix, each on its own client, like separate processes."""
    assert REDIS_URL
    prefix = f"vidgraph_test_{uuid.uuid4().hex[:12]}:"
    made: list[tuple[RedisBroker, Redis]] = []

    def make(**options: Any) -> RedisBroker:
        client = Redis.from_url(REDIS_URL, client_name=f"{prefix}{len(made)}")
        broker = RedisBroker(client, prefix, **options)
        made.append((broker, client))
        return broker

    try:
        yield make
    finally:
        for broker, client in made:
            await broker.close()
            await client.aclose()


@pytest.fixture
async def redis_brokers() -> AsyncIterator[Callable[..., RedisBroker]]:
    async with redis_broker_factory() as make:
        yield make


@pytest.fixture(params=["memory", pytest.param("redis", marks=needs_redis)])
async def make_broker(request: pytest.FixtureRequest) -> AsyncIterator[BrokerFactory]:
    """Brokers of one kind; with Redis, every call makes another "process"."""
    if request.param == "redis":
        async with redis_broker_factory() as make:
            yield make
        return
    shared: list[InMemoryBroker] = []

    def make_memory(**options: Any) -> Broker:
        # one process: every caller shares the broker
        if not shared:
            shared.append(InMemoryBroker(**options))
        return shared[0]

    yield make_memory
    for broker in shared:
        await broker.close()


async def test_subscriber_gets_what_is_published_right_after_subscribing(make_broker: BrokerFactory) -> None:
    subscriber, publisher = make_broker(), make_broker()
    async with subscriber.subscribe("analysis:1") as messages:
        await publisher.publish("analysis:1", {"sequence": 1, "kind": "stage"})
        assert await next_message(messages) == {"sequence": 1, "kind": "stage"}


async def test_every_subscriber_gets_every_message_in_order(make_broker: BrokerFactory) -> None:
    first, second, publisher = make_broker(), make_broker(), make_broker()
    async with first.subscribe("analysis:1") as a, second.subscribe("analysis:1") as b, \
            first.subscribe("analysis:1") as c:
        for sequence in range(1, 6):
            await publisher.publish("analysis:1", {"sequence": sequence})
        for messages in (a, b, c):
            assert [(await next_message(messages))["sequence"] for _ in range(5)] == [1, 2, 3, 4, 5]


async def test_subscriber_gets_only_its_channel(make_broker: BrokerFactory) -> None:
    broker = make_broker()
    async with broker.subscribe("analysis:1") as one, broker.subscribe("analysis:2") as two:
        await broker.publish("analysis:2", {"to": 2})
        await broker.publish("analysis:1", {"to": 1})
        assert await next_message(one) == {"to": 1}
        assert await next_message(two) == {"to": 2}


async def test_no_subscriber_can_change_what_another_sees(make_broker: BrokerFactory) -> None:
    broker = make_broker()
    async with broker.subscribe("c") as a, broker.subscribe("c") as b:
        await broker.publish("c", {"payload": {"title": "intro"}, "tags": ["x"]})
        first = await next_message(a)
        with pytest.raises(TypeError):
            first["payload"]["title"] = "changed"
        with pytest.raises(TypeError):
            first["kind"] = "changed"  # type: ignore[index]
        assert await next_message(b) == {"payload": {"title": "intro"}, "tags": ("x",)}


async def test_message_that_is_not_json_is_refused_at_publish(make_broker: BrokerFactory) -> None:
    broker = make_broker()
    with pytest.raises(TypeError):
        await broker.publish("c", {"when": object()})


async def test_slow_subscriber_is_dropped_without_holding_up_others(make_broker: BrokerFactory) -> None:
    broker = make_broker(max_pending=3)
    async with broker.subscribe("c") as slow, broker.subscribe("c") as quick:
        for sequence in range(1, 11):
            await broker.publish("c", {"sequence": sequence})
            assert (await next_message(quick))["sequence"] == sequence
        # what was queued before the drop is still readable, then the stream fails loudly
        assert [(await next_message(slow))["sequence"] for _ in range(3)] == [1, 2, 3]
        with pytest.raises(SubscriptionDropped):
            await next_message(slow)


async def test_a_redirected_subscription_hands_over_in_order_and_can_be_restored(make_broker: BrokerFactory) -> None:
    broker = make_broker()
    async with broker.subscribe("c") as messages, broker.subscribe("c") as other:
        assert isinstance(messages, Subscription)
        # one dispatch hands a message to every subscriber: once `other` has it, so has `messages`
        await broker.publish("c", {"sequence": 1})
        assert (await next_message(other))["sequence"] == 1
        sunk: list[Mapping[str, Any] | None] = []
        messages.redirect(sunk.append)
        assert sunk == [{"sequence": 1}]  # what was queued first, then each message as it arrives
        await broker.publish("c", {"sequence": 2})
        assert (await next_message(other))["sequence"] == 2
        assert sunk == [{"sequence": 1}, {"sequence": 2}]
        messages.restore()
        await broker.publish("c", {"sequence": 3})
        assert (await next_message(messages))["sequence"] == 3
        assert (await next_message(other))["sequence"] == 3
        assert len(sunk) == 2
    ended: list[Mapping[str, Any] | None] = []
    async with broker.subscribe("d") as messages:
        assert isinstance(messages, Subscription)
        messages.redirect(ended.append)
        await broker.close()
        assert ended == [None]  # the end reaches the sink; restored, the iterator stops
        messages.restore()
        with pytest.raises(StopAsyncIteration):
            await next_message(messages)


async def test_close_ends_every_subscription(make_broker: BrokerFactory) -> None:
    broker = make_broker()
    received: list[Mapping[str, Any]] = []
    subscribed, got_one = asyncio.Event(), asyncio.Event()

    async def listen() -> None:
        async with broker.subscribe("c") as messages:
            subscribed.set()
            async for message in messages:
                received.append(message)
                got_one.set()

    listener = asyncio.create_task(listen())
    await subscribed.wait()
    await broker.publish("c", {"n": 1})
    await asyncio.wait_for(got_one.wait(), 5)
    await broker.close()
    await asyncio.wait_for(listener, 5)
    assert received == [{"n": 1}]
    with pytest.raises(RuntimeError):
        async with broker.subscribe("c"):
            pass


async def _numsub(client: Redis, channel: str) -> int:
    return dict(await client.pubsub_numsub(channel))[channel.encode()]


@needs_redis
async def test_one_redis_subscription_serves_all_local_subscribers_of_a_channel(
    redis_brokers: Callable[..., RedisBroker],
) -> None:
    broker = redis_brokers()
    client = Redis.from_url(REDIS_URL)
    name = broker._prefix + "analysis:1"
    try:
        async with broker.subscribe("analysis:1"), broker.subscribe("analysis:1"), \
                broker.subscribe("analysis:1"):
            assert await _numsub(client, name) == 1
        for _ in range(100):  # the Redis channel is left in the background
            if await _numsub(client, name) == 0:
                break
            await asyncio.sleep(0.02)
        assert await _numsub(client, name) == 0
    finally:
        await client.aclose()


@needs_redis
async def test_a_thousand_subscribers_use_one_redis_connection(
    redis_brokers: Callable[..., RedisBroker],
) -> None:
    broker, publisher = redis_brokers(), redis_brokers()
    client = Redis.from_url(REDIS_URL)
    try:
        async with contextlib.AsyncExitStack() as stack:
            streams = await asyncio.gather(*(
                stack.enter_async_context(broker.subscribe(f"analysis:{n % 250}")) for n in range(1000)
            ))
            clients = await client.client_list(_type="pubsub")
            assert [c["name"] for c in clients].count(f"{broker._prefix}0") == 1
            for n in range(250):
                await publisher.publish(f"analysis:{n}", {"n": n})
            got = await asyncio.gather(*(next_message(stream, 10) for stream in streams))
            assert [m["n"] for m in got] == [n % 250 for n in range(1000)]
    finally:
        await client.aclose()


@needs_redis
async def test_idle_subscription_survives_pings(
    redis_brokers: Callable[..., RedisBroker], caplog: pytest.LogCaptureFixture,
) -> None:
    broker = redis_brokers(ping_interval=0.1)
    with caplog.at_level(logging.WARNING, logger="services.pubsub"):
        async with broker.subscribe("c") as messages:
            await asyncio.sleep(0.6)
            await broker.publish("c", {"n": 1})
            assert await next_message(messages) == {"n": 1}
    assert not caplog.records


@needs_redis
async def test_subscription_resumes_after_the_redis_connection_drops(
    redis_brokers: Callable[..., RedisBroker], caplog: pytest.LogCaptureFixture,
) -> None:
    broker, publisher = redis_brokers(ping_interval=0.2), redis_brokers()
    client = Redis.from_url(REDIS_URL)
    try:
        with caplog.at_level(logging.WARNING, logger="services.pubsub"):
            async with broker.subscribe("c") as messages:
                for info in await client.client_list(_type="pubsub"):
                    if info["name"] == f"{broker._prefix}0":
                        await client.client_kill_filter(_id=info["id"])
                # messages published while the reader reconnects are lost: publish until one lands
                for attempt in range(200):
                    await publisher.publish("c", {"attempt": attempt})
                    try:
                        message = await next_message(messages, 0.05)
                        break
                    except TimeoutError:
                        continue
                else:
                    pytest.fail("no message arrived after the connection dropped")
                assert "attempt" in message
        assert any("reconnecting" in r.getMessage() for r in caplog.records)
    finally:
        await client.aclose()


async def test_subscribing_while_redis_is_unreachable_fails_after_the_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0")
    broker = RedisBroker(client, "unreachable:", subscribe_timeout=0.5)
    try:
        with caplog.at_level(logging.WARNING, logger="services.pubsub"):
            with pytest.raises(TimeoutError):
                async with broker.subscribe("c"):
                    pass
        assert any("reconnecting" in r.getMessage() for r in caplog.records)
    finally:
        await broker.close()
        await client.aclose()


async def test_publishing_while_redis_is_unreachable_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0")
    broker = RedisBroker(client, "unreachable:")
    try:
        with caplog.at_level(logging.WARNING, logger="services.pubsub"):
            await broker.publish("analysis:1", {"sequence": 1})
        assert any("could not publish to analysis:1" in r.getMessage() for r in caplog.records)
    finally:
        await broker.close()
        await client.aclose()
