"""Rate limits per identity: a request budget per operation class and an hourly point budget.

Counters live in Redis when one is configured, so every process shares them, and in this process's
memory otherwise. Windows are fixed and aligned to the clock (shifted per identity), so one counter
increment answers everything a response reports: whether it fits, what remains, when it resets.
If Redis stops answering, limits fall back to per-process memory (never to "unlimited", never to an
error) with one warning per outage, and return to Redis as soon as it answers again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, cast

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.storage.redis.redispy import RedispyBridge
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError

log = logging.getLogger("vidgraph.rate_limits")

POINTS = "points"
"""The hourly budget every operation draws from, by what it asks for."""

DEFAULT_RATES = {"analyze": "5/60", "search": "30/60", "history": "20/60", "chat": "20/60"}

T = TypeVar("T")


def parse_rate(text: str) -> RateLimitItem:
    """`"5/60"`: five per sixty seconds."""
    amount, _, seconds = text.strip().partition("/")
    try:
        count, window = int(amount), int(seconds or "1")
    except ValueError:
        raise ValueError(f"a rate is `count/seconds`, like 5/60; got {text!r}") from None
    if count < 1 or window < 1:
        raise ValueError(f"a rate needs a positive count and window; got {text!r}")
    return RateLimitItemPerSecond(count, window)


def _default_rates() -> dict[str, RateLimitItem]:
    rates = {name: parse_rate(text) for name, text in DEFAULT_RATES.items()}
    rates[POINTS] = RateLimitItemPerSecond(5000, 3600)
    return rates


@dataclass(frozen=True, slots=True)
class RateLimitSettings:
    """What the limiter enforces; `rates` maps each operation class (and `points`) to its rate."""

    enabled: bool = True
    rates: Mapping[str, RateLimitItem] = field(default_factory=_default_rates)
    redis_timeout_seconds: float = 0.5
    redis_retry_seconds: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RateLimitSettings:
        env = os.environ if env is None else env
        rates = {name: parse_rate(env.get(f"RATE_LIMIT_{name.upper()}", text)) for name, text in DEFAULT_RATES.items()}
        rates[POINTS] = parse_rate(env.get("RATE_LIMIT_POINTS_PER_HOUR", "5000") + "/3600")
        return cls(
            enabled=env.get("RATE_LIMITS_ENABLED", "true").strip().lower() in {"1", "true", "yes", "on"},
            rates=rates,
            redis_timeout_seconds=float(env.get("RATE_LIMIT_REDIS_TIMEOUT", "0.5")),
            redis_retry_seconds=float(env.get("RATE_LIMIT_REDIS_RETRY_SECONDS", "5")),
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """One limit's verdict on one request, with what the response reports about it."""

    name: str
    allowed: bool
    limit: int
    remaining: int
    cost: int
    window_seconds: int
    reset_at: float
    retry_after: int
    policy: str

    @property
    def used(self) -> int:
        return self.limit - self.remaining

    def header_item(self, *, now: float) -> str:
        """This limit as an item of the IETF draft `RateLimit` header."""
        return f'"{self.name}";r={self.remaining};t={max(0, math.ceil(self.reset_at - now))}'


def identity_of(*, user_id: str | None, client_address: str | None) -> str:
    """Whom a request counts against: its user (accounts and anonymous installs), else its address."""
    if user_id is not None:
        return f"user:{user_id}"
    return f"ip:{client_address or 'unknown'}"


Increment = tuple[str, int, int]  # key, window seconds, amount


class _Counters(Protocol):
    async def add(self, increments: Sequence[Increment]) -> list[int]: ...

    async def read(self, key: str) -> int: ...


class _MemoryCounters:
    def __init__(self) -> None:
        self.storage = MemoryStorage()

    async def add(self, increments: Sequence[Increment]) -> list[int]:
        return [await self.storage.incr(key, expiry, amount) for key, expiry, amount in increments]

    async def read(self, key: str) -> int:
        return await self.storage.get(key)


def _limits_uri(redis_url: str) -> str:
    if redis_url.startswith("unix://"):
        return "async+redis+" + redis_url
    return "async+" + redis_url


class _RedisCounters:
    """Every increment of a request in one pipeline: one round trip, through limits' own script."""

    def __init__(self, *, redis_url: str, prefix: str, timeout: float) -> None:
        # short timeouts and no retries: a slow or absent Redis must cost a request little before
        # the limiter falls back to memory. The timeout wraps each call (`add`) instead of being
        # redis-py's socket timeout, which on Python 3.11 makes a task for every read and write.
        self.timeout = timeout
        self.storage = RedisStorage(
            _limits_uri(redis_url),
            implementation="redispy",
            key_prefix=f"{prefix}ratelimit",
            socket_connect_timeout=timeout,
            socket_timeout=None,  # type: ignore[arg-type]  # passed to redis-py, which would default to 5 s
            retry=Retry(NoBackoff(), 0),  # type: ignore[arg-type]
        )
        bridge = self.storage.bridge
        assert isinstance(bridge, RedispyBridge)
        self.bridge = bridge
        self.client = cast(Redis, bridge.get_connection())

    async def add(self, increments: Sequence[Increment]) -> list[int]:
        # TimeoutError is an OSError: the limiter counts it as Redis not answering
        async with asyncio.timeout(self.timeout):
            return await self._add(increments)

    async def _add(self, increments: Sequence[Increment]) -> list[int]:
        script = self.bridge.lua_incr_expire
        for attempt in (1, 2):
            try:
                if len(increments) == 1:  # most requests: one counter, and a pipeline costs more CPU
                    [(key, expiry, amount)] = increments
                    count = await self.client.evalsha(script.sha, 1, self.bridge.prefixed_key(key), expiry, amount)
                    return [int(count)]
            except NoScriptError:
                if attempt == 2:
                    raise
                script.sha = await self.client.script_load(script.script)
                continue
            pipe = self.client.pipeline(transaction=False)
            for key, expiry, amount in increments:
                pipe.evalsha(script.sha, 1, self.bridge.prefixed_key(key), expiry, amount)
            try:
                return [int(count) for count in await pipe.execute()]
            except NoScriptError:
                if attempt == 2:
                    raise
                # a restarted or flushed Redis forgot the script: load it, then run the pipeline again
                script.sha = await self.client.script_load(script.script)
        raise AssertionError("unreachable")

    async def read(self, key: str) -> int:
        async with asyncio.timeout(self.timeout):
            return await self.storage.get(key)

    async def aclose(self) -> None:
        await self.client.aclose()


class RateLimiter:
    """Counts requests against per-identity limits; `hit_all` charges several limits in one round trip."""

    def __init__(
        self,
        *,
        rates: Mapping[str, RateLimitItem],
        redis_url: str | None = None,
        prefix: str = "vidgraph:",
        redis_timeout_seconds: float = 0.5,
        redis_retry_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rates = dict(rates)
        self.clock = clock
        self._local = _MemoryCounters()
        self._shared = None
        if redis_url:
            self._shared = _RedisCounters(redis_url=redis_url, prefix=prefix, timeout=redis_timeout_seconds)
        self._retry_seconds = redis_retry_seconds
        self._retry_at = 0.0
        self._outage = False

    @property
    def shared(self) -> bool:
        """Whether counts currently go to Redis (False without Redis, or during an outage)."""
        return self._shared is not None and not self._outage

    async def hit(self, *, identity: str, operation_class: str, cost: int = 1) -> Decision:
        """Charge `cost` against one limit of `identity`."""
        [decision] = await self.hit_all(identity=identity, costs={operation_class: cost})
        return decision

    async def hit_all(self, *, identity: str, costs: Mapping[str, int]) -> list[Decision]:
        """Charge every limit in `costs` at once; if any refuses, none is charged."""
        now = self.clock()
        windows = [(name, *self._window(identity, name, now)) for name in costs]
        increments = [(key, self.rates[name].get_expiry(), costs[name]) for name, key, _ in windows]
        counts = await self._on_storage(lambda counters: counters.add(increments))
        fits = [count <= self.rates[name].amount for (name, _, _), count in zip(windows, counts, strict=True)]
        allowed = all(fits)
        if not allowed:
            # a refused request consumes nothing, so one query over the budget does not use up
            # what smaller ones could still have spent
            refunds = [(key, expiry, -amount) for key, expiry, amount in increments]
            await self._on_storage(lambda counters: counters.add(refunds))
        return [
            self._decision(
                name,
                count=count if allowed else count - costs[name],
                cost=costs[name],
                fits=ok,
                reset_at=reset_at,
                now=now,
            )
            for (name, _, reset_at), count, ok in zip(windows, counts, fits, strict=True)
        ]

    async def peek(self, *, identity: str, operation_class: str) -> Decision:
        """Where `identity` stands against one limit, charging nothing."""
        now = self.clock()
        key, reset_at = self._window(identity, operation_class, now)
        count = await self._on_storage(lambda counters: counters.read(key))
        return self._decision(operation_class, count=count, cost=0, fits=True, reset_at=reset_at, now=now)

    async def aclose(self) -> None:
        if self._shared is not None:
            await self._shared.aclose()

    def _window(self, identity: str, name: str, now: float) -> tuple[str, float]:
        item = self.rates[name]
        seconds = item.get_expiry()
        # windows are aligned to the clock, shifted per identity so not every budget resets at once
        offset = zlib.crc32(identity.encode()) % seconds
        index = math.floor((now + offset) / seconds)
        return item.key_for(identity, name, str(index)), (index + 1) * seconds - offset

    def _decision(
        self,
        name: str,
        *,
        count: int,
        cost: int,
        fits: bool,
        reset_at: float,
        now: float,
    ) -> Decision:
        item = self.rates[name]
        return Decision(
            name=name,
            allowed=fits,
            limit=item.amount,
            remaining=max(0, item.amount - count),
            cost=cost,
            window_seconds=item.get_expiry(),
            reset_at=reset_at,
            retry_after=0 if fits else max(1, math.ceil(reset_at - now)),
            policy=f'"{name}";q={item.amount};w={item.get_expiry()}',
        )

    async def _on_storage(self, operation: Callable[[_Counters], Awaitable[T]]) -> T:
        if self._shared is not None and time.monotonic() >= self._retry_at:
            try:
                result = await operation(self._shared)
            except (RedisError, OSError) as exc:
                self._retry_at = time.monotonic() + self._retry_seconds
                if not self._outage:
                    self._outage = True
                    log.warning(
                        "rate limits: Redis does not answer (%s); counting per process in memory until it does",
                        type(exc).__name__,
                    )
            else:
                if self._outage:
                    self._outage = False
                    log.info("rate limits: Redis answers again; counts are shared again")
                return result
        return await operation(self._local)


def make_rate_limiter(
    *,
    settings: RateLimitSettings,
    redis_url: str | None,
    prefix: str,
) -> RateLimiter | None:
    """The process's limiter, shared through Redis when `redis_url` is set; None when limits are off."""
    if not settings.enabled:
        return None
    return RateLimiter(
        rates=settings.rates,
        redis_url=redis_url,
        prefix=prefix,
        redis_timeout_seconds=settings.redis_timeout_seconds,
        redis_retry_seconds=settings.redis_retry_seconds,
    )
