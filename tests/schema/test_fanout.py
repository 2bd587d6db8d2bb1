"""Stored events written straight to WebSocket subscribers (schema/fanout.py): the same frames as the
pipeline sends, in order, on both protocols; a subscriber that leaves, falls behind or misses a
message costs nobody else anything and misses nothing itself."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets
from strawberry.relay import GlobalID
from websockets.typing import Subprotocol

from resolvers import videos as video_resolvers
from schema import fanout
from services.analysis_events import Event
from tests.helpers import sign_up
from tests.schema.test_shared_events import EVENTS_ONLY, PER_VIEWER, _held_analysis
from tests.schema.test_sse import events_of

PROTOCOL_MESSAGES = {  # subscribe, next, complete
    "graphql-transport-ws": ("subscribe", "next", "complete"),
    "graphql-ws": ("start", "data", "complete"),
}


async def _open(
    live_server: str, token: str, query: str, analysis_id: str, protocol: str
) -> websockets.ClientConnection:
    subscribe, _, _ = PROTOCOL_MESSAGES[protocol]
    ws = await websockets.connect(f"ws://{live_server}/graphql", subprotocols=[Subprotocol(protocol)])
    await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "op-7", "type": subscribe,
                              "payload": {"query": query, "variables": {"id": analysis_id}}}))
    return ws


async def _frames(ws: websockets.ClientConnection, protocol: str) -> list[dict[str, Any]]:
    """Every message of the operation up to `complete`, keep-alives left out."""
    _, _, complete = PROTOCOL_MESSAGES[protocol]
    frames: list[dict[str, Any]] = []
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 20))
        if message["type"] == "ka":
            continue
        frames.append(message)
        if message["type"] == complete:
            return frames


async def _sse_payloads(live_server: str, token: str, query: str, analysis_id: str) -> list[dict[str, Any]]:
    """The same subscription over Server-Sent Events, which has no lane: the pipeline's payloads."""
    async with httpx.AsyncClient(base_url=f"http://{live_server}", timeout=20) as http:
        request = http.build_request("POST", "/graphql", json={"query": query, "variables": {"id": analysis_id}},
                                     headers={"accept": "text/event-stream", "Authorization": f"Bearer {token}"})
        response = await http.send(request, stream=True)
        payloads: list[dict[str, Any]] = []
        try:
            async for event, data in events_of(response):
                if event == "complete":
                    return payloads
                payloads.append(data)
        finally:
            await response.aclose()
    return payloads


async def test_the_lane_sends_what_the_pipeline_would_on_both_protocols(client, live_server, app_services):
    emails = ["ada@example.com", "bob@example.com", "cy@example.com"]
    tokens = [await sign_up(client, email=email) for email in emails]
    analysis, _, _ = await _held_analysis(emails)
    gid = str(GlobalID("Analysis", str(analysis.id)))
    written = fanout.FANOUT.frames_written
    sockets = [
        (await _open(live_server, tokens[0], EVENTS_ONLY, gid, "graphql-transport-ws"), "graphql-transport-ws"),
        (await _open(live_server, tokens[1], EVENTS_ONLY, gid, "graphql-ws"), "graphql-ws"),
    ]
    firsts = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for ws, _ in sockets]
    sse = asyncio.create_task(_sse_payloads(live_server, tokens[2], EVENTS_ONLY, gid))
    await asyncio.sleep(0.5)  # the SSE subscriber has read the state before the job starts
    await app_services.queue.enqueue(str(analysis.id))
    rest = await asyncio.gather(*(_frames(ws, protocol) for ws, protocol in sockets))
    pipeline = await asyncio.wait_for(sse, 20)
    for ws, _ in sockets:
        await ws.close()

    for (_, protocol), first, frames in zip(sockets, firsts, rest, strict=True):
        _, data_type, complete = PROTOCOL_MESSAGES[protocol]
        assert first["type"] == data_type and first["payload"]["data"]["analysisProgress"]["kind"] == "state"
        assert [f["type"] for f in frames] == [data_type] * (len(frames) - 1) + [complete]
        assert all(f["id"] == "op-7" for f in frames)
        # the events after the state are exactly the pipeline's payloads, extensions (the cost) too
        assert [f["payload"] for f in frames[:-1]] == pipeline[1:]
        assert all(f["payload"]["extensions"] == first["payload"]["extensions"] for f in frames[:-1])
    events = [p["data"]["analysisProgress"] for p in pipeline[1:]]
    assert events[-1]["final"] and any(e["highlight"] for e in events)
    assert [e["sequence"] for e in events] == sorted({e["sequence"] for e in events})
    # written by the lane, not the subscribers' own tasks; and nothing kept once they left
    assert fanout.FANOUT.frames_written - written == 2 * len(events)
    assert not fanout.FANOUT.groups


async def test_selections_that_read_more_than_the_event_keep_their_own_pipeline(client, live_server, app_services):
    ada = await sign_up(client, email="ada@example.com")
    analysis, _, _ = await _held_analysis(["ada@example.com"])
    gid = str(GlobalID("Analysis", str(analysis.id)))
    written = fanout.FANOUT.frames_written
    ws = await _open(live_server, ada, PER_VIEWER, gid, "graphql-transport-ws")
    await asyncio.wait_for(ws.recv(), 10)
    await app_services.queue.enqueue(str(analysis.id))
    frames = await _frames(ws, "graphql-transport-ws")
    await ws.close()

    assert len(frames) > 3 and frames[-2]["payload"]["data"]["analysisProgress"]["final"]
    assert fanout.FANOUT.frames_written == written


async def _two_in_the_lane(client, live_server: str) -> tuple[str, list[websockets.ClientConnection]]:
    """Two people's subscriptions to one held analysis, both past their first event and handed over
    to the lane; the analysis's database id."""
    emails = ["ada@example.com", "bob@example.com"]
    tokens = [await sign_up(client, email=email) for email in emails]
    analysis, _, _ = await _held_analysis(emails)
    gid = str(GlobalID("Analysis", str(analysis.id)))
    sockets = [await _open(live_server, token, EVENTS_ONLY, gid, "graphql-transport-ws") for token in tokens]
    for ws in sockets:
        await asyncio.wait_for(ws.recv(), 10)
    for _ in range(500):
        if sum(len(group.members) for group in fanout.FANOUT.groups.values()) == 2:
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the subscriptions were not handed over")
    return str(analysis.id), sockets


async def test_one_subscriber_leaving_costs_the_others_nothing(client, live_server, app_services):
    analysis_id, (leaving, staying) = await _two_in_the_lane(client, live_server)
    await leaving.close()
    await app_services.queue.enqueue(analysis_id)
    frames = await _frames(staying, "graphql-transport-ws")
    await staying.close()

    assert frames[-2]["payload"]["data"]["analysisProgress"]["final"]
    assert not fanout.FANOUT.groups


async def test_an_operation_the_client_stopped_is_sent_nothing_more(client, live_server, app_services):
    analysis_id, (stopping, watching) = await _two_in_the_lane(client, live_server)
    await stopping.send(json.dumps({"id": "op-7", "type": "complete"}))
    await app_services.queue.enqueue(analysis_id)
    frames = await _frames(watching, "graphql-transport-ws")
    await watching.close()

    assert frames[-2]["payload"]["data"]["analysisProgress"]["final"]
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(stopping.recv(), 0.5)
    await stopping.close()
    assert not fanout.FANOUT.groups


async def test_an_event_pubsub_lost_arrives_from_the_log_after_a_silence(
    client, live_server, app_services, monkeypatch
):
    ada = await sign_up(client, email="ada@example.com")
    analysis, _, _ = await _held_analysis(["ada@example.com"])
    gid = str(GlobalID("Analysis", str(analysis.id)))
    monkeypatch.setattr(video_resolvers, "SILENCE_SECONDS", 0.3)
    broker = app_services.broker
    publish = broker.publish

    async def losing_the_final_event(channel: str, message: dict[str, Any]) -> None:
        if message.get("kind") != "final":
            await publish(channel, message)

    monkeypatch.setattr(broker, "publish", losing_the_final_event)
    written = fanout.FANOUT.frames_written
    ws = await _open(live_server, ada, EVENTS_ONLY, gid, "graphql-transport-ws")
    await asyncio.wait_for(ws.recv(), 10)
    await app_services.queue.enqueue(str(analysis.id))
    frames = await _frames(ws, "graphql-transport-ws")
    await ws.close()

    assert frames[-2]["payload"]["data"]["analysisProgress"]["final"]
    assert fanout.FANOUT.frames_written - written == len(frames) - 1


class _Socket:
    """A WebSocket whose sends wait until the test lets them through."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.open = asyncio.Event()
        self.open.set()

    async def send_text(self, frame: str) -> None:
        await self.open.wait()
        self.sent.append(frame)


class _Executor:
    """Stands in for graphql-core's: an event's data is its sequence and kind."""

    class _Result:
        def __init__(self, root: Event) -> None:
            self.root = root

        def execute_operation(self) -> Any:
            from graphql import ExecutionResult

            return ExecutionResult(data={"e": {"sequence": self.root.sequence, "kind": self.root.kind}})

    schema = object()
    operation = object()

    class variable_values:
        coerced: dict[str, Any] = {}

    def build_per_event_executor(self, root: Event) -> Any:
        return self._Result(root)


def _event(sequence: int, kind: str = "progress") -> Event:
    return Event("a1", sequence, kind, "ANALYZING", 0.5, "", {})


async def _member(socket: _Socket, seen: int = 0) -> fanout._Member:
    lane = fanout.Lane(operation_id="9", message_type="next", send_text=socket.send_text, active=lambda: True)
    lane.executor, lane.extensions = _Executor(), {"cost": {"requested": 2}}
    return fanout.FanOut().join(lane, "analysis:a1", lambda event: event, seen)


async def test_a_socket_that_cannot_take_a_frame_gets_its_backlog_in_order():
    socket = _Socket()
    member = await _member(socket, seen=1)
    member.offer_event(_event(2))
    socket.open.clear()  # the socket stops taking frames
    for sequence in (3, 4, 1, 5):
        member.offer_event(_event(sequence))
    member.offer_event(_event(6, "final"))
    assert not member.done.done()  # its final frame is owed: not done until it is written
    socket.open.set()
    assert await asyncio.wait_for(member.done, 2) == "final"

    frames = [json.loads(frame) for frame in socket.sent]
    assert [f["payload"]["data"]["e"]["sequence"] for f in frames] == [2, 3, 4, 5, 6]
    assert all(f["id"] == "9" and f["type"] == "next" for f in frames)
    assert frames[0]["payload"]["extensions"] == {"cost": {"requested": 2}}


async def test_a_socket_too_far_behind_is_handed_back_at_the_last_event_it_was_sent(monkeypatch):
    monkeypatch.setattr(fanout, "MAX_BACKLOG", 2)
    socket = _Socket()
    socket.open.clear()
    member = await _member(socket, seen=1)
    for sequence in range(2, 8):
        member.offer_event(_event(sequence))
    socket.open.set()
    assert await asyncio.wait_for(member.done, 2) == "behind"
    # one write waiting and two in the backlog: the subscriber goes on from the log after event 4
    assert member.seen == 4
    assert [json.loads(f)["payload"]["data"]["e"]["sequence"] for f in socket.sent] == [2, 3, 4]


async def test_a_write_left_waiting_leaves_what_it_waits_on_awaitable_by_others():
    """The lane runs a send by hand until it waits, as a task would; whatever it waits on (here a
    future others wait on too) must stay awaitable by everyone else."""
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    sent: list[str] = []

    async def send_text(frame: str) -> None:
        await gate
        sent.append(frame)

    lane = fanout.Lane(operation_id="9", message_type="next", send_text=send_text, active=lambda: True)
    lane.executor, lane.extensions = _Executor(), {}
    member = fanout.FanOut().join(lane, "analysis:a1", lambda event: event, 0)
    member.offer_event(_event(1, "final"))

    async def someone_else() -> None:
        await gate

    other = asyncio.ensure_future(someone_else())  # waiting on the same future
    await asyncio.sleep(0)
    gate.set_result(None)
    await asyncio.wait_for(other, 2)
    assert await asyncio.wait_for(member.done, 2) == "final"
    assert len(sent) == 1
