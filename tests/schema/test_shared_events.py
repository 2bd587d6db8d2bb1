"""Subscribers watching an analysis the same way share one execution of each stored event; anything
that depends on who is watching is still executed for each of them."""

from __future__ import annotations

import asyncio
import json

import websockets
from strawberry.relay import GlobalID
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from websockets.typing import Subprotocol

from models import Analysis, Bookmark, LibraryEntry, User, Video
from tests.fixture_source import COMPILER_TALK
from tests.helpers import sign_up

EVENTS_ONLY = """
subscription($id: ID!) { analysisProgress(analysisId: $id) {
  sequence kind status progress message final ...Found
} }
fragment Found on AnalysisEvent { highlight { title timestamp start } }
"""
PER_VIEWER = """
subscription($id: ID!) { analysisProgress(analysisId: $id) {
  sequence kind final analysis { video { bookmarked } }
} }
"""


async def _held_analysis(emails: list[str]) -> tuple[Analysis, Video, list[User]]:
    video = await Video.create(
        youtube_id=COMPILER_TALK, url=f"https://www.youtube.com/watch?v={COMPILER_TALK}", title="x"
    )
    users = [await User.get(email=email) for email in emails]
    for user in users:
        await LibraryEntry.create(user=user, video=video)
    analysis = await Analysis.create(video=video, settings_key="shared", analyzer="local:1", requested_by=users[0])
    return analysis, video, users


async def _subscribe(live_server: str, token: str, query: str, analysis_id: str) -> websockets.ClientConnection:
    ws = await websockets.connect(f"ws://{live_server}/graphql", subprotocols=[Subprotocol("graphql-transport-ws")])
    await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(
        json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": {"id": analysis_id}}})
    )
    first = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert first["payload"]["data"]["analysisProgress"]["kind"] == "state", first
    return ws


async def _rest(ws: websockets.ClientConnection) -> list[dict]:
    events: list[dict] = []
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 20))
        if message["type"] == "complete":
            return events
        assert message["type"] == "next" and not message["payload"].get("errors"), message
        events.append(message["payload"]["data"]["analysisProgress"])


def _count_executions(monkeypatch) -> list[tuple]:
    """Each execution of a stored event's selection, by its share key."""
    executed: list[tuple] = []
    parent = StrawberryGraphQLCoreExecutionContext
    original = parent.execute_operation

    def counting(self, serially=None):
        key = getattr(self.root_value, "share_key", None)
        if key is not None:
            executed.append(key)
        return original(self, serially)

    monkeypatch.setattr(parent, "execute_operation", counting)
    return executed


async def test_subscribers_of_one_selection_share_each_events_execution(client, live_server, app_services, monkeypatch):
    emails = ["ada@example.com", "bob@example.com", "cy@example.com"]
    tokens = [await sign_up(client, email=email) for email in emails]
    analysis, _, _ = await _held_analysis(emails)
    executed = _count_executions(monkeypatch)
    gid = str(GlobalID("Analysis", str(analysis.id)))
    sockets = [await _subscribe(live_server, token, EVENTS_ONLY, gid) for token in tokens]
    await app_services.queue.enqueue(str(analysis.id))
    streams = await asyncio.gather(*(_rest(ws) for ws in sockets))
    for ws in sockets:
        await ws.close()

    assert streams[0] == streams[1] == streams[2]
    assert streams[0][-1]["final"] and any(e["highlight"] for e in streams[0])
    # three subscribers, one execution per stored event
    assert sorted(executed) == sorted({(str(analysis.id), e["sequence"]) for e in streams[0]})


async def test_what_depends_on_the_viewer_is_executed_for_each_viewer(client, live_server, app_services, monkeypatch):
    ada = await sign_up(client, email="ada@example.com")
    bob = await sign_up(client, email="bob@example.com")
    analysis, video, users = await _held_analysis(["ada@example.com", "bob@example.com"])
    await Bookmark.create(user=users[0], video=video)
    executed = _count_executions(monkeypatch)
    gid = str(GlobalID("Analysis", str(analysis.id)))
    sockets = [await _subscribe(live_server, token, PER_VIEWER, gid) for token in (ada, bob)]
    await app_services.queue.enqueue(str(analysis.id))
    ada_events, bob_events = await asyncio.gather(*(_rest(ws) for ws in sockets))
    for ws in sockets:
        await ws.close()

    assert ada_events and all(e["analysis"]["video"]["bookmarked"] is True for e in ada_events)
    assert bob_events and all(e["analysis"]["video"]["bookmarked"] is False for e in bob_events)
    assert len(executed) == len(ada_events) + len(bob_events)


async def test_the_first_event_is_each_subscribers_own(client, live_server, app_services):
    """The state a subscriber joins with is read for it, never taken from what another was sent."""
    ada = await sign_up(client, email="ada@example.com")
    bob = await sign_up(client, email="bob@example.com")
    analysis, _, _ = await _held_analysis(["ada@example.com", "bob@example.com"])
    gid = str(GlobalID("Analysis", str(analysis.id)))
    first = await _subscribe(live_server, ada, EVENTS_ONLY, gid)
    await app_services.queue.enqueue(str(analysis.id))
    ada_events = await _rest(first)
    await first.close()
    # Bob joins after the end: his only event is the final state, not Ada's last stored event
    ws = await websockets.connect(f"ws://{live_server}/graphql", subprotocols=["graphql-transport-ws"])
    async with ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {bob}"}}))
        await ws.recv()
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": EVENTS_ONLY, "variables": {"id": gid}}})
        )
        late = json.loads(await asyncio.wait_for(ws.recv(), 10))["payload"]["data"]["analysisProgress"]
    assert late["kind"] == "final" and late["sequence"] == ada_events[-1]["sequence"]
    # the stored final event says what was found; the state a late subscriber joins with does not
    assert ada_events[-1]["message"].startswith("Found ")
    assert late["message"] == ""


def test_only_selections_of_plain_event_fields_may_be_shared():
    from graphql import parse

    from schema import build_schema
    from schema.shared_events import SharedEventExecutor
    from services.settings import Settings

    graphql_schema = build_schema(Settings())._schema

    def shareable(query: str) -> bool:
        executor = SharedEventExecutor.build(graphql_schema, parse(query), raw_variable_values={"id": "x"})
        assert isinstance(executor, SharedEventExecutor), executor
        return executor.selection_is_pure()

    progress = "subscription($id: ID!) { analysisProgress(analysisId: $id) { %s } }"
    assert shareable(EVENTS_ONLY)
    assert shareable(progress % "sequence @include(if: true) ... on AnalysisEvent { kind __typename }")
    # a resolver may read the viewer or the database: executed per subscriber
    assert not shareable(PER_VIEWER)
    assert not shareable(progress % "analysis { status }")
    # a directive this executor does not know about
    assert not shareable(progress % "kind @deprecated")
    assert not shareable("query { viewer { email } }")
