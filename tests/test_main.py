"""The HTTP and WebSocket doors of the app: GraphQL over GET/POST/WS, GraphiQL, probes, errors."""

from __future__ import annotations

import asyncio
import gc
import json
import logging

import pytest
import uvicorn
import websockets
from redis.asyncio import Redis
from websockets.typing import Subprotocol

import main
from services.settings import Settings
from tests.helpers import gql, sign_up

VIEWER_EMAIL = "{ viewer { email } }"


async def test_queries_work_over_get(client):
    token = await sign_up(client)
    response = await client.get(
        "/graphql", params={"query": VIEWER_EMAIL}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    assert response.json()["data"]["viewer"]["email"] == "ada@example.com"


async def test_mutations_are_refused_over_get(client):
    query = "mutation { startAnonymousSession { token } }"
    response = await client.get("/graphql", params={"query": query})
    # refused before anything runs (GraphQL over HTTP prefers 405; strawberry answers 400)
    assert response.status_code in {400, 405}
    from models import User

    assert await User.all().count() == 0


async def test_browsers_get_graphiql(client):
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_healthz_answers_without_touching_dependencies(client):
    response = await client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_readyz_checks_the_database_and_redis(client, settings):
    response = await client.get("/readyz")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["database"] == "ok"
    if settings.redis_url:
        assert checks["redis"] == "ok"


async def test_readiness_reports_unreachable_redis(settings):
    dead = Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.2)
    try:
        ready, checks = await main.readiness(dead)
    finally:
        await dead.aclose()
    assert ready is False
    assert checks["database"] == "ok"
    assert checks["redis"].startswith("error")


async def test_validation_errors_keep_their_message_and_get_a_code(client):
    body = await gql(client, "{ viewer { nope } }")
    [error] = body["errors"]
    assert "nope" in error["message"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_cursor_errors_are_typed(client):
    token = await sign_up(client)
    body = await gql(client, '{ viewer { sessions(first: 5, after: "%%%") { edges { cursor } } } }', token=token)
    [error] = body["errors"]
    assert error["extensions"]["code"] == "INVALID_INPUT"
    assert error["extensions"]["field"] == "after"


async def test_first_is_bounded(client):
    token = await sign_up(client)
    body = await gql(client, "{ viewer { sessions(first: 101) { edges { cursor } } } }", token=token)
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_unexpected_errors_are_masked_and_logged_with_request_id(client, monkeypatch, caplog):
    from resolvers import users

    async def explode(*args, **kwargs):
        raise RuntimeError("secret database detail")

    monkeypatch.setattr(users, "sessions_of_viewer", explode)
    token = await sign_up(client)
    with caplog.at_level(logging.ERROR, logger="vidgraph.errors"):
        response = await client.post(
            "/graphql",
            json={"query": "{ viewer { sessions(first: 1) { edges { cursor } } } }"},
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-abc123"},
        )
    [error] = response.json()["errors"]
    assert error["message"] == "Unexpected error."
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-abc123"}
    assert "secret database detail" not in response.text
    assert response.headers["x-request-id"] == "req-abc123"
    assert any("secret database detail" in (r.exc_text or str(r.exc_info)) for r in caplog.records)


async def test_schema_file_matches_the_code():
    from pathlib import Path

    committed = (Path(__file__).parent.parent / "schema.graphql").read_text(encoding="utf-8")
    assert committed == main.export_schema(), (
        "schema.graphql is stale: run `python main.py export-schema -o schema.graphql`"
    )


async def _ws_session(url: str, protocol: str, token: str | None):
    ws = await websockets.connect(url, subprotocols=[Subprotocol(protocol)])
    init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"} if token else {}}
    await ws.send(json.dumps(init))
    ack = json.loads(await ws.recv())
    return ws, ack


async def test_graphql_transport_ws_runs_operations_as_the_signed_in_viewer(client, live_server):
    token = await sign_up(client)
    ws, ack = await _ws_session(f"ws://{live_server}/graphql", "graphql-transport-ws", token)
    async with ws:
        assert ack["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": VIEWER_EMAIL}}))
        message = json.loads(await ws.recv())
        assert message["type"] == "next"
        assert message["payload"]["data"]["viewer"]["email"] == "ada@example.com"
        assert json.loads(await ws.recv()) == {"id": "1", "type": "complete"}


async def test_graphql_ws_legacy_protocol_is_accepted(client, live_server):
    # graphql-ws carries subscriptions only; the analysis tests run one over it
    token = await sign_up(client)
    ws, ack = await _ws_session(f"ws://{live_server}/graphql", "graphql-ws", token)
    async with ws:
        assert ack["type"] == "connection_ack"


async def test_websocket_with_a_bad_token_is_rejected(live_server):
    ws = await websockets.connect(f"ws://{live_server}/graphql", subprotocols=["graphql-transport-ws"])
    await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer vgs_bogus"}}))
    with pytest.raises(websockets.ConnectionClosed):
        await ws.recv()
    assert ws.close_code == 4403


async def test_websocket_without_token_is_signed_out(live_server):
    ws, ack = await _ws_session(f"ws://{live_server}/graphql", "graphql-transport-ws", None)
    async with ws:
        assert ack["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": VIEWER_EMAIL}}))
        message = json.loads(await ws.recv())
        assert message["payload"]["data"] == {"viewer": None}


def test_settings_default_to_the_embedded_shape():
    settings = Settings.from_env({})
    assert settings.is_sqlite and settings.redis_url is None
    assert settings.database_url == "sqlite://var/vidgraph.sqlite3"
    assert settings.session_ttl_seconds == 7 * 24 * 3600


def test_export_schema_command_writes_the_sdl(tmp_path):
    out = tmp_path / "schema.graphql"
    assert main.main(["export-schema", "-o", str(out)]) == 0
    assert "type Query" in out.read_text()


@pytest.mark.parametrize(("env", "compressed"), [({}, False), ({"WS_COMPRESSION": "true"}, True)])
async def test_websocket_frames_are_compressed_only_when_asked(asgi_app, env, compressed):
    """`main.py serve` runs uvicorn with these options: permessage-deflate only on request."""
    options = Settings.from_env(env).uvicorn_options()
    config = uvicorn.Config(asgi_app, host="127.0.0.1", port=0, lifespan="off", log_level="warning", **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        # the client offers permessage-deflate; the server's answer says whether it took it
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/graphql", subprotocols=[Subprotocol("graphql-transport-ws")]
        ) as ws:
            agreed = ws.response.headers.get("Sec-WebSocket-Extensions") if ws.response else None
        assert ("permessage-deflate" in (agreed or "")) is compressed
    finally:
        server.should_exit = True
        await task


def test_the_running_app_keeps_its_start_up_heap_out_of_the_collector(asgi_app):
    """After start-up the heap is frozen and collections are rarer (README, Decisions)."""
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (20_000, 20, 20)
