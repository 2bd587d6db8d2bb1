"""1,000 WebSocket subscribers on one analysis: delivery latency and the server's memory.

Run: `python -m bench.bench_subscriptions [--brokers redis,memory] [--connections 1000] [--users 100]`
from the repository root (Redis at 127.0.0.1:6379 for the redis run).

One server process (uvicorn, SQLite) per broker. `--users` people sign up and ask for the same
video, whose job the bench holds at its first stage (the fixture source waits at a gate); then
`--connections` graphql-transport-ws connections (each signed in, people taking turns) subscribe
to `analysisProgress` of that one analysis, all from this process on one event loop.

- redis, injected: the bench publishes `--events` progress events straight into the Redis channel
  the server listens on, the send time in `message`; latency = receipt - send time, over every
  (event, client) pair. The events go to a second, held analysis (every connection subscribes to
  it first), because the server skips events numbered at or below what a subscriber has seen, and
  injected numbers would hide the real job's events.
- both brokers, real job: the gate opens and the job runs (analyser, progress and highlight
  events, final); latency = receipt - the event's `created_at` in the processing log. This also
  counts the insert and the publish, and the events come in a burst, as real jobs send them.
Server RSS (VmRSS) before the connections and with them all subscribed. Target p99 <= 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets
from redis.asyncio import Redis
from strawberry.relay import GlobalID

from bench.common import (
    DEFAULT_REDIS_URL,
    Server,
    as_datetime,
    cpu_seconds,
    open_gate,
    percentile,
    raise_open_files,
    rss_mib,
    running_server,
    start,
    subscribe,
    summary,
)
from services.analysis_events import Event, channel_of
from services.pubsub import RedisBroker
from tests.fixture_source import COMPILER_TALK, INDEX_TALK
from tests.helpers import data_of, gql, sign_up

ANALYZE = """
mutation Analyze($input: AnalyzeVideoInput!) {
  analyzeVideo(input: $input) { reused analysis { id status } errors { code message } }
}
"""
LEAN = "sequence kind status progress message final"
FULL = LEAN + " analysis { status progress }"
INJECTED_SUB, JOB_SUB = "injected", "job"
PAUSE = 0.1  # seconds between one injected event reaching every client and the next
ENV = {
    # sign-up and analyze budgets are not what this measures
    "RATE_LIMITS_ENABLED": "false",
}


def progress_query(selection: str) -> str:
    return f"subscription($id: ID!) {{ analysisProgress(analysisId: $id) {{ {selection} }} }}"


@dataclass
class Client:
    """One connection and what arrived on it: (receipt time, subscription id, event)."""

    ws: websockets.ClientConnection
    received: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    completed: set[str] = field(default_factory=set)
    reader: asyncio.Task[None] | None = None

    async def read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                arrived = time.time()  # the wall clock: compared with times taken in other processes
                message = json.loads(raw)
                kind = message["type"]
                if kind == "next":
                    if message["payload"].get("errors"):
                        raise RuntimeError(f"subscription error: {message}")
                    self.received.append((arrived, message["id"], message["payload"]["data"]["analysisProgress"]))
                    self.counts[message["id"]] = self.counts.get(message["id"], 0) + 1
                elif kind == "complete":
                    self.completed.add(message["id"])
                elif kind == "ping":
                    await self.ws.send(json.dumps({"type": "pong"}))
                elif kind not in {"pong"}:
                    raise RuntimeError(f"unexpected message: {message}")

    def count(self, sub_id: str) -> int:
        return self.counts.get(sub_id, 0)


def received(sub_id: str, at_least: int) -> Callable[[Client], bool]:
    return lambda client: client.count(sub_id) >= at_least


async def wait_for(clients: Sequence[Client], done: Callable[[Client], bool], limit: float, what: str) -> float:
    began = time.monotonic()
    while not all(done(c) for c in clients):
        if time.monotonic() - began > limit:
            missing = sum(1 for c in clients if not done(c))
            raise RuntimeError(f"{missing} of {len(clients)} clients still waiting for {what} after {limit:.0f} s")
        for c in clients:
            if c.reader is not None and c.reader.done() and c.reader.exception():
                raise RuntimeError("a client failed") from c.reader.exception()
        await asyncio.sleep(0.01)
    return time.monotonic() - began


async def sign_up_people(client: httpx.AsyncClient, users: int) -> list[str]:
    gate = asyncio.Semaphore(4)  # argon2 is meant to be slow: do not drown the two cores

    async def one(n: int) -> str:
        async with gate:
            return await sign_up(client, f"subscriber{n}@example.com")

    return await asyncio.gather(*(one(n) for n in range(users)))


async def ask_for(client: httpx.AsyncClient, tokens: Sequence[str], video_id: str) -> str:
    """Everyone asks for the same video: the first starts the job, the others join it."""
    url = f"https://youtu.be/{video_id}"
    first = data_of(await gql(client, ANALYZE, {"input": {"url": url}}, token=tokens[0]))["analyzeVideo"]
    gid: str = first["analysis"]["id"]
    for token in tokens[1:]:
        payload = data_of(await gql(client, ANALYZE, {"input": {"url": url}}, token=token))["analyzeVideo"]
        if payload["analysis"]["id"] != gid or not payload["reused"]:
            raise RuntimeError(f"a second person did not join the running job: {payload}")
    return gid


async def connect_all(
    server: Server, tokens: Sequence[str], connections: int, query: str, gid: str, sub_id: str
) -> list[Client]:
    gate = asyncio.Semaphore(50)

    async def one(n: int) -> Client:
        async with gate:
            ws = await subscribe(server.ws, tokens[n % len(tokens)], query, {"id": gid}, sub_id=sub_id)
        client = Client(ws)
        client.reader = asyncio.create_task(client.read())
        return client

    return await asyncio.gather(*(one(n) for n in range(connections)))


def stored_sequence(server: Server, analysis_id: str) -> int:
    [(last,)] = server.database.rows("SELECT MAX(sequence) FROM analysis_events WHERE analysis_id = $1", analysis_id)
    return int(last or 0)


async def inject(server: Server, redis_url: str, clients: Sequence[Client], gid: str, events: int) -> Injected:
    """Publish progress events into the server's Redis channel, each once the last one reached every
    client (so no event waits behind another); latency (ms) of every (event, client) pair."""
    aid = GlobalID.from_id(gid).node_id
    base = stored_sequence(server, aid)
    redis = Redis.from_url(redis_url)
    broker = RedisBroker(redis, prefix=server.redis_prefix)
    fan_outs: list[float] = []
    cpu = own_cpu = 0.0
    try:
        for k in range(1, events + 1):
            cpu_before, own_before = cpu_seconds(server.pid), time.process_time()
            sent = time.time()
            event = Event(aid, base + k, "progress", "ANALYZING", k / events, message=repr(sent))
            await broker.publish(channel_of(aid), event.as_message())
            await wait_for(clients, received(INJECTED_SUB, k + 1), 60, f"injected event {k}")
            cpu += cpu_seconds(server.pid) - cpu_before
            own_cpu += time.process_time() - own_before
            fan_outs.append((max(c.received[-1][0] for c in clients) - sent) * 1000)
            await asyncio.sleep(PAUSE)
    finally:
        await broker.close()
        await redis.aclose()
    millis = [
        (arrived - float(event["message"])) * 1000
        for c in clients for arrived, sid, event in c.received
        if sid == INJECTED_SUB and event["kind"] == "progress"
    ]
    return Injected(millis, fan_outs, cpu / events * 1000, own_cpu / events * 1000)


@dataclass
class Injected:
    millis: list[float]
    fan_outs: list[float]  # publish to the last client's receipt, per event
    server_cpu_ms: float  # server CPU time per event, mean
    client_cpu_ms: float  # this process's, receiving it on every connection (and polling)


async def follow_real_job(
    server: Server, clients: Sequence[Client], gid: str, video_id: str
) -> tuple[list[float], int]:
    """Open the job's gate and time each event's arrival against when it was stored."""
    open_gate(server.gate_dir, video_id)
    await wait_for(clients, lambda c: JOB_SUB in c.completed, 120, "the end of the job")
    aid = GlobalID.from_id(gid).node_id
    rows = server.database.rows("SELECT sequence, created_at FROM analysis_events WHERE analysis_id = $1", aid)
    stored = {sequence: as_datetime(created).timestamp() for sequence, created in rows}
    by_event: dict[tuple[int, str, str], list[float]] = {}
    for c in clients:
        for arrived, sid, event in c.received:
            if sid == JOB_SUB and event["kind"] != "state":
                key = (event["sequence"], event["kind"], event["status"])
                by_event.setdefault(key, []).append((arrived - stored[event["sequence"]]) * 1000)
    print(f"  {'seq':>5}  {'kind':<10}{'status':<21}{'clients':>8}{'p50 ms':>9}{'max ms':>9}")
    for (sequence, kind, status), values in sorted(by_event.items()):
        print(f"  {sequence:>5}  {kind:<10}{status:<21}{len(values):>8}"
              f"{percentile(values, 50):>9.1f}{max(values):>9.1f}")
    return [v for values in by_event.values() for v in values], len(stored)


async def bench_broker(broker: str, args: argparse.Namespace) -> dict[str, Any]:
    redis_url = args.redis_url if broker == "redis" else None
    query = progress_query(FULL if args.with_analysis else LEAN)
    async with running_server(redis_url=redis_url, env=ENV) as server:
        print(f"\n[{broker}] server pid {server.pid}, {args.connections} connections, {args.users} people, "
              f"selection: {'with analysis { status progress }' if args.with_analysis else 'event fields only'}")
        async with httpx.AsyncClient(base_url=server.http, timeout=120) as http:
            tokens = await sign_up_people(http, args.users)
            job_gid = await ask_for(http, tokens, COMPILER_TALK)
            held_gid = await ask_for(http, tokens, INDEX_TALK) if redis_url else None
        await asyncio.sleep(1.0)
        rss_before = rss_mib(server.pid)
        began = time.monotonic()
        first_gid, first_sub = (held_gid, INJECTED_SUB) if held_gid else (job_gid, JOB_SUB)
        clients = await connect_all(server, tokens, args.connections, query, first_gid, first_sub)
        await wait_for(clients, received(first_sub, 1), 60, "the current state")
        connecting = time.monotonic() - began
        await asyncio.sleep(1.0)
        rss_with = rss_mib(server.pid)
        print(f"  {args.connections} subscribed in {connecting:.1f} s; server RSS {rss_before:.1f} MiB before, "
              f"{rss_with:.1f} MiB with them ({(rss_with - rss_before) * 1024 / args.connections:.0f} KiB each)")
        result: dict[str, Any] = {"broker": broker, "rss_before": rss_before, "rss_with": rss_with}
        # this process is the stopwatch: a pause of its own collector while 1,000 sockets deliver
        # would be counted as the server's latency, so it does not collect while timing
        gc.collect()
        gc.disable()
        try:
            if held_gid:
                injected = await inject(server, args.redis_url, clients, held_gid, args.events)
                expected = args.events * args.connections
                print(f"  injected via Redis, one event at a time: {len(injected.millis)} of {expected} "
                      f"(event, client) pairs delivered; ms {summary(injected.millis)}")
                print("    publish to the last client, each event in order (ms): "
                      + " ".join(f"{f:.0f}" for f in injected.fan_outs))
                fan_out = statistics.median(injected.fan_outs)
                print(f"    publish to the last client, per event: median {fan_out:.0f} ms; "
                      f"server CPU per event {injected.server_cpu_ms:.0f} ms "
                      f"({injected.server_cpu_ms * 1000 / args.connections:.0f} us per subscriber); "
                      f"the clients' CPU per event {injected.client_cpu_ms:.0f} ms")
                result["injected"] = injected.millis
                for c in clients:
                    await c.ws.send(json.dumps({"id": INJECTED_SUB, "type": "complete"}))
                    await start(c.ws, query, {"id": job_gid}, sub_id=JOB_SUB)
                await wait_for(clients, received(JOB_SUB, 1), 60, "the job's current state")
            job, stored = await follow_real_job(server, clients, job_gid, COMPILER_TALK)
            print(f"  real job ({stored} stored events): {len(job)} (event, client) pairs after the state; "
                  f"ms {summary(job)}")
            result["job"] = job
        finally:
            gc.enable()
            await asyncio.gather(*(c.ws.close() for c in clients), return_exceptions=True)
            for c in clients:
                if c.reader is not None:
                    c.reader.cancel()
            await asyncio.gather(*(c.reader for c in clients if c.reader), return_exceptions=True)
    return result


def _row(label: str, result: dict[str, Any], key: str) -> str:
    values = result.get(key)
    if not values:
        return f"  {label:<18}{'-':>10}{'-':>10}{'-':>10}"
    p99 = percentile(values, 99)
    return (f"  {label:<18}{percentile(values, 50):>10.1f}{p99:>10.1f}{max(values):>10.1f}"
            f"   {'met' if p99 <= 100 else 'NOT met'}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brokers", default="redis,memory", help="comma-separated: redis, memory")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--users", type=int, default=100, help="people the connections belong to, in turn")
    parser.add_argument("--events", type=int, default=30, help="events injected through Redis")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--with-analysis", action="store_true", help="also select `analysis { status progress }`")
    args = parser.parse_args()
    limit = raise_open_files(args.connections * 2 + 256)
    if limit < args.connections + 64:
        raise SystemExit(f"open files are limited to {limit}: too few for {args.connections} connections")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    results = [await bench_broker(b.strip(), args) for b in args.brokers.split(",")]
    print("\nsummary, ms from publish (or from the stored event) to each client (target p99 <= 100 ms)")
    print(f"  {'':<18}{'p50':>10}{'p99':>10}{'max':>10}")
    for result in results:
        if "injected" in result:
            print(_row(f"{result['broker']} injected", result, "injected"))
        print(_row(f"{result['broker']} real job", result, "job"))
    print("  server RSS MiB: " + ", ".join(
        f"{r['broker']} {r['rss_before']:.0f} -> {r['rss_with']:.0f}" for r in results))


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main())
