"""Publish/subscribe between processes: the events of a job reach every API process's subscribers.

Delivery is best effort, at most once: the stored events in the database are the truth, and a
subscriber reads the current state after subscribing. Messages are JSON objects, decoded once per
process and read-only (objects are ``MappingProxyType``, arrays tuples), so all local subscribers
share one copy and none can change what another sees.

Slow subscribers: each has a bounded queue (``max_pending`` messages). A subscriber whose queue is
full when a message arrives is dropped at once: it no longer receives anything, reads what it had
already queued, and then its iterator raises ``SubscriptionDropped``. Nobody else waits for it, and
memory stays bounded. ``close()`` ends every subscription normally (the iterator stops).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from redis.exceptions import RedisError

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)

DEFAULT_MAX_PENDING = 256


class SubscriptionDropped(Exception):
    """The subscriber fell too far behind and was cut off; resubscribe to catch up."""


class Broker(Protocol):
    async def publish(self, channel: str, message: dict[str, Any]) -> None: ...

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[AsyncIterator[Mapping[str, Any]]]: ...

    async def close(self) -> None: ...


class Subscription:
    """What ``subscribe`` yields: an async iterator over one subscriber's messages."""

    def __init__(self, channel: str, max_pending: int) -> None:
        self.channel = channel
        self._max_pending = max_pending
        # unbounded on purpose: deliver() enforces the bound, so the end marker (None) always fits
        self._queue: asyncio.Queue[Mapping[str, Any] | None] = asyncio.Queue()
        self._ended = False
        self._error: SubscriptionDropped | None = None
        self._sink: Callable[[Mapping[str, Any] | None], None] | None = None

    def redirect(self, sink: Callable[[Mapping[str, Any] | None], None]) -> None:
        """Hand each message to `sink` as it arrives instead of queueing it (None: the end), after
        what is queued already. The sink runs inside the broker's dispatch: it must not raise."""
        self._sink = sink
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is None:
                self._queue.put_nowait(None)
                sink(None)
                return
            sink(item)

    def restore(self) -> None:
        """Queue messages again, for `__anext__`."""
        self._sink = None
        if self._ended:
            self._queue.put_nowait(None)

    def deliver(self, message: Mapping[str, Any]) -> bool:
        """Queue a message; False when the subscriber was full and has just been dropped."""
        if self._ended:
            return False
        if self._sink is not None:
            self._sink(message)
            return True
        if self._queue.qsize() >= self._max_pending:
            unread = self._queue.qsize()
            log.warning("dropping a slow subscriber of %s: %d messages unread", self.channel, unread)
            self.end(SubscriptionDropped(f"subscriber of {self.channel} fell behind and was dropped"))
            return False
        self._queue.put_nowait(message)
        return True

    def end(self, error: SubscriptionDropped | None = None) -> None:
        if not self._ended:
            self._ended = True
            self._error = error
            if self._sink is not None:
                self._sink(None)
            else:
                self._queue.put_nowait(None)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Mapping[str, Any]:
        item = await self._queue.get()
        if item is None:
            self._queue.put_nowait(None)  # iterating again keeps ending the same way
            if self._error is not None:
                raise self._error
            raise StopAsyncIteration
        return item


def encode(message: dict[str, Any]) -> str:
    # fail at the publisher, not in some other process, when a message is not JSON
    return json.dumps(message, separators=(",", ":"), allow_nan=False)


def decode(data: str) -> Mapping[str, Any] | None:
    """The message, read-only throughout; None when it is not a JSON object."""
    try:
        message = json.loads(data, object_hook=_read_only)
    except ValueError:
        return None
    return message if isinstance(message, Mapping) else None


def _read_only(obj: dict[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType({key: _tuples(value) if isinstance(value, list) else value for key, value in obj.items()})


def _tuples(items: list[Any]) -> tuple[Any, ...]:
    return tuple(_tuples(item) if isinstance(item, list) else item for item in items)


class InMemoryBroker:
    """One process: every subscriber has its own queue."""

    def __init__(self, *, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self._max_pending = max_pending
        self._channels: dict[str, set[Subscription]] = {}
        self._closed = False

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        shared = decode(encode(message))
        assert shared is not None  # an object encoded is an object decoded
        subscribers = self._channels.get(channel, set())
        for subscriber in list(subscribers):
            if not subscriber.deliver(shared):
                subscribers.discard(subscriber)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[Mapping[str, Any]]]:
        if self._closed:
            raise RuntimeError("the broker is closed")
        subscription = Subscription(channel, self._max_pending)
        self._channels.setdefault(channel, set()).add(subscription)
        try:
            yield subscription
        finally:
            subscribers = self._channels.get(channel)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._channels[channel]

    async def close(self) -> None:
        self._closed = True
        for subscribers in self._channels.values():
            for subscriber in subscribers:
                subscriber.end()
        self._channels.clear()


class _Channel:
    """The local subscribers of one Redis channel, and whether Redis has confirmed it."""

    def __init__(self) -> None:
        self.subscribers: set[Subscription] = set()
        self.ready = asyncio.Event()
        self.confirming: asyncio.Task[None] | None = None


class RedisBroker:
    """Many processes through Redis pub/sub.

    One pub/sub connection per process, read by a single task: each Redis channel is subscribed
    once, however many local subscribers it has, and messages fan out to in-process queues. The
    Redis channel is unsubscribed when its last local subscriber leaves. When the connection
    fails (or stops answering pings), the reader reconnects with backoff and subscribes again;
    messages published in between are lost, as with any Redis pub/sub.
    """

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
        subscribe_timeout: float = 10.0,
        ping_interval: float = 15.0,
        max_backoff: float = 30.0,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._max_pending = max_pending
        self._subscribe_timeout = subscribe_timeout
        self._ping_interval = ping_interval
        self._max_backoff = max_backoff
        self._channels: dict[str, _Channel] = {}
        self._pongs: dict[str, asyncio.Future[None]] = {}
        # commands on the pub/sub connection, and swapping it, happen under this lock
        self._lock = asyncio.Lock()
        self._pubsub: PubSub | None = None
        self._connected = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._chores: set[asyncio.Task[None]] = set()
        self._closed = False

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        data = encode(message)
        try:
            await self._redis.publish(self._prefix + channel, data)
        except (RedisError, OSError) as exc:
            # the event is stored already and subscribers re-read the state: losing the
            # notification must not fail the job that publishes it
            log.warning("could not publish to %s: %s", channel, exc)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[Mapping[str, Any]]]:
        if self._closed:
            raise RuntimeError("the broker is closed")
        name = self._prefix + channel
        subscription = Subscription(channel, self._max_pending)
        state = self._channels.get(name)
        if state is None:
            state = self._channels[name] = _Channel()
            state.confirming = self._spawn(self._confirm(name, state))
        state.subscribers.add(subscription)
        try:
            try:
                await asyncio.wait_for(state.ready.wait(), self._subscribe_timeout)
            except TimeoutError:
                raise TimeoutError(f"Redis did not confirm the subscription to {channel}") from None
            yield subscription
        finally:
            self._leave(name, state, subscription)

    async def close(self) -> None:
        self._closed = True
        for state in self._channels.values():
            for subscriber in state.subscribers:
                subscriber.end()
            state.ready.set()  # a subscriber still waiting for Redis gets its ended stream now
        self._channels.clear()
        # the reader closes the pub/sub connection as it ends
        tasks = [*self._chores, *([self._reader] if self._reader else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_forever())
        task: asyncio.Task[None] = asyncio.create_task(coroutine)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)
        return task

    async def _confirm(self, name: str, state: _Channel) -> None:
        # SUBSCRIBE, then PING on the same connection: Redis answers in order, so the pong proves
        # the subscription is active. Retried until it holds, across reconnects.
        while self._channels.get(name) is state:
            token = uuid.uuid4().hex
            pong = self._pongs[token] = asyncio.get_running_loop().create_future()
            try:
                await self._connected.wait()
                async with self._lock:
                    if self._pubsub is None or self._channels.get(name) is not state:
                        continue
                    await self._pubsub.subscribe(name)
                    await self._pubsub.ping(token)
                await asyncio.wait_for(pong, timeout=1.0)
                state.ready.set()
                return
            except (TimeoutError, RedisError, OSError) as exc:
                log.debug("subscription to %s not confirmed yet: %r", name, exc)
                await asyncio.sleep(0.1)
            finally:
                self._pongs.pop(token, None)

    def _leave(self, name: str, state: _Channel, subscription: Subscription) -> None:
        state.subscribers.discard(subscription)
        if state.subscribers or self._channels.get(name) is not state or self._closed:
            return
        del self._channels[name]
        if state.confirming is not None:
            state.confirming.cancel()
        # in the background: leaving must not block, nor fail, the subscriber's exit
        self._spawn(self._unsubscribe(name))

    async def _unsubscribe(self, name: str) -> None:
        async with self._lock:
            # a new subscriber may have subscribed the channel again while this waited
            if self._pubsub is None or name in self._channels:
                return
            try:
                await self._pubsub.unsubscribe(name)
            except (RedisError, OSError) as exc:
                log.debug("could not unsubscribe %s: %r", name, exc)

    async def _read_forever(self) -> None:
        delay = 0.0
        while True:
            pubsub = self._redis.pubsub()
            try:
                async with self._lock:
                    await pubsub.connect()
                    if self._channels:
                        await pubsub.subscribe(*self._channels)
                    self._pubsub = pubsub
                self._connected.set()
                if delay:
                    log.info("pub/sub connection to Redis restored")
                delay = 0.0
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the reader outlives any failure: it starts over, newly connected
                delay = min(self._max_backoff, delay * 2 or 0.5)
                log.warning(
                    "pub/sub connection to Redis failed (%s: %s); reconnecting in %.1fs", type(exc).__name__, exc, delay
                )
            finally:
                self._connected.clear()
                async with self._lock:
                    self._pubsub = None
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
            # jitter keeps many processes from reconnecting in the same instant
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311

    async def _read(self, pubsub: PubSub) -> None:
        awaiting_pong = False
        while True:
            message = await pubsub.get_message(timeout=self._ping_interval)
            if message is None:
                # a silent connection may be dead without the socket knowing: ask it
                if awaiting_pong:
                    raise ConnectionError("Redis did not answer a ping")
                async with self._lock:
                    await pubsub.ping()
                awaiting_pong = True
                continue
            awaiting_pong = False
            self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "pong":
            pong = self._pongs.get(_text(message["data"]))
            if pong is not None and not pong.done():
                pong.set_result(None)
        elif kind == "message":
            state = self._channels.get(_text(message["channel"]))
            if state is None:
                return
            shared = decode(_text(message["data"]))
            if shared is None:
                # someone else publishing under our prefix; subscribers only ever get objects
                log.warning("ignoring a message that is not a JSON object on %s", _text(message["channel"]))
                return
            for subscriber in list(state.subscribers):
                if not subscriber.deliver(shared):
                    state.subscribers.discard(subscriber)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
