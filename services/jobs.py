"""The queue that runs analysis jobs: in process for the embedded default, on Redis in production.

Delivery is at least once: a job may run again after a worker dies, a timeout, or a shutdown in
the middle of it. That is safe because the handler is idempotent and re-entrant: the lease on the
analysis row in the database decides who runs a job, and a second run of a finished analysis does
nothing. The queues only avoid needless duplicates (an id already queued or running is not queued
again).

Production uses saq (Redis): jobs are keyed by analysis id, which de-duplicates them while queued
or running; a running job sends heartbeats, so a job whose worker died is swept and retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from redis.asyncio import Redis
from saq import Worker
from saq.job import Job, Status
from saq.queue.redis import RedisQueue as SaqRedisQueue

log = logging.getLogger(__name__)

JobHandler = Callable[[str], Awaitable[None]]

JOB_FUNCTION = "analyze"


class JobQueue(Protocol):
    async def enqueue(self, job_id: str) -> None: ...

    async def requeue(self, job_id: str) -> None:
        """Queue again a job whose worker died (its lease in the database expired)."""
        ...

    async def depth(self) -> int: ...


class InProcessQueue:
    """Runs jobs as tasks of this process, at most ``concurrency`` at a time."""

    def __init__(self, handler: JobHandler, *, concurrency: int = 2) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._handler = handler
        self._concurrency = concurrency
        self._waiting: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._running: set[str] = set()
        self._workers: list[asyncio.Task[None]] = []
        self._stopped = False
        self._idle = asyncio.Event()
        self._idle.set()

    async def start(self) -> None:
        if self._stopped:
            raise RuntimeError("the job queue was stopped")
        if not self._workers:
            self._workers = [asyncio.create_task(self._work()) for _ in range(self._concurrency)]

    async def stop(self) -> None:
        """Cancel the running jobs and wait for them to unwind; queued jobs are dropped."""
        self._stopped = True
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []

    async def enqueue(self, job_id: str) -> None:
        if self._stopped:
            raise RuntimeError("the job queue was stopped")
        if job_id in self._queued or job_id in self._running:
            log.debug("job %s is already queued or running", job_id)
            return
        self._queued.add(job_id)
        self._idle.clear()
        self._waiting.put_nowait(job_id)

    async def depth(self) -> int:
        return len(self._queued)

    async def requeue(self, job_id: str) -> None:
        await self.enqueue(job_id)

    async def wait_idle(self) -> None:
        """Return once nothing is queued or running (bound it with ``asyncio.timeout``)."""
        await self._idle.wait()

    def _note_idle(self) -> None:
        if self._queued or self._running:
            self._idle.clear()
        else:
            self._idle.set()

    async def _work(self) -> None:
        while True:
            job_id = await self._waiting.get()
            self._queued.discard(job_id)
            self._running.add(job_id)
            try:
                await self._handler(job_id)
            except Exception:  # one failed job must not stop the queue; the next one runs
                log.exception("job %s failed", job_id, extra={"analysis_id": job_id})
            finally:
                self._running.discard(job_id)
                self._note_idle()


class DeferredQueue:
    """Leaves jobs QUEUED in the database for a serving process or worker to take up (its
    recovery loop finds them): for a short-lived command that must not start work it cannot finish."""

    async def enqueue(self, job_id: str) -> None:
        log.info("analysis %s is queued for the next running server or worker", job_id)

    async def requeue(self, job_id: str) -> None:
        await self.enqueue(job_id)

    async def depth(self) -> int:
        return 0


def _saq_queue(redis_url: str, queue_name: str) -> SaqRedisQueue:
    # saq's key space is saq:<queue name>:… and saq:job:<queue name>:<job key>
    return SaqRedisQueue(Redis.from_url(redis_url), name=queue_name)


class RedisQueue:
    """Enqueues jobs on Redis for ``run_worker`` processes to run."""

    def __init__(
        self,
        *,
        redis_url: str,
        queue_name: str,
        timeout_seconds: int = 3 * 3600,
        heartbeat_seconds: int = 60,
        retries: int = 3,
        retry_delay_seconds: float = 5.0,
    ) -> None:
        self._queue = _saq_queue(redis_url, queue_name)
        self._job_options: dict[str, Any] = {
            # saq counts the first run as an attempt
            "retries": retries + 1,
            "retry_delay": retry_delay_seconds,
            "retry_backoff": True,
            "timeout": timeout_seconds,
            "heartbeat": heartbeat_seconds,
            # how long a finished job's record stays in Redis, for inspection
            "ttl": 3600,
        }

    async def enqueue(self, job_id: str) -> None:
        job = await self._enqueue(job_id)
        if job is None and await self._clear_stale_abort(job_id):
            job = await self._enqueue(job_id)
        if job is None:
            log.debug("job %s is already queued or running", job_id)

    async def _enqueue(self, job_id: str) -> Job | None:
        return await self._queue.enqueue(JOB_FUNCTION, key=job_id, analysis_id=job_id, **self._job_options)

    async def _clear_stale_abort(self, job_id: str) -> bool:
        """saq refuses to enqueue a key for a few seconds after aborting it (a swept job from a
        dead worker, say), and says only "already queued". When the job is neither queued nor
        running, that marker is stale: our database, not saq, decides that the job must run."""
        existing = await self._queue.job(job_id)
        if existing is not None and existing.status in {Status.QUEUED, Status.ACTIVE}:
            return False
        marker = Job(function=JOB_FUNCTION, key=job_id, queue=self._queue).abort_id
        return bool(await self._queue.redis.delete(marker))

    async def depth(self) -> int:
        return await self._queue.count("queued")

    async def requeue(self, job_id: str) -> None:
        # saq still counts a killed worker's job as active until its own sweep, a minute or more
        # later, and drops a new enqueue of the same key meanwhile; the expired lease in the
        # database already proves the worker is gone, so hand the job back now
        existing = await self._queue.job(job_id)
        if existing is not None and existing.status == Status.ACTIVE:
            await self._queue.retry(existing, "the worker's lease on the analysis expired")
            return
        await self.enqueue(job_id)

    async def close(self) -> None:
        await self._queue.disconnect()


async def run_worker(
    *,
    redis_url: str,
    queue_name: str,
    handler: JobHandler,
    concurrency: int,
    stop: asyncio.Event | None = None,
    dequeue_wait_seconds: float = 2.0,
) -> None:
    """Run jobs from the Redis queue until ``stop`` is set, or until SIGINT/SIGTERM without one.

    Jobs still running at the end are cancelled and put back on the queue for another worker.
    """
    queue = _saq_queue(redis_url, queue_name)

    async def analyze(ctx: dict[str, Any], *, analysis_id: str) -> None:
        job = ctx["job"]
        heartbeat = asyncio.create_task(_beat(job)) if job.heartbeat else None
        try:
            # a failure propagates to saq, which logs it with the job and retries it
            await handler(analysis_id)
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat

    worker: Worker[Any] = Worker(
        queue,
        functions=[(JOB_FUNCTION, analyze)],
        concurrency=concurrency,
        # blocking pops shorter than the Redis client's socket timeout, so an idle worker never
        # looks like a dead connection
        dequeue_timeout=dequeue_wait_seconds,
    )
    if stop is not None:
        worker.SIGNALS = []  # the caller owns shutdown
    # saq's start() swallows its own cancellation: shielding it keeps a cancellation of this
    # function a cancellation, and the finally below still stops the worker
    running = asyncio.create_task(worker.start())
    try:
        if stop is None:
            await asyncio.shield(running)
        else:
            stopping = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopping.cancel()
            # a stop that comes before start() got going is undone by start() (it makes a new
            # event and clears its stopped flag): ask again until start() has returned
            while not running.done():
                await worker.stop()
                await asyncio.wait({running}, timeout=0.5)
            await running
    finally:
        if not running.done():
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
        await queue.disconnect()


async def _beat(job: Any) -> None:
    # touch the job well within its heartbeat, so only a dead worker's job is swept
    interval = job.heartbeat / 4
    while True:
        await asyncio.sleep(interval)
        try:
            await job.update()
        except Exception as exc:  # a missed beat is not fatal; the next one may get through
            log.warning("heartbeat of job %s failed: %r", job.key, exc)
