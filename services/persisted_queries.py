"""Where automatic persisted queries live: documents kept under the SHA-256 of their text.

With Redis every API process shares one store (keys under the deployment's prefix, expiring a
week after their last use); without it each process keeps a bounded LRU of its own. A store that
cannot answer degrades to "not found": the client then sends the full document, which always works.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Protocol

from redis.exceptions import RedisError

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 7 * 24 * 3600
DEFAULT_MAX_ENTRIES = 1000
DEFAULT_MAX_CHARS = 8 * 1024 * 1024
REDIS_TIMEOUT_SECONDS = 0.5


def sha256_of(query: str) -> str:
    """The hash Apollo clients send: SHA-256 of the document's UTF-8 text, in lowercase hex."""
    return hashlib.sha256(query.encode("utf-8")).hexdigest()


class PersistedQueries(Protocol):
    async def get(self, sha256_hash: str) -> str | None: ...

    async def put(self, sha256_hash: str, query: str) -> None: ...


class InMemoryPersistedQueries:
    """The least recently used documents, bounded in count and in total characters."""

    def __init__(self, *, max_entries: int = DEFAULT_MAX_ENTRIES, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        self.max_entries = max_entries
        self.max_chars = max_chars
        self._queries: OrderedDict[str, str] = OrderedDict()
        self._chars = 0

    def __len__(self) -> int:
        return len(self._queries)

    async def get(self, sha256_hash: str) -> str | None:
        query = self._queries.get(sha256_hash)
        if query is not None:
            self._queries.move_to_end(sha256_hash)
        return query

    async def put(self, sha256_hash: str, query: str) -> None:
        if len(query) > self.max_chars:
            return
        previous = self._queries.pop(sha256_hash, None)
        self._chars -= len(previous or "")
        self._queries[sha256_hash] = query
        self._chars += len(query)
        while len(self._queries) > self.max_entries or self._chars > self.max_chars:
            _, evicted = self._queries.popitem(last=False)
            self._chars -= len(evicted)


class RedisPersistedQueries:
    """Documents in Redis under `<prefix>apq:<hash>`; each use pushes their expiry back."""

    def __init__(self, redis: Redis, *, prefix: str, ttl_seconds: int = DEFAULT_TTL_SECONDS,
                 timeout: float = REDIS_TIMEOUT_SECONDS) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self.timeout = timeout

    def key(self, sha256_hash: str) -> str:
        return f"{self.prefix}apq:{sha256_hash}"

    async def get(self, sha256_hash: str) -> str | None:
        try:
            async with asyncio.timeout(self.timeout):
                value = await self.redis.getex(self.key(sha256_hash), ex=self.ttl_seconds)
        except (RedisError, TimeoutError) as error:
            # the client answers "not found" by sending the whole document, which needs no store
            log.warning("persisted query lookup failed, answering not found: %r", error)
            return None
        if value is None:
            return None
        return value.decode("utf-8") if isinstance(value, bytes) else str(value)

    async def put(self, sha256_hash: str, query: str) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                await self.redis.set(self.key(sha256_hash), query.encode("utf-8"), ex=self.ttl_seconds)
        except (RedisError, TimeoutError) as error:
            # the operation still runs; the next request with the hash alone will ask for the document
            log.warning("persisted query not stored: %r", error)
