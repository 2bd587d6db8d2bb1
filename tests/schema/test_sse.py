"""Subscriptions over plain HTTP, through a real socket: GraphQL over Server-Sent Events (graphql-sse's
distinct connections mode: `Accept: text/event-stream`, `event: next` … `event: complete`) and Apollo's
multipart subscriptions, with the same bearer token and limits as every other request."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest
from strawberry.relay import GlobalID

from models import Analysis, LibraryEntry, User, Video
from services.pubsub import Broker
from services.rate_limits import POINTS, RateLimiter, RateLimitSettings, parse_rate
from tests.fixture_source import COMPILER_TALK
from tests.helpers import data_of, sign_up
from tests.schema.test_analyses import PROGRESS, analyze, wait_until_done

SSE = "text/event-stream"
APOLLO_MULTIPART = 'multipart/mixed;boundary="graphql";subscriptionSpec=1.0,application/json'
VIEWER_EMAIL = "{ viewer { email } }"


@pytest.fixture
async def http(live_server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{live_server}", timeout=20) as client:
        yield client


async def events_of(response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    """(event, decoded data) as the stream delivers them; comments (heartbeats) are skipped."""
    event, data = "", []
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            event = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data.append(line.removeprefix("data:").strip())
        elif not line and event:
            text = "\n".join(data)
            yield event, json.loads(text) if text else None
            event, data = "", []


async def subscribe(http: httpx.AsyncClient, token: str | None, analysis_id: str) -> httpx.Response:
    """An open SSE response to `analysisProgress`; the caller closes it."""
    headers = {"accept": SSE, **({"Authorization": f"Bearer {token}"} if token else {})}
    request = http.build_request("POST", "/graphql", json={"query": PROGRESS, "variables": {"id": analysis_id}},
                                 headers=headers)
    return await http.send(request, stream=True)


async def queued_analysis(email: str) -> tuple[str, str]:
    """A job in the person's library that nobody has started (global and database ids), so a
    subscriber sees it from its start."""
    user = await User.get(email=email)
    video = await Video.create(youtube_id=COMPILER_TALK, url=f"https://www.youtube.com/watch?v={COMPILER_TALK}",
                               title="x")
    await LibraryEntry.create(user=user, video=video)
    analysis = await Analysis.create(video=video, settings_key="sse", analyzer="local:1", requested_by=user)
    return str(GlobalID("Analysis", str(analysis.id))), str(analysis.id)


async def test_progress_streams_from_state_to_final_and_then_the_stream_closes(client, http, app_services):
    token = await sign_up(client)
    gid, analysis_id = await queued_analysis("ada@example.com")
    response = await subscribe(http, token, gid)
    try:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(SSE)
        events = events_of(response)
        event, first = await asyncio.wait_for(anext(events), 10)
        assert (event, first["data"]["analysisProgress"]["kind"]) == ("next", "state")
        await app_services.queue.enqueue(analysis_id)  # the app's own queue runs it
        rest = [item async for item in events]
    finally:
        await response.aclose()
    assert rest[-1] == ("complete", None)
    progress = [data["data"]["analysisProgress"] for event, data in rest if event == "next"]
    assert len(progress) == len(rest) - 1
    kinds = [p["kind"] for p in progress]
    assert "stage" in kinds and "highlight" in kinds and kinds[-1] == "final"
    assert progress[-1]["status"] == "COMPLETED" and progress[-1]["final"] is True
    sequences = [p["sequence"] for p in progress]
    assert sequences == sorted(set(sequences))


class CountingBroker:
    """The app's broker, counting the subscriptions that are open."""

    def __init__(self, inner: Broker) -> None:
        self.inner = inner
        self.open = 0

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        await self.inner.publish(channel, message)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[Mapping[str, Any]]]:
        self.open += 1
        try:
            async with self.inner.subscribe(channel) as messages:
                yield messages
        finally:
            self.open -= 1


async def test_a_client_that_goes_away_ends_its_subscription(client, http, app_services, monkeypatch):
    broker = CountingBroker(app_services.broker)
    monkeypatch.setattr(app_services, "broker", broker)
    token = await sign_up(client)
    gid, _ = await queued_analysis("ada@example.com")  # never started: the stream would wait forever
    response = await subscribe(http, token, gid)
    events = events_of(response)  # held, so only the explicit close below ends the request
    await asyncio.wait_for(anext(events), 10)
    assert broker.open == 1
    await response.aclose()
    for _ in range(100):
        if broker.open == 0:
            break
        await asyncio.sleep(0.05)
    assert broker.open == 0


async def test_a_finished_analysis_streams_its_final_state_by_get(client, http):
    token = await sign_up(client)
    payload = await analyze(client, token, f"https://youtu.be/{COMPILER_TALK}")
    await wait_until_done(client, token, payload["analysis"]["id"])
    params = {"query": PROGRESS, "variables": json.dumps({"id": payload["analysis"]["id"]})}
    async with http.stream("GET", "/graphql", params=params,
                           headers={"accept": SSE, "Authorization": f"Bearer {token}"}) as response:
        events = [item async for item in events_of(response)]
    [(event, final), complete] = events
    assert event == "next" and final["data"]["analysisProgress"]["kind"] == "final"
    assert complete == ("complete", None)


async def test_another_person_gets_not_found_as_an_error_event(client, http):
    ada = await sign_up(client, email="ada@example.com")
    bob = await sign_up(client, email="bob@example.com")
    payload = await analyze(client, ada, f"https://youtu.be/{COMPILER_TALK}")
    response = await subscribe(http, bob, payload["analysis"]["id"])
    try:
        events = [item async for item in events_of(response)]
    finally:
        await response.aclose()
    # graphql-sse reports errors inside the accepted stream, never as a 4xx a browser would swallow
    assert response.status_code == 200
    [(event, result), complete] = events
    assert event == "next" and result["data"] is None
    assert result["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert complete == ("complete", None)
    await wait_until_done(client, ada, payload["analysis"]["id"])


async def test_without_a_token_the_stream_runs_signed_out_and_sees_nothing_private(client, http):
    await sign_up(client)
    gid, _ = await queued_analysis("ada@example.com")
    response = await subscribe(http, None, gid)
    try:
        [(event, result), _] = [item async for item in events_of(response)]
    finally:
        await response.aclose()
    assert event == "next" and result["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_a_bad_token_is_refused_with_401_before_any_stream(http):
    response = await subscribe(http, "vgs_bogus", str(GlobalID("Analysis", "1")))
    try:
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/json"
        body = json.loads(await response.aread())
    finally:
        await response.aclose()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_queries_stream_one_result_then_complete(client, http):
    token = await sign_up(client)
    async with http.stream("POST", "/graphql", json={"query": VIEWER_EMAIL},
                           headers={"accept": SSE, "Authorization": f"Bearer {token}"}) as response:
        events = [item async for item in events_of(response)]
    assert events[0][0] == "next" and data_of(events[0][1]) == {"viewer": {"email": "ada@example.com"}}
    assert events[1:] == [("complete", None)]


async def test_invalid_subscriptions_report_their_errors_in_the_stream(http):
    async with http.stream("POST", "/graphql", json={"query": "subscription { analysisProgress { nope } }"},
                           headers={"accept": SSE}) as response:
        events = [item async for item in events_of(response)]
    assert response.status_code == 200
    [(event, result), complete] = events
    assert event == "next" and result["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert complete == ("complete", None)


async def test_sse_subscriptions_draw_on_the_same_rate_limits(client, http, app_services, monkeypatch):
    token = await sign_up(client)
    gid, _ = await queued_analysis("ada@example.com")
    # a fresh budget of one point: the first subscription spends it, the second is refused
    rates = {**RateLimitSettings().rates, POINTS: parse_rate("1/3600")}
    monkeypatch.setattr(app_services, "rate_limiter", RateLimiter(rates=rates))
    first = await subscribe(http, token, gid)
    try:
        event, result = await asyncio.wait_for(anext(events_of(first)), 10)
        assert (event, result["data"]["analysisProgress"]["kind"]) == ("next", "state")
    finally:
        await first.aclose()
    second = await subscribe(http, token, gid)
    try:
        [(_, refused), complete] = [item async for item in events_of(second)]
    finally:
        await second.aclose()
    assert refused["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert complete == ("complete", None)


async def test_apollo_multipart_subscriptions_stream_the_same_events(client, http):
    token = await sign_up(client)
    payload = await analyze(client, token, f"https://youtu.be/{COMPILER_TALK}")
    await wait_until_done(client, token, payload["analysis"]["id"])
    body = {"query": PROGRESS, "variables": {"id": payload["analysis"]["id"]}}
    async with http.stream("POST", "/graphql", json=body,
                           headers={"accept": APOLLO_MULTIPART, "Authorization": f"Bearer {token}"}) as response:
        content = (await response.aread()).decode()
    assert response.headers["content-type"].startswith('multipart/mixed;boundary=graphql')
    parts = [part.split("\r\n\r\n", 1)[1].strip() for part in content.split("--graphql") if "\r\n\r\n" in part]
    results = [json.loads(part)["payload"] for part in parts if json.loads(part)]
    assert [r["data"]["analysisProgress"]["kind"] for r in results] == ["final"]
    assert content.rstrip().endswith("--graphql--")


async def test_the_stream_is_counted_against_the_body_limit_like_any_request(http):
    response = await http.post("/graphql", content=json.dumps({"query": VIEWER_EMAIL, "pad": "x" * (2 << 20)}),
                               headers={"accept": SSE, "content-type": "application/json"})
    assert response.status_code == 413
