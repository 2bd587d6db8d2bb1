"""Query limits, operation cost and rate limits as a client meets them: over HTTP (429 and its
headers, 413, refused batches) and over a WebSocket (an error message, the socket stays open).

The operations run on a small schema whose fields carry the names the limits look for, served by the
real GraphQLView with the real extensions, so each limit is tested on its own."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import httpx
import pytest
import strawberry
import uvicorn
import websockets
from graphql import get_introspection_query
from starlette.types import ASGIApp, Receive, Scope, Send

from main import AppServices
from schema import VidgraphSchema
from schema.extensions import ErrorPolicy
from schema.protection import QueryLimits, RateLimitQueries, protection_extensions
from schema.view import GraphQLView
from services.jobs import InProcessQueue
from services.local_analyzer import LocalAnalyzer
from services.pubsub import InMemoryBroker
from services.rate_limits import POINTS, RateLimiter, RateLimitSettings, parse_rate
from services.settings import Settings

calls: dict[str, int] = {}


@strawberry.type
class Item:
    id: int

    @strawberry.field
    def children(self, first: int) -> ItemConnection:
        return page(first)


@strawberry.type
class ItemEdge:
    node: Item


@strawberry.type
class ItemConnection:
    edges: list[ItemEdge]


def page(first: int) -> ItemConnection:
    calls["page"] = calls.get("page", 0) + 1
    return ItemConnection(edges=[ItemEdge(node=Item(id=i)) for i in range(min(first, 3))])


@strawberry.type
class Viewer:
    id: int = 1

    @strawberry.field
    def library(self, first: int) -> ItemConnection:
        return page(first)

    @strawberry.field
    def bookmarks(self, first: int) -> ItemConnection:
        return page(first)


@strawberry.type
class Query(RateLimitQueries):
    @strawberry.field
    def hello(self) -> str:
        return "hi"

    @strawberry.field
    def viewer(self) -> Viewer:
        return Viewer()

    @strawberry.field
    def items(self, first: int) -> ItemConnection:
        return page(first)

    @strawberry.field
    def search(self, query: str, first: int) -> ItemConnection:
        return page(first)


@strawberry.type
class Mutation:
    @strawberry.mutation
    def analyze_video(self, url: str) -> str:
        calls["analyze"] = calls.get("analyze", 0) + 1
        return url


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def ticks(self, count: int) -> AsyncGenerator[int, None]:
        for tick in range(count):
            yield tick


LIMITS = QueryLimits(max_depth=12, max_aliases=15, max_tokens=2000,
                     max_body_bytes=16384, max_upload_bytes=65536)
NESTED = "{ items(first: 10) { edges { node { children(first: 5) { edges { node { id } } } } } } }"
ANALYZE = 'mutation { analyzeVideo(url: "https://youtu.be/dQw4w9WgXcQ") }'
RATE_LIMIT = "{ rateLimit { limit remaining used resetAt cost } }"


async def _never_called(job_id: str) -> None:
    raise AssertionError(f"no job runs in these tests ({job_id})")


def make_app(rates: dict[str, str] | None = None, *, enabled: bool = True, debug: bool = False) -> ASGIApp:
    settings = Settings(debug=debug)
    schema = VidgraphSchema(
        query=Query, mutation=Mutation, subscription=Subscription,
        extensions=[ErrorPolicy, *protection_extensions(settings, LIMITS)],
    )
    defaults = RateLimitSettings().rates
    limiter = RateLimiter(rates={**defaults, **{k: parse_rate(v) for k, v in (rates or {}).items()}})
    services = AppServices(
        settings=settings, redis=None, broker=InMemoryBroker(), queue=InProcessQueue(_never_called),
        analyzer=LocalAnalyzer(), rate_limiter=limiter if enabled else None,
    )
    view = GraphQLView(schema, limits=LIMITS, multipart_uploads_enabled=True, graphql_ide=None)

    async def with_services(scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"] = {"services": services}
        await view(scope, receive, send)

    return with_services


def client_for(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def post(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None,
               ) -> httpx.Response:
    return await client.post("/graphql", json={"query": query, "variables": variables or {}})


@pytest.fixture(autouse=True)
def reset_calls() -> None:
    calls.clear()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(make_app()) as client:
        yield client


async def test_a_cheap_query_costs_one_point_and_says_so(client):
    response = await post(client, "{ hello }")
    assert response.status_code == 200
    assert response.json()["extensions"]["cost"] == {"requested": 1, "actual": 1}
    assert response.headers["RateLimit-Policy"] == '"points";q=5000;w=3600'
    assert response.headers["RateLimit"].startswith('"points";r=4999;t=')


async def test_nested_connections_multiply_their_page_sizes(client):
    body = (await post(client, NESTED)).json()
    # asked: 1 + 10 + 10 * 5; returned: 1 + 3 + 3 * 3 (each page holds 3 items here)
    assert body["extensions"]["cost"] == {"requested": 61, "actual": 13}


async def test_cost_follows_fragments_and_variables(client):
    query = """
    query Q($n: Int!, $m: Int = 4) { items(first: $n) { ...Kids } }
    fragment Kids on ItemConnection { edges { node { children(first: $m) { edges { node { id } } } } } }
    """
    body = (await post(client, query, {"n": 7})).json()
    assert body["extensions"]["cost"]["requested"] == 1 + 7 + 7 * 4
    # returned: 3 items, each with 3 children, found through the fragment
    assert body["extensions"]["cost"]["actual"] == 1 + 3 + 3 * 3


async def test_first_above_100_fails_before_anything_runs(client):
    for query, variables in (("{ items(first: 101) { edges { node { id } } } }", None),
                             ("query($n: Int!) { items(first: $n) { edges { node { id } } } }", {"n": 500}),
                             ("{ items(first: -1) { edges { node { id } } } }", None)):
        body = (await post(client, query, variables)).json()
        [error] = body["errors"]
        assert error["extensions"] == {"code": "INVALID_INPUT", "field": "first"}
        assert body["data"] is None
    assert calls == {}


async def test_the_sixth_analysis_in_a_minute_gets_429_with_retry_after(client):
    for _ in range(5):
        response = await post(client, ANALYZE)
        assert response.status_code == 200 and "errors" not in response.json()
    refused = await post(client, ANALYZE)
    assert refused.status_code == 429
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert '"analyze";q=5;w=60' in refused.headers["RateLimit-Policy"]
    assert '"analyze";r=0;' in refused.headers["RateLimit"]
    [error] = refused.json()["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["retryAfter"] == retry_after
    assert refused.json()["data"] is None
    assert calls["analyze"] == 5


async def test_library_and_bookmarks_share_the_history_budget(client):
    for field in ["library"] * 10 + ["bookmarks"] * 10:
        query = "{ viewer { FIELD(first: 1) { edges { node { id } } } } }".replace("FIELD", field)
        assert (await post(client, query)).status_code == 200
    refused = await post(client, "{ viewer { bookmarks(first: 1) { edges { node { id } } } } }")
    assert refused.status_code == 429
    assert refused.json()["errors"][0]["extensions"]["policy"] == "history"
    # other operations are not held back by the history budget
    assert (await post(client, "{ viewer { id } }")).status_code == 200


async def test_each_aliased_search_counts(client):
    response = await post(client, '{ a: search(query: "x", first: 1) { edges { node { id } } } '
                                   'b: search(query: "y", first: 1) { edges { node { id } } } }')
    assert '"search";r=28;' in response.headers["RateLimit"]


async def test_an_exhausted_point_budget_refuses_until_a_query_fits():
    async with client_for(make_app({POINTS: "100/3600"})) as client:
        assert (await post(client, NESTED)).status_code == 200
        refused = await post(client, NESTED)
        assert refused.status_code == 429
        assert refused.json()["errors"][0]["extensions"]["policy"] == POINTS
        # the refused query was not charged: 39 points remain for smaller ones
        fits = await post(client, RATE_LIMIT)
    assert fits.json()["data"]["rateLimit"]["remaining"] == 38


async def test_a_query_dearer_than_the_whole_budget_is_refused_without_charge():
    async with client_for(make_app({POINTS: "50/3600"})) as client:
        body = (await post(client, NESTED)).json()
        [error] = body["errors"]
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert error["extensions"]["cost"] == {"requested": 61, "limit": 50}
        assert (await post(client, RATE_LIMIT)).json()["data"]["rateLimit"]["used"] == 1


async def test_rate_limit_field_reports_the_point_budget(client):
    await post(client, NESTED)
    data = (await post(client, RATE_LIMIT)).json()["data"]["rateLimit"]
    assert (data["limit"], data["used"], data["remaining"], data["cost"]) == (5000, 62, 4938, 1)
    assert data["resetAt"].endswith("+00:00")


async def test_with_limits_off_nothing_is_counted_but_cost_is_reported():
    async with client_for(make_app(enabled=False)) as client:
        for _ in range(6):
            response = await post(client, ANALYZE)
            assert response.status_code == 200
        body = (await post(client, RATE_LIMIT)).json()
    assert body["data"]["rateLimit"] is None
    assert body["extensions"]["cost"]["requested"] == 1
    assert "RateLimit" not in response.headers


def nested(levels: int) -> str:
    inner = "id"
    for _ in range(levels):
        inner = f"children(first: 1) {{ edges {{ node {{ {inner} }} }} }}"
    return "{ items(first: 1) { edges { node { " + inner + " } } } }"


async def test_queries_deeper_than_the_limit_are_refused(client):
    assert "errors" not in (await post(client, nested(3))).json()  # 13 fields deep: the root is depth 0
    calls.clear()
    body = (await post(client, nested(4))).json()
    [error] = body["errors"]
    assert "exceeds maximum operation depth of 12" in error["message"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert calls == {}


async def test_more_than_15_aliases_are_refused(client):
    body = (await post(client, "{ " + " ".join(f"a{i}: hello" for i in range(16)) + " }")).json()
    assert "16 aliases found. Allowed: 15" in body["errors"][0]["message"]
    assert (await post(client, "{ " + " ".join(f"a{i}: hello" for i in range(15)) + " }")).json()["data"]


async def test_documents_over_the_token_limit_are_refused_before_parsing_finishes(client):
    body = (await post(client, "{ " + "hello " * 2100 + "}")).json()
    assert "token" in body["errors"][0]["message"].lower()


async def test_graphiql_introspection_fits_within_the_limits(client):
    body = (await post(client, get_introspection_query(descriptions=True))).json()
    assert "errors" not in body and body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_field_suggestions_are_hidden_unless_debug(client):
    quiet = (await post(client, "{ helo }")).json()["errors"][0]["message"]
    assert "Did you mean" not in quiet and "helo" in quiet
    async with client_for(make_app(debug=True)) as debug_client:
        chatty = (await post(debug_client, "{ helo }")).json()["errors"][0]["message"]
    assert "Did you mean 'hello'?" in chatty


async def test_batched_operations_are_refused_cleanly(client):
    response = await client.post("/graphql", json=[{"query": "{ hello }"}, {"query": "{ hello }"}])
    assert response.status_code == 400
    assert "batch" in response.text.lower()


async def test_bodies_over_the_limit_get_413_before_parsing(client):
    padding = "x" * 20000
    response = await post(client, "{ hello }", {"pad": padding})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_bodies_without_a_length_are_cut_off_at_the_limit(client):
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ hello }", "variables": {"pad": "'
        for _ in range(20):
            yield b"x" * 1000
        yield b'"}}'

    response = await client.post("/graphql", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


def multipart(padding: int) -> tuple[bytes, dict[str, str]]:
    # plain form fields only: the point is the body's size, not the file handling
    parts = {"operations": json.dumps({"query": ANALYZE, "variables": {}}), "map": "{}", "pad": "x" * padding}
    body = b"".join(f'--b\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
                    for name, value in parts.items()) + b"--b--\r\n"
    return body, {"content-type": "multipart/form-data; boundary=b", "Apollo-Require-Preflight": "true"}


async def test_uploads_have_their_own_larger_limit(client):
    body, headers = multipart(30000)
    small = await client.post("/graphql", content=body, headers=headers)
    assert small.status_code == 200 and small.json()["data"]["analyzeVideo"]
    body, headers = multipart(70000)
    assert (await client.post("/graphql", content=body, headers=headers)).status_code == 413


@pytest.fixture
async def ws_url() -> AsyncIterator[str]:
    config = uvicorn.Config(make_app({POINTS: "2/3600"}), host="127.0.0.1", port=0, lifespan="off",
                            log_level="warning", ws="websockets-sansio")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    yield f"ws://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/graphql"
    server.should_exit = True
    await task


async def test_subscriptions_over_the_limit_get_an_error_on_an_open_socket(ws_url):
    subscribe = {"query": "subscription { ticks(count: 1) }"}
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        for op in ("1", "2"):  # a budget of two points: two subscriptions of one point each
            await ws.send(json.dumps({"id": op, "type": "subscribe", "payload": subscribe}))
            event = json.loads(await ws.recv())
            assert (event["id"], event["type"], event["payload"]["data"]) == (op, "next", {"ticks": 0})
            assert event["payload"]["extensions"]["cost"] == {"requested": 1}
            assert json.loads(await ws.recv())["type"] == "complete"
        await ws.send(json.dumps({"id": "3", "type": "subscribe", "payload": subscribe}))
        refused = json.loads(await ws.recv())
        assert (refused["id"], refused["type"], refused["payload"]["data"]) == ("3", "next", None)
        assert refused["payload"]["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert json.loads(await ws.recv()) == {"id": "3", "type": "complete"}
        # the socket is still open and answers
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv())["type"] == "pong"
