"""/metrics: operations by name and outcome, latencies, SQL per request, subscriptions, jobs, tokens;
and the request id on every log line of a request."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
import pytest
import uvicorn
import websockets
from prometheus_client.parser import text_string_to_metric_families
from strawberry.relay import GlobalID
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from models import Analysis, LibraryEntry, User, Video
from services import metrics
from services.errors import ErrorCode, ServiceError
from services.logs import JsonFormatter
from tests.fixture_source import INDEX_TALK, TIMELAPSE
from tests.helpers import data_of, gql, sign_up
from tests.sql_counter import count_sql

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
T = TypeVar("T")

WHO_AM_I = "query WhoAmI { viewer { email } }"
BROKEN = "query Broken { viewer { nope } }"
LIBRARY = "query Shelf { viewer { library(first: 5) { edges { node { video { title } } } } } }"
ANALYZE = """
mutation Analyze($url: String!) {
  analyzeVideo(input: {url: $url}) { analysis { id status } errors { code } }
}
"""
STATUS = "query Status($id: ID!) { node(id: $id) { ... on Analysis { status } } }"
PROGRESS = "subscription Progress($id: ID!) { analysisProgress(analysisId: $id) { kind status } }"


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def eventually(probe: Callable[[], Awaitable[T | None]], *, within: float = 10.0) -> T:
    """The first truthy answer of `probe`, asked every 50 ms, for what has no event to wait on."""

    async def poll() -> T:
        while not (answer := await probe()):  # noqa: ASYNC110 - the state is read through the API
            await asyncio.sleep(0.05)
        return answer

    return await asyncio.wait_for(poll(), within)


async def test_metrics_are_served_in_the_prometheus_text_format(client):
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {
        "vidgraph_http_requests",
        "vidgraph_graphql_operations",
        "vidgraph_graphql_operation_duration_seconds",
        "vidgraph_sql_statements_per_request",
        "vidgraph_graphql_active_subscriptions",
        "vidgraph_job_queue_depth",
        "vidgraph_job_duration_seconds",
        "vidgraph_llm_tokens",
        "process_resident_memory_bytes",
    } <= names


async def test_prometheus_can_ask_for_openmetrics(client):
    response = await client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


async def test_operations_are_counted_by_name_and_outcome(client):
    token = await sign_up(client)
    before = await scrape(client)
    data_of(await gql(client, WHO_AM_I, token=token))
    data_of(await gql(client, WHO_AM_I, token=token))
    assert (await gql(client, BROKEN, token=token))["errors"]
    after = await scrape(client)
    ok = {"operation": "WhoAmI", "type": "query", "outcome": "ok"}
    assert value(after, "vidgraph_graphql_operations_total", **ok) - value(
        before, "vidgraph_graphql_operations_total", **ok
    ) == 2
    broken = {"operation": "Broken", "type": "query", "outcome": "error"}
    assert value(after, "vidgraph_graphql_operations_total", **broken) - value(
        before, "vidgraph_graphql_operations_total", **broken
    ) == 1


async def test_rate_limited_operations_are_counted_apart_from_errors(client):
    token = await sign_up(client)
    labels = {"operation": "Analyze", "type": "mutation", "outcome": "rate_limited"}
    before = value(await scrape(client), "vidgraph_graphql_operations_total", **labels)
    # five analyses a minute are allowed; a URL that is refused still counts, and starts nothing
    for _ in range(5):
        data_of(await gql(client, ANALYZE, {"url": "not a url"}, token=token))
    refused = await gql(client, ANALYZE, {"url": "not a url"}, token=token, expect_status=429)
    assert refused["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    after = await scrape(client)
    assert value(after, "vidgraph_graphql_operations_total", **labels) - before == 1
    http_429 = {"method": "POST", "route": "/graphql", "status": "429"}
    assert value(after, "vidgraph_http_requests_total", **http_429) >= 1


async def test_latency_of_queries_is_observed_per_operation(client):
    labels = {"operation": "WhoAmI", "type": "query"}
    before = await scrape(client)
    data_of(await gql(client, WHO_AM_I))
    after = await scrape(client)
    name = "vidgraph_graphql_operation_duration_seconds"
    assert value(after, f"{name}_count", **labels) - value(before, f"{name}_count", **labels) == 1
    assert value(after, f"{name}_sum", **labels) > value(before, f"{name}_sum", **labels)
    http = {"method": "POST", "route": "/graphql"}
    assert value(after, "vidgraph_http_request_duration_seconds_count", **http) > value(
        before, "vidgraph_http_request_duration_seconds_count", **http
    )


async def test_sql_statements_of_a_request_are_counted(client):
    token = await sign_up(client)
    name = "vidgraph_sql_statements_per_request"
    before = await scrape(client)
    with count_sql() as statements:
        data_of(await gql(client, LIBRARY, token=token))
    after = await scrape(client)
    assert statements, "the request should have read the session and the library"
    assert value(after, f"{name}_count", operation="Shelf") - value(before, f"{name}_count", operation="Shelf") == 1
    counted = value(after, f"{name}_sum", operation="Shelf") - value(before, f"{name}_sum", operation="Shelf")
    assert counted == len(statements)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_counting_sql_does_not_put_statements_in_the_logs(client, caplog):
    token = await sign_up(client)
    root = logging.getLogger()
    records = _Records()
    root.addHandler(records)
    try:
        with caplog.at_level(logging.INFO):
            data_of(await gql(client, LIBRARY, token=token))
        assert not [r for r in records.records if r.name == metrics.SQL_LOGGER]
        # asking for DEBUG logs still shows them
        with caplog.at_level(logging.DEBUG):
            data_of(await gql(client, LIBRARY, token=token))
        assert [r for r in records.records if r.name == metrics.SQL_LOGGER]
    finally:
        root.removeHandler(records)


async def test_paths_that_match_no_route_share_one_label(client):
    await client.get("/no-such-page-7f3a")
    samples = await scrape(client)
    assert value(samples, "vidgraph_http_requests_total", method="GET", route="unmatched", status="404") >= 1
    assert not any("no-such-page" in dict(labels).get("route", "") for _, labels in samples)


async def _subscribe(live_server: str, token: str, query: str, variables: dict[str, str]) -> ClientConnection:
    ws = await websockets.connect(f"ws://{live_server}/graphql", subprotocols=[Subprotocol("graphql-transport-ws")])
    await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}))
    return ws


async def test_open_subscriptions_are_gauged(client, live_server):
    token = await sign_up(client)
    user = await User.get(email="ada@example.com")
    video = await Video.create(youtube_id=INDEX_TALK, url=f"https://www.youtube.com/watch?v={INDEX_TALK}", title="x")
    await LibraryEntry.create(user=user, video=video)
    # queued and never run here: the subscription stays open until the client leaves
    analysis = await Analysis.create(video=video, settings_key="gauge", analyzer="local:1", requested_by=user)
    gauge = "vidgraph_graphql_active_subscriptions"
    before = value(await scrape(client), gauge)
    ws = await _subscribe(live_server, token, PROGRESS, {"id": str(GlobalID("Analysis", str(analysis.id)))})
    async with ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert first["payload"]["data"]["analysisProgress"]["status"] == "QUEUED"
        assert value(await scrape(client), gauge) == before + 1

    async def closed() -> bool:
        return value(await scrape(client), gauge) == before

    await eventually(closed)


async def test_websocket_operations_are_counted_like_http_ones(client, live_server):
    token = await sign_up(client)
    labels = {"operation": "WhoAmI", "type": "query", "outcome": "ok"}
    before = await scrape(client)
    ws = await _subscribe(live_server, token, WHO_AM_I, {})
    async with ws:
        assert json.loads(await ws.recv())["payload"]["data"]["viewer"]["email"] == "ada@example.com"
        assert json.loads(await ws.recv())["type"] == "complete"
    after = await scrape(client)
    assert value(after, "vidgraph_graphql_operations_total", **labels) - value(
        before, "vidgraph_graphql_operations_total", **labels
    ) == 1
    sql = "vidgraph_sql_statements_per_request_count"
    assert value(after, sql, operation="WhoAmI") - value(before, sql, operation="WhoAmI") == 1


async def test_queue_depth_is_read_when_scraped(client, app_services, monkeypatch):
    async def seven() -> int:
        return 7

    monkeypatch.setattr(app_services.queue, "depth", seven)
    assert value(await scrape(client), "vidgraph_job_queue_depth") == 7


async def _analyse(client: httpx.AsyncClient, token: str, video_id: str) -> str:
    payload = data_of(await gql(client, ANALYZE, {"url": f"https://youtu.be/{video_id}"}, token=token))
    analysis_id: str = payload["analyzeVideo"]["analysis"]["id"]

    async def finished() -> bool:
        node = data_of(await gql(client, STATUS, {"id": analysis_id}, token=token))["node"]
        return node["status"] in {"COMPLETED", "FAILED", "CANCELLED"}

    await eventually(finished, within=20)
    return analysis_id


async def test_jobs_are_timed_by_how_they_ended(client):
    token = await sign_up(client)
    name = "vidgraph_job_duration_seconds_count"
    before = await scrape(client)
    await _analyse(client, token, INDEX_TALK)
    await _analyse(client, token, TIMELAPSE)  # no captions: fails with NO_TRANSCRIPT

    # the runner observes the duration as it returns, just after the final status is written
    async def observed() -> Samples | None:
        samples = await scrape(client)
        failed = value(samples, name, outcome="NO_TRANSCRIPT") - value(before, name, outcome="NO_TRANSCRIPT")
        return samples if failed else None

    after = await eventually(observed)
    assert value(after, name, outcome="completed") - value(before, name, outcome="completed") == 1
    assert value(after, name, outcome="NO_TRANSCRIPT") - value(before, name, outcome="NO_TRANSCRIPT") == 1


class LeaseLost(Exception):
    pass


def test_timed_job_names_the_outcome_and_lets_errors_through():
    def count(outcome: str) -> float:
        return metrics.REGISTRY.get_sample_value("vidgraph_job_duration_seconds_count", {"outcome": outcome}) or 0.0

    before = {o: count(o) for o in ("completed", "NO_TRANSCRIPT", "lease_lost")}
    with metrics.timed_job():
        pass
    with pytest.raises(ServiceError), metrics.timed_job():
        raise ServiceError(ErrorCode.NO_TRANSCRIPT, "no captions")
    with pytest.raises(LeaseLost), metrics.timed_job():
        raise LeaseLost
    assert {o: count(o) - before[o] for o in before} == {"completed": 1, "NO_TRANSCRIPT": 1, "lease_lost": 1}


def test_llm_tokens_are_counted_by_model_purpose_and_kind():
    def count(kind: str) -> float:
        labels = {"model": "gpt-test", "purpose": "chat", "kind": kind}
        return metrics.REGISTRY.get_sample_value("vidgraph_llm_tokens_total", labels) or 0.0

    before = count("prompt"), count("completion")
    metrics.count_llm_tokens(model="gpt-test", purpose="chat", prompt_tokens=120, completion_tokens=30)
    assert (count("prompt") - before[0], count("completion") - before[1]) == (120, 30)


def test_operation_names_from_clients_cannot_grow_the_label_set(monkeypatch):
    monkeypatch.setattr(metrics, "_seen_operation_names", {f"Op{i}" for i in range(metrics.MAX_OPERATION_NAMES)})
    assert metrics.operation_label("Op7") == "Op7"
    assert metrics.operation_label("BrandNew") == "other"
    assert metrics.operation_label(None) == "anonymous"
    monkeypatch.setattr(metrics, "_seen_operation_names", set())
    assert metrics.operation_label("A" * 65) == "other"
    assert metrics.operation_label("Fine") == "Fine"


async def test_access_log_lines_carry_the_request_id(asgi_app):
    # uvicorn as `main.py serve` runs it: no logging config of its own, access log on
    config = uvicorn.Config(asgi_app, host="127.0.0.1", port=0, lifespan="off", log_config=None, access_log=True)
    server = uvicorn.Server(config)
    lines: list[dict[str, str]] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(JsonFormatter().format(record)))

    access = logging.getLogger("uvicorn.access")
    capture, level = Capture(), access.level
    access.addHandler(capture)
    access.setLevel(logging.INFO)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with httpx.AsyncClient() as http:
            response = await http.get(f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": "trace-me-42"})
        assert response.headers["x-request-id"] == "trace-me-42"
    finally:
        server.should_exit = True
        await task
        access.removeHandler(capture)
        access.setLevel(level)
    [line] = [entry for entry in lines if "/healthz" in entry["message"]]
    assert line["request_id"] == "trace-me-42"
