"""Automatic persisted queries as Apollo clients use them: the hash first, the document when the
server asks for it, then the hash alone by POST or GET. Every path runs on both stores: this process's
LRU, and Redis (under the deployment's prefix) when the suite has one."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from main import AppServices
from models import User
from services.persisted_queries import InMemoryPersistedQueries, RedisPersistedQueries, sha256_of
from tests.helpers import data_of, sign_up

VIEWER_EMAIL = "{ viewer { email } }"
LOGOUT = "mutation { logout { revokedSessions } }"
ANONYMOUS_SESSION = "mutation { startAnonymousSession { token } }"
GRAPHQL_RESPONSE = "application/graphql-response+json"


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, app_services: AppServices,
                monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Redis | None]:
    """Which store the app keeps documents in: its own LRU (no Redis), or the suite's Redis."""
    if request.param == "memory":
        monkeypatch.setattr(app_services, "redis", None)
        yield None
        return
    redis = app_services.redis
    if redis is None:
        pytest.skip("the Redis store is tested when VIDGRAPH_TEST_REDIS_URL names a Redis")
    yield redis
    keys = [key async for key in redis.scan_iter(match=f"{app_services.settings.redis_prefix}apq:*")]
    if keys:
        await redis.delete(*keys)


def unique(document: str) -> str:
    # the LRU lives as long as the app, which the whole session shares: a comment makes a new document
    return f"{document} # {uuid.uuid4().hex}"


def persisted(document: str, *, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": sha256_of(document)}}


async def send(client: httpx.AsyncClient, extensions: dict[str, Any], query: str | None = None, *,
               token: str | None = None, accept: str = "application/json") -> httpx.Response:
    body: dict[str, Any] = {"extensions": extensions, **({"query": query} if query is not None else {})}
    headers = {"accept": accept, **({"Authorization": f"Bearer {token}"} if token else {})}
    return await client.post("/graphql", json=body, headers=headers)


async def get(client: httpx.AsyncClient, extensions: dict[str, Any], *, token: str | None = None,
              accept: str = "application/json") -> httpx.Response:
    headers = {"accept": accept, **({"Authorization": f"Bearer {token}"} if token else {})}
    return await client.get("/graphql", params={"extensions": json.dumps(extensions)}, headers=headers)


@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE])
async def test_an_unknown_hash_asks_for_the_document_with_200(client, store, accept):
    response = await send(client, persisted(unique(VIEWER_EMAIL)), accept=accept)
    # 200 whatever the media type: Apollo clients read the error and retry with the document
    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert error["message"] == "PersistedQueryNotFound"
    assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_the_document_with_its_hash_runs_and_then_the_hash_alone_does(client, store):
    token = await sign_up(client)
    document = unique(VIEWER_EMAIL)
    first = await send(client, persisted(document), document, token=token)
    assert data_of(first.json()) == {"viewer": {"email": "ada@example.com"}}
    by_post = await send(client, persisted(document), token=token)
    assert data_of(by_post.json()) == {"viewer": {"email": "ada@example.com"}}
    # the hash is the document, not its result: another caller gets their own answer
    anonymous = await send(client, persisted(document), accept=GRAPHQL_RESPONSE)
    assert anonymous.status_code == 200 and data_of(anonymous.json()) == {"viewer": None}


async def test_the_hash_alone_works_by_get(client, store):
    token = await sign_up(client)
    document = unique(VIEWER_EMAIL)
    unknown = await get(client, persisted(document), token=token)
    assert unknown.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    await send(client, persisted(document), document, token=token)
    response = await get(client, persisted(document), token=token, accept="*/*")
    # a GET without `query` but with a hash is an operation, never the GraphiQL page
    assert response.headers["content-type"] == "application/json"
    assert data_of(response.json()) == {"viewer": {"email": "ada@example.com"}}


async def test_a_hash_that_does_not_match_its_document_is_refused_and_not_stored(client, store):
    document = unique(VIEWER_EMAIL)
    other = unique("{ __typename }")
    response = await send(client, persisted(other), document, accept=GRAPHQL_RESPONSE)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["message"] == "provided sha does not match query"
    assert error["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"
    assert "data" not in response.json()
    # nothing was registered under either hash
    for hashed in (document, other):
        assert (await send(client, persisted(hashed))).json()["errors"][0]["message"] == "PersistedQueryNotFound"


@pytest.mark.parametrize("extensions", [
    {"persistedQuery": {"version": 2, "sha256Hash": "0" * 64}},
    {"persistedQuery": {"sha256Hash": "0" * 64}},
    {"persistedQuery": {"version": 1, "sha256Hash": "not-a-hash"}},
    {"persistedQuery": "0" * 64},
])
async def test_malformed_persisted_queries_get_400(client, extensions):
    response = await send(client, extensions, accept=GRAPHQL_RESPONSE)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] in {"PERSISTED_QUERY_NOT_SUPPORTED", "BAD_REQUEST"}


async def test_documents_that_do_not_validate_are_not_stored(client, store):
    document = unique("{ viewer { nope } }")
    failed = await send(client, persisted(document), document)
    assert failed.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert (await send(client, persisted(document))).json()["errors"][0]["message"] == "PersistedQueryNotFound"


async def test_a_persisted_mutation_still_never_runs_by_get(client, store):
    document = unique(ANONYMOUS_SESSION)
    created = await send(client, persisted(document), document)
    assert data_of(created.json())["startAnonymousSession"]["token"]
    refused = await get(client, persisted(document))
    assert refused.status_code == 405 and refused.headers["allow"] == "POST"
    assert await User.all().count() == 1
    again = await send(client, persisted(document))
    assert data_of(again.json())["startAnonymousSession"]["token"]
    assert await User.all().count() == 2


async def test_redis_keeps_documents_under_the_deployment_prefix(client, app_services):
    redis = app_services.redis
    if redis is None:
        pytest.skip("the Redis store is tested when VIDGRAPH_TEST_REDIS_URL names a Redis")
    document = unique(LOGOUT)
    await send(client, persisted(document), document)
    key = f"{app_services.settings.redis_prefix}apq:{sha256_of(document)}"
    try:
        assert (await redis.get(key)).decode() == document
        assert 0 < await redis.ttl(key) <= 7 * 24 * 3600
    finally:
        await redis.delete(key)


async def test_the_in_memory_store_stays_bounded_and_keeps_what_is_used():
    store = InMemoryPersistedQueries(max_entries=3, max_chars=100)
    for name in ("a", "b", "c"):
        await store.put(name, name * 10)
    assert await store.get("a") == "a" * 10  # now the most recently used
    await store.put("d", "d" * 10)
    assert await store.get("b") is None and len(store) == 3
    await store.put("e", "e" * 91)  # past the size bound: the oldest go until it fits
    assert len(store) == 1 and await store.get("e") == "e" * 91
    await store.put("huge", "x" * 101)  # larger than the whole store: never kept
    assert await store.get("huge") is None and await store.get("e") == "e" * 91


async def test_an_unreachable_redis_answers_not_found_instead_of_failing(caplog):
    dead = Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.2)
    store = RedisPersistedQueries(dead, prefix="vidgraph:")
    try:
        with caplog.at_level(logging.WARNING, logger="services.persisted_queries"):
            await store.put("0" * 64, VIEWER_EMAIL)
            assert await store.get("0" * 64) is None
    finally:
        await dead.aclose()
    assert len(caplog.records) == 2
