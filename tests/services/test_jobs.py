from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from services.jobs import InProcessQueue, JobHandler, RedisQueue, run_worker

REDIS_URL = os.environ.get("VIDGRAPH_TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="VIDGRAPH_TEST_REDIS_URL is not set")
# saq calls SETEX, which redis-py 8 marks deprecated (it still works); harmless outside -W error
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning")


async def eventually(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


@pytest.fixture
async def queues() -> AsyncIterator[Callable[..., Awaitable[InProcessQueue]]]:
    started: list[InProcessQueue] = []

    async def start(handler: JobHandler, concurrency: int = 2) -> InProcessQueue:
        queue = InProcessQueue(handler, concurrency=concurrency)
        await queue.start()
        started.append(queue)
        return queue

    yield start
    for queue in started:
        await queue.stop()


async def test_in_process_queue_runs_at_most_concurrency_jobs_at_once(queues: Any) -> None:
    running: set[str] = set()
    most = 0
    done: list[str] = []

    async def handler(job_id: str) -> None:
        nonlocal most
        running.add(job_id)
        most = max(most, len(running))
        await asyncio.sleep(0.02)
        running.discard(job_id)
        done.append(job_id)

    queue = await queues(handler, concurrency=2)
    for n in range(7):
        await queue.enqueue(f"job-{n}")
    await eventually(lambda: len(done) == 7)
    assert most == 2
    assert sorted(done) == [f"job-{n}" for n in range(7)]
    assert await queue.depth() == 0


async def test_wait_idle_returns_once_queued_and_running_jobs_are_done(queues: Any) -> None:
    release = asyncio.Event()
    done: list[str] = []

    async def handler(job_id: str) -> None:
        await release.wait()
        done.append(job_id)

    queue = await queues(handler, concurrency=1)
    await queue.wait_idle()  # nothing queued yet: returns at once
    await queue.enqueue("a")
    await queue.enqueue("b")
    waiter = asyncio.create_task(queue.wait_idle())
    await asyncio.sleep(0.05)
    assert not waiter.done()
    release.set()
    async with asyncio.timeout(5):
        await waiter
    assert done == ["a", "b"]


async def test_in_process_queue_skips_an_id_already_queued_or_running(queues: Any) -> None:
    release = asyncio.Event()
    calls: list[str] = []

    async def handler(job_id: str) -> None:
        calls.append(job_id)
        await release.wait()

    queue = await queues(handler, concurrency=1)
    await queue.enqueue("a")
    await eventually(lambda: calls == ["a"])
    await queue.enqueue("a")  # running
    await queue.enqueue("b")
    await queue.enqueue("b")  # queued
    assert await queue.depth() == 1
    release.set()
    await eventually(lambda: calls == ["a", "b"])
    await asyncio.sleep(0.05)
    assert calls == ["a", "b"]
    # once finished, the same id may be queued again
    await queue.enqueue("a")
    await eventually(lambda: calls == ["a", "b", "a"])


async def test_failed_job_is_logged_with_its_id_and_the_next_job_runs(
    queues: Any, caplog: pytest.LogCaptureFixture,
) -> None:
    done: list[str] = []

    async def handler(job_id: str) -> None:
        if job_id == "broken":
            raise RuntimeError("the analyzer crashed")
        done.append(job_id)

    queue = await queues(handler, concurrency=1)
    with caplog.at_level(logging.ERROR, logger="services.jobs"):
        await queue.enqueue("broken")
        await queue.enqueue("fine")
        await eventually(lambda: done == ["fine"])
    [record] = caplog.records
    assert "broken" in record.getMessage()
    assert record.analysis_id == "broken"  # type: ignore[attr-defined]
    assert record.exc_info is not None and "the analyzer crashed" in str(record.exc_info[1])


async def test_stop_cancels_running_jobs(queues: Any) -> None:
    started = asyncio.Event()
    cancelled: list[str] = []

    async def handler(job_id: str) -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(job_id)
            raise

    queue = await queues(handler)
    await queue.enqueue("long")
    await started.wait()
    await asyncio.wait_for(queue.stop(), 5)
    assert cancelled == ["long"]
    with pytest.raises(RuntimeError):
        await queue.enqueue("late")


@pytest.fixture
async def queue_name() -> AsyncIterator[str]:
    assert REDIS_URL
    name = f"vidgraph_test_{uuid.uuid4().hex[:12]}:jobs"
    yield name
    client = Redis.from_url(REDIS_URL)
    try:
        for pattern in (f"saq:{name}:*", f"saq:job:{name}:*"):
            keys = [key async for key in client.scan_iter(match=pattern)]
            if keys:
                await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def redis_queue(queue_name: str) -> AsyncIterator[RedisQueue]:
    assert REDIS_URL
    queue = RedisQueue(redis_url=REDIS_URL, queue_name=queue_name, retry_delay_seconds=0)
    yield queue
    await queue.close()


async def _worker(queue_name: str, handler: JobHandler, stop: asyncio.Event) -> asyncio.Task[None]:
    assert REDIS_URL
    return asyncio.create_task(run_worker(
        redis_url=REDIS_URL, queue_name=queue_name, handler=handler, concurrency=2, stop=stop,
        dequeue_wait_seconds=0.2,
    ))


@needs_redis
async def test_worker_runs_a_job_enqueued_by_another_process(
    redis_queue: RedisQueue, queue_name: str,
) -> None:
    calls: list[str] = []

    async def handler(job_id: str) -> None:
        calls.append(job_id)

    stop = asyncio.Event()
    worker = await _worker(queue_name, handler, stop)
    key = f"analysis-{uuid.uuid4()}"
    await redis_queue.enqueue(key)
    await eventually(lambda: key in calls)
    # saq's sweep at a worker's start can take a job it is dequeuing at that instant for a stale
    # one and run it again; the analysis lease makes a second run a no-op (test_worker.py)
    assert set(calls) == {key}
    stop.set()
    await asyncio.wait_for(worker, 10)


@needs_redis
async def test_a_recently_aborted_job_can_be_enqueued_again(redis_queue: RedisQueue, queue_name: str) -> None:
    """saq marks an aborted key for a few seconds (a sweep of a dead worker's job does this);
    when the database hands the job back meanwhile, it must still run."""
    calls: list[str] = []

    async def handler(job_id: str) -> None:
        calls.append(job_id)

    key = f"analysis-{uuid.uuid4()}"
    await redis_queue.enqueue(key)
    saq_queue = redis_queue._queue
    job = await saq_queue.dequeue(timeout=1)  # taken by a worker that then dies
    assert job is not None and job.key == key
    await saq_queue.abort(job, "swept", ttl=60)
    assert await redis_queue.depth() == 0
    await redis_queue.enqueue(key)
    assert await redis_queue.depth() == 1
    await redis_queue.enqueue(key)  # a real duplicate is still refused
    assert await redis_queue.depth() == 1
    stop = asyncio.Event()
    worker = await _worker(queue_name, handler, stop)
    await eventually(lambda: key in calls)
    stop.set()
    await asyncio.wait_for(worker, 10)


@needs_redis
async def test_duplicate_enqueue_runs_once(redis_queue: RedisQueue, queue_name: str) -> None:
    key = f"analysis-{uuid.uuid4()}"
    calls: list[str] = []

    async def handler(job_id: str) -> None:
        calls.append(job_id)

    await redis_queue.enqueue(key)
    await redis_queue.enqueue(key)
    assert await redis_queue.depth() == 1
    stop = asyncio.Event()
    worker = await _worker(queue_name, handler, stop)
    await eventually(lambda: key in calls)
    await asyncio.sleep(0.5)
    # one job, not two: the second enqueue was refused (depth 1 above); saq's start-up sweep may
    # still run that one job twice (see above), which the analysis lease turns into a no-op
    assert set(calls) == {key}
    stop.set()
    await asyncio.wait_for(worker, 10)


@needs_redis
async def test_depth_counts_jobs_waiting(redis_queue: RedisQueue) -> None:
    assert await redis_queue.depth() == 0
    for n in range(3):
        await redis_queue.enqueue(f"analysis-{n}")
    assert await redis_queue.depth() == 3


@needs_redis
async def test_failed_job_is_retried(redis_queue: RedisQueue, queue_name: str) -> None:
    key = f"analysis-{uuid.uuid4()}"
    calls: list[str] = []

    async def handler(job_id: str) -> None:
        calls.append(job_id)
        if len(calls) == 1:
            raise RuntimeError("a passing hiccup")

    stop = asyncio.Event()
    worker = await _worker(queue_name, handler, stop)
    await redis_queue.enqueue(key)
    await eventually(lambda: len(calls) >= 2)
    assert set(calls) == {key}
    stop.set()
    await asyncio.wait_for(worker, 10)


@needs_redis
async def test_stopping_the_worker_puts_its_running_job_back(
    redis_queue: RedisQueue, queue_name: str,
) -> None:
    key = f"analysis-{uuid.uuid4()}"
    started = asyncio.Event()

    async def handler(job_id: str) -> None:
        started.set()
        await asyncio.sleep(3600)

    stop = asyncio.Event()
    worker = await _worker(queue_name, handler, stop)
    await redis_queue.enqueue(key)
    await asyncio.wait_for(started.wait(), 10)
    stop.set()
    await asyncio.wait_for(worker, 10)
    assert await redis_queue.depth() == 1


@needs_redis
async def test_a_worker_stopped_at_once_still_stops(queue_name: str) -> None:
    async def handler(job_id: str) -> None:
        raise AssertionError("no job was queued")

    stop = asyncio.Event()
    stop.set()  # before the worker has started
    worker = await _worker(queue_name, handler, stop)
    await asyncio.wait_for(worker, 10)
