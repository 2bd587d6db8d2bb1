"""Stored analysis events written straight to the sockets of everyone who watches them the same way.

A thousand people following one analysis used to cost a thousand trips through the subscription
pipeline for every event: wake the subscriber's task, resume its chain of async generators, run
Strawberry's per-result extension hooks, build the protocol message and JSON-encode it — about
110 µs per subscriber per event, to produce the same bytes but for the operation id. Writing the
frame to the socket is ~7 µs of that.

The lane: a WebSocket subscription whose first result (its own view of the state) has gone out
through the normal pipeline, and whose selection reads only plain fields of the event (the rule of
``schema/shared_events.py``), hands its later events over. Its broker subscription then calls
:meth:`_Member.offer` for each message, inside the broker's dispatch: the event is executed once
for the group (same document, variables and per-result extensions — the executor is the one
graphql-core built for the subscription, so the data is what the pipeline would have produced),
encoded once, and each member's frame is its operation id around that payload. The subscriber's own
task just waits for the final event to be written, then returns, so the protocol's ``complete``
follows exactly as before.

A socket that cannot take a frame at once keeps the frames that follow in a backlog of its own,
written by one task while everyone else goes on; a backlog longer than ``MAX_BACKLOG`` hands the
subscriber back to its own task, which follows the stored log from the last event it was sent, as a
slow subscriber always has. So does anything unexpected (an event that cannot be shared).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextvars import ContextVar
from typing import Any, Literal, cast

from graphql import ExecutionResult
from starlette.websockets import WebSocket
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from services.analysis_events import Event
from services.pubsub import Subscription

log = logging.getLogger(__name__)

MAX_BACKLOG = 256  # frames one socket may owe before its subscriber is handed back
KEPT_PAYLOADS = 64  # encoded events a group keeps for members that are behind

Outcome = Literal["final", "ended", "gone", "behind", "fallback"]
"""Why a member left the lane: its final event was written; the broker closed; the socket is gone;
it fell ``MAX_BACKLOG`` frames behind; or an event could not be shared."""


SendText = Callable[[str], Coroutine[Any, Any, None]]


class Lane:
    """One subscription operation on a WebSocket: where its frames go and how they look."""

    __slots__ = ("active", "executor", "extensions", "frame_prefix", "operation_id", "send_text")

    def __init__(
        self, *, operation_id: str, message_type: str, send_text: SendText, active: Callable[[], bool]
    ) -> None:
        self.operation_id = operation_id
        self.send_text = send_text
        self.active = active  # false once the client stopped the operation: nothing more is sent
        # the keys of the protocol's own message, in its order; the payload and "}" complete it
        self.frame_prefix = f'{{"id": {json.dumps(operation_id)}, "type": "{message_type}", "payload": '
        self.extensions: Mapping[str, Any] | None = None  # of the last result the pipeline sent
        self.executor: Any = None  # graphql-core's executor of this subscription

    def note(self, message: Mapping[str, Any], message_type: str) -> None:
        if message.get("type") == message_type and message.get("id") == self.operation_id:
            payload = message.get("payload")
            self.extensions = (payload.get("extensions") if isinstance(payload, Mapping) else None) or {}


CURRENT: ContextVar[Lane | None] = ContextVar("vidgraph_fanout_lane", default=None)


def note_executor(executor: Any) -> None:
    """Called by the executor as it resolves a subscription's root field: the lane's executor."""
    lane = CURRENT.get()
    if lane is not None and lane.executor is None:
        lane.executor = executor


def _socket(adapter: object) -> WebSocket:
    return cast(ASGIWebSocketAdapter, adapter).ws


class TransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    """graphql-transport-ws, with a lane for each operation (set in the operation's own task)."""

    async def run_operation(self, operation: Any) -> None:
        CURRENT.set(Lane(operation_id=operation.id, message_type="next", send_text=_socket(self.websocket).send_text,
                         active=lambda: operation.id in self.operations))
        await super().run_operation(operation)

    async def send_message(self, message: Any) -> None:
        lane = CURRENT.get()
        if lane is not None:
            lane.note(message, "next")
        await super().send_message(message)


class LegacyWSHandler(BaseGraphQLWSHandler[Any, Any]):
    """graphql-ws (subscriptions-transport-ws), with a lane for each operation."""

    async def handle_async_results(
        self, operation_id: str, query: str, operation_name: str | None, variables: dict[str, object] | None
    ) -> None:
        CURRENT.set(Lane(operation_id=operation_id, message_type="data", send_text=_socket(self.websocket).send_text,
                         active=lambda: operation_id in self.tasks))
        await super().handle_async_results(operation_id, query, operation_name, variables)

    async def send_message(self, message: Any) -> None:
        lane = CURRENT.get()
        if lane is not None:
            lane.note(message, "data")
        await super().send_message(message)


class _Group:
    """Members watching one channel with the same document, variables and extensions."""

    def __init__(
        self, key: tuple[Any, ...], executor: Any, extensions: Mapping[str, Any], to_root: Callable[[Event], Any]
    ) -> None:
        self.key = key
        self.executor = executor
        self.extensions = dict(extensions)
        self.to_root = to_root
        self.members: set[_Member] = set()
        self.payloads: OrderedDict[int, str | None] = OrderedDict()

    def payload(self, event: Event) -> str | None:
        """The event's `payload` JSON for every member; None when it cannot be shared."""
        if event.sequence in self.payloads:
            return self.payloads[event.sequence]
        text = None
        try:
            result = self.executor.build_per_event_executor(self.to_root(event)).execute_operation()
            if isinstance(result, ExecutionResult) and not result.errors and result.data is not None:
                body: dict[str, Any] = {"data": result.data}
                if self.extensions:
                    body["extensions"] = self.extensions
                text = json.dumps(body)
            elif hasattr(result, "close"):
                result.close()  # an awaitable a pure selection should never produce: not run
        except Exception:
            log.exception("could not execute stored event %s for shared delivery", event.sequence)
        self.payloads[event.sequence] = text
        while len(self.payloads) > KEPT_PAYLOADS:
            self.payloads.popitem(last=False)
        return text


class FanOut:
    """The groups of this process and what they have written."""

    def __init__(self) -> None:
        self.groups: dict[tuple[Any, ...], _Group] = {}
        self.frames_written = 0
        self._last: tuple[Mapping[str, Any], Event] | None = None

    def event_of(self, message: Mapping[str, Any]) -> Event:
        # every member of a channel is handed the same message object in a row: decode it once
        last = self._last
        if last is not None and last[0] is message:
            return last[1]
        event = Event.from_message(message)
        self._last = (message, event)
        return event

    def join(self, lane: Lane, channel: str, to_root: Callable[[Event], Any], seen: int) -> _Member:
        executor, extensions = lane.executor, lane.extensions or {}
        variables = repr(sorted(executor.variable_values.coerced.items()))
        key = (channel, id(executor.schema), id(executor.operation), variables, json.dumps(extensions, sort_keys=True))
        group = self.groups.get(key)
        if group is None or group.executor.operation is not executor.operation:
            group = self.groups[key] = _Group(key, executor, extensions, to_root)
        member = _Member(self, group, lane, seen)
        group.members.add(member)
        return member

    def leave(self, member: _Member) -> None:
        group = member.group
        group.members.discard(member)
        if not group.members and self.groups.get(group.key) is group:
            del self.groups[group.key]


FANOUT = FanOut()


class _Member:
    """One subscriber in the lane: the last event it was sent, its backlog, how it left."""

    def __init__(self, fanout: FanOut, group: _Group, lane: Lane, seen: int) -> None:
        self.fanout = fanout
        self.group = group
        self.lane = lane
        self.seen = seen
        self.done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.backlog: deque[str] | None = None  # frames owed while a write waits for the socket
        self.writer: asyncio.Task[None] | None = None
        self.leaving: Outcome | None = None

    def offer(self, message: Mapping[str, Any] | None) -> None:
        """The broker subscription's sink; never raises into the broker's dispatch."""
        try:
            if message is None:
                self._leave("ended")
            else:
                self.offer_event(self.fanout.event_of(message))
        except Exception:
            log.exception("shared delivery failed; the subscriber follows the stored log")
            self._leave("fallback")

    def offer_event(self, event: Event) -> None:
        if self.leaving is not None or event.sequence <= self.seen:
            return
        if not self.lane.active():
            self._leave("gone")
            return
        if self.backlog is not None and len(self.backlog) >= MAX_BACKLOG:
            self._leave("behind")
            return
        payload = self.group.payload(event)
        if payload is None:
            self._leave("fallback")
            return
        self.seen = event.sequence
        self._write(self.lane.frame_prefix + payload + "}")
        if event.final:
            self._leave("final")

    def _write(self, frame: str) -> None:
        self.fanout.frames_written += 1
        if self.backlog is not None:
            self.backlog.append(frame)
            return
        send = self.lane.send_text(frame)
        try:
            step = _step(send)
        except StopIteration:
            return
        except Exception:
            self._leave("gone")
            return
        # the socket cannot take it now: finish this write, and any that follow, in a task of its own
        self.backlog = deque()
        self.writer = asyncio.ensure_future(self._drain(send, step))

    async def _drain(self, send: Coroutine[Any, Any, None], step: Any) -> None:
        try:
            await _finish(send, step)
            while self.backlog:
                await self.lane.send_text(self.backlog.popleft())
        except Exception:
            self.leaving = self.leaving or "gone"
        finally:
            self.backlog, self.writer = None, None
        if self.leaving is not None:
            self._settle(self.leaving)

    def _leave(self, outcome: Outcome) -> None:
        if self.leaving is None:
            self.leaving = outcome
        if self.writer is None:
            self._settle(self.leaving)

    def _settle(self, outcome: Outcome) -> None:
        if not self.done.done():
            self.done.set_result(outcome)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.cancel()
        self.fanout.leave(self)


def _step(coroutine: Coroutine[Any, Any, None]) -> Any:
    """Run a coroutine up to its next wait; StopIteration when it finished without one."""
    step = coroutine.send(None)
    if step is not None:
        step._asyncio_future_blocking = False  # as a task does, so others may await it too
    return step


async def _finish(coroutine: Coroutine[Any, Any, None], step: Any) -> None:
    """Run the rest of a coroutine that `_step` left waiting on `step` (a future, or None for a
    bare yield), the way a task would."""
    try:
        while True:
            if step is None:
                await asyncio.sleep(0)
            else:
                await asyncio.wait([step])
            step = _step(coroutine)
    except StopIteration:
        return
    finally:
        coroutine.close()


async def hand_over(
    *,
    channel: str,
    subscription: Subscription,
    seen: int,
    to_root: Callable[[Event], Any],
    catch_up: Callable[[int], Awaitable[list[Event]]],
    silence: float,
) -> tuple[Outcome, int] | None:
    """Deliver the rest of this subscription through the lane, when it may: None when it may not
    (no WebSocket lane, or a selection that is not plain event fields); else why it left the lane
    and the last event it was sent. After a `silence`, the stored log is read for what pub/sub
    may have dropped, as the normal path does."""
    from schema.shared_events import SharedEventExecutor

    lane = CURRENT.get()
    if lane is None or lane.extensions is None or not isinstance(lane.executor, SharedEventExecutor):
        return None
    if not lane.executor.selection_is_pure():
        return None
    member = FANOUT.join(lane, channel, to_root, seen)
    subscription.redirect(member.offer)
    try:
        while not member.done.done():
            await asyncio.wait([member.done], timeout=silence)
            if not member.done.done():
                for event in await catch_up(member.seen):
                    member.offer_event(event)
        return member.done.result(), member.seen
    finally:
        subscription.restore()
        member.close()
