"""vidgraph: create_app(settings) and the command line (serve, migrate, export-schema, createadmin)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import gc
import getpass
import logging
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schema import build_schema
from schema.graphiql import GraphiQLPage, asset_routes
from schema.protection import QueryLimits
from schema.view import GraphQLView
from services import auth, database
from services.analysis_jobs import JobEnv, run_analysis, stalled_analyses
from services.analyzers import Analyzer, make_analyzer
from services.default_templates import ensure_default_templates
from services.embeddings import Embedder
from services.errors import ErrorCode, ServiceError
from services.jobs import DeferredQueue, InProcessQueue, JobQueue, RedisQueue, run_worker
from services.llm import LLMSettings, make_client
from services.logs import configure_logging, request_id
from services.metrics import MetricsMiddleware, metrics_endpoint
from services.pubsub import Broker, InMemoryBroker, RedisBroker
from services.rate_limits import RateLimitSettings, make_rate_limiter
from services.settings import Settings
from services.sources import VideoSource, YtDlpSource
from services.tracing import start_tracing

if TYPE_CHECKING:
    import openai

    from services.rate_limits import RateLimiter

log = logging.getLogger("vidgraph")


@dataclass
class AppServices:
    """The clients one process holds; made in the lifespan and handed to every request."""

    settings: Settings
    redis: Redis | None
    broker: Broker
    queue: JobQueue
    analyzer: Analyzer
    rate_limiter: RateLimiter | None = None
    llm_client: openai.AsyncOpenAI | None = None
    llm_settings: LLMSettings | None = None
    embedder: Embedder | None = None


class RequestIdMiddleware:
    """Tags every request (and its log lines) with an id, taken from X-Request-ID when sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        sent = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")[:64]
        rid = sent if sent.replace("-", "").isalnum() else uuid.uuid4().hex
        token = request_id.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        try:
            # a WebSocket's frames need no header: its send is passed on as it is
            await self.app(scope, receive, send_with_id if scope["type"] == "http" else send)
        finally:
            request_id.reset(token)


async def _cleanup_sessions_forever(interval: float) -> None:
    while True:
        try:
            removed = await auth.delete_expired_sessions()
            if removed:
                log.info("removed %d expired sessions", removed)
        except Exception:  # the loop must outlive a database hiccup; the next round retries
            log.exception("expired-session cleanup failed")
        await asyncio.sleep(interval)


async def readiness(redis: Redis | None) -> tuple[bool, dict[str, str]]:
    """Whether this process can serve: the database answers, and Redis when one is configured."""
    checks: dict[str, str] = {}
    try:
        await database.ping_database()
        checks["database"] = "ok"
    except Exception as exc:  # a probe reports the failure instead of raising it
        checks["database"] = f"error: {type(exc).__name__}"
    if redis is not None:
        try:
            await redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:  # same: a probe answers, it does not crash
            checks["redis"] = f"error: {type(exc).__name__}"
    return all(v == "ok" for v in checks.values()), checks


async def _recover_jobs_forever(queue: JobQueue, interval: float) -> None:
    """Re-queue jobs nobody holds: queued before a restart, or their worker died (lease expired)."""
    while True:
        try:
            for analysis_id in await stalled_analyses(grace_seconds=interval):
                log.info("re-queueing stalled analysis %s", analysis_id)
                await queue.requeue(analysis_id)
        except Exception:  # keep recovering; the next round retries
            log.exception("job recovery failed")
        await asyncio.sleep(interval)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def make_source(settings: Settings) -> VideoSource:
    return YtDlpSource(max_duration_seconds=settings.max_video_seconds)


@contextlib.asynccontextmanager
async def runtime(
    settings: Settings, *, source: VideoSource | None = None, run_jobs: bool = True
) -> AsyncIterator[AppServices]:
    """Every client and background task of one process, opened and closed in order."""
    await database.init_database(settings)
    await ensure_default_templates()
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    broker: Broker = RedisBroker(redis, prefix=settings.redis_prefix) if redis is not None else InMemoryBroker()
    llm_settings = LLMSettings.from_settings(settings)
    llm_client = make_client(llm_settings) if llm_settings is not None else None
    analyzer = make_analyzer(client=llm_client, settings=llm_settings)
    embedder = (
        Embedder(llm_client, llm_settings.embedding_model)
        if llm_client is not None and llm_settings is not None and llm_settings.embedding_model
        else None
    )
    env = JobEnv(
        source=source or make_source(settings),
        analyzer=analyzer,
        broker=broker,
        worker_id=worker_id(),
        lease_seconds=settings.job_lease_seconds,
    )
    tasks: list[asyncio.Task[None]] = []
    queue: JobQueue
    if settings.jobs_in_process and not run_jobs:
        queue = DeferredQueue()
    elif settings.jobs_in_process:
        queue = InProcessQueue(functools.partial(run_analysis, env=env), concurrency=settings.job_concurrency)
        await queue.start()
        tasks.append(asyncio.create_task(_recover_jobs_forever(queue, settings.job_lease_seconds)))
    else:
        assert settings.redis_url is not None
        queue = RedisQueue(redis_url=settings.redis_url, queue_name=settings.redis_prefix + "jobs")
    tasks.append(asyncio.create_task(_cleanup_sessions_forever(settings.session_cleanup_interval_seconds)))
    rate_limiter = make_rate_limiter(
        settings=RateLimitSettings.from_env(), redis_url=settings.redis_url, prefix=settings.redis_prefix
    )
    try:
        yield AppServices(
            settings=settings,
            redis=redis,
            broker=broker,
            queue=queue,
            analyzer=analyzer,
            llm_client=llm_client,
            llm_settings=llm_settings,
            embedder=embedder,
            rate_limiter=rate_limiter,
        )
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if isinstance(queue, InProcessQueue):
            await queue.stop()
        elif isinstance(queue, RedisQueue):
            await queue.close()
        await broker.close()
        if rate_limiter is not None:
            await rate_limiter.aclose()
        if llm_client is not None:
            await llm_client.close()
        if redis is not None:
            await redis.aclose()
        await database.close_database()


def create_app(settings: Settings | None = None, *, source: VideoSource | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    tracing = start_tracing(database_system=settings.dialect)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        try:
            if settings.is_sqlite:
                # the embedded default is one command: bring the file to the current schema
                await database.migrate(settings)
            async with runtime(settings, source=source) as services:
                # the start-up heap (yt-dlp's extractors, the SDKs, the schema) lives as long as the
                # process: out of the collector's full passes, which would otherwise walk it
                # every time and stall whatever request is running (~100 ms here)
                gc.collect()
                gc.freeze()
                # young collections every 20,000 allocations instead of 700, full ones after 20 x 20
                # of those instead of 10 x 10: a request's objects die by reference count before the
                # collector looks, and a full pass (200-580 ms with 1,000 WebSocket connections,
                # stalling every delivery) comes far less often
                gc.set_threshold(20_000, 20, 20)
                yield {"services": services}
        finally:
            if tracing is not None:
                tracing.shutdown()

    limits = QueryLimits.from_env()
    graphql = GraphQLView(
        build_schema(settings, limits, tracing=tracing),
        limits=limits,
        graphql_ide=None,  # schema/graphiql.py serves vidgraph's own GraphiQL, which works offline
        allow_queries_via_get=True,
        multipart_uploads_enabled=True,
    )

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        ready, checks = await readiness(request.state.services.redis)
        status = "ok" if ready else "unavailable"
        return JSONResponse({"status": status, "checks": checks}, status_code=200 if ready else 503)

    return Starlette(
        debug=settings.debug,
        routes=[
            Route("/graphql", GraphiQLPage(graphql) if settings.graphiql else graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            *(asset_routes() if settings.graphiql else []),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
        ],
        middleware=[Middleware(RequestIdMiddleware), Middleware(MetricsMiddleware)],
        lifespan=lifespan,
    )


def export_schema() -> str:
    return build_schema(Settings()).as_str() + "\n"


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    host, port = args.host or settings.host, args.port or settings.port
    print(f"vidgraph: GraphiQL at http://{host}:{port}/graphql", flush=True)
    if args.workers > 1:
        uvicorn.run(
            "main:create_app", factory=True, host=host, port=port, workers=args.workers, **settings.uvicorn_options()
        )
    else:
        uvicorn.run(create_app(settings), host=host, port=port, **settings.uvicorn_options())


async def _createadmin(settings: Settings, email: str) -> None:
    password = os.environ.get("VIDGRAPH_ADMIN_PASSWORD") or getpass.getpass("Password: ")
    if settings.is_sqlite:
        await database.migrate(settings)
    await database.init_database(settings)
    try:
        user = await auth.create_admin(email=email, password=password, min_password_length=settings.password_min_length)
    finally:
        await database.close_database()
    print(f"admin {user.email} ready")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vidgraph", description="vidgraph: a GraphQL API for video intelligence")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the API server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    commands.add_parser("migrate", help="bring the database to the newest migration")
    export = commands.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    export.add_argument("--output", "-o")
    admin = commands.add_parser(
        "createadmin", help="create or promote an admin (password from VIDGRAPH_ADMIN_PASSWORD or a prompt)"
    )
    admin.add_argument("email")
    commands.add_parser("worker", help="run analysis jobs from the Redis queue (needs REDIS_URL)")
    analyze = commands.add_parser(
        "analyze", help="analyse a YouTube URL, or an .info.json with its subtitle files, in this terminal"
    )
    analyze.add_argument("target", help="a YouTube URL or a yt-dlp .info.json file")
    analyze.add_argument("subtitles", nargs="*", help="subtitle files written beside the .info.json")
    analyze.add_argument("--language")
    analyze.add_argument("--force", action="store_true")
    importer = commands.add_parser(
        "import", help="queue an analysis from yt-dlp files (same as `analyze` without waiting)"
    )
    importer.add_argument("target")
    importer.add_argument("subtitles", nargs="*")
    importer.add_argument("--language")
    makemigrations = commands.add_parser(
        "makemigrations", help="write migrations for both dialects after a model change"
    )
    makemigrations.add_argument("name", nargs="?", default="update")
    makemigrations.add_argument("--empty", action="store_true", help="an empty migration to fill with SQL by hand")
    makemigrations.add_argument("--dialect", choices=["sqlite", "postgres"])
    makemigrations.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the models have unmigrated changes"
    )
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    configure_logging(settings.log_level)
    try:
        if args.command == "serve":
            if not settings.is_sqlite:
                log.info("production database: run `python main.py migrate` before serving")
            _serve(settings, args)
        elif args.command == "migrate":
            applied = asyncio.run(database.migrate(settings))
            print("applied: " + (", ".join(applied) if applied else "nothing, already current"))
        elif args.command == "export-schema":
            sdl = export_schema()
            if args.output:
                with open(args.output, "w", encoding="utf-8") as fh:
                    fh.write(sdl)
            else:
                sys.stdout.write(sdl)
        elif args.command == "createadmin":
            asyncio.run(_createadmin(settings, args.email))
        elif args.command == "makemigrations":
            return _makemigrations(args)
        elif args.command == "worker":
            asyncio.run(_worker(settings))
        elif args.command in {"analyze", "import"}:
            return asyncio.run(analyze_in_terminal(settings, args, wait=args.command == "analyze"))
    except ServiceError as error:
        print(f"error: {error.code.value}: {error.message}", file=sys.stderr)
        return 2
    return 0


async def _worker(settings: Settings) -> None:
    if not settings.redis_url:
        raise ServiceError(ErrorCode.INVALID_INPUT, "The worker takes jobs from Redis: set REDIS_URL.")
    if settings.is_sqlite:
        await database.migrate(settings)
    # the worker runs jobs itself; its runtime must not start a second, in-process queue
    worker_settings = dataclasses.replace(settings, jobs_in_process=False)
    async with runtime(worker_settings) as services:
        env = JobEnv(
            source=make_source(settings),
            analyzer=services.analyzer,
            broker=services.broker,
            worker_id=worker_id(),
            lease_seconds=settings.job_lease_seconds,
        )
        queue = services.queue
        recovery = asyncio.create_task(_recover_jobs_forever(queue, settings.job_lease_seconds))
        try:
            await run_worker(
                redis_url=settings.redis_url,
                queue_name=settings.redis_prefix + "jobs",
                handler=functools.partial(run_analysis, env=env),
                concurrency=settings.job_concurrency,
            )
        finally:
            recovery.cancel()


TERMINAL_EMAIL = "terminal@vidgraph.localhost"


async def analyze_in_terminal(settings: Settings, args: argparse.Namespace, *, wait: bool) -> int:
    """Run the pipeline for one video with a progress bar, then print what it found."""
    from models import Analysis, Highlight, User
    from services.analysis import request_analysis
    from services.analysis_events import Event, channel_of
    from services.imports import import_video
    from services.timestamps import format_timestamp

    if settings.is_sqlite:
        await database.migrate(settings)
    # waiting: run the job here; not waiting: leave it to Redis workers, or queued for a server
    run_here = dataclasses.replace(settings, jobs_in_process=wait or settings.jobs_in_process)
    async with runtime(run_here, run_jobs=wait or not settings.jobs_in_process) as services:
        # the terminal's library belongs to an account nobody can sign in to (it has no password)
        user, _ = await User.get_or_create(email=TERMINAL_EMAIL)
        if args.target.endswith(".json"):
            info_json = await asyncio.to_thread(Path(args.target).read_bytes)
            subtitles = [(Path(p).name, await asyncio.to_thread(Path(p).read_bytes)) for p in args.subtitles]
            requested = await import_video(
                info_json=info_json,
                subtitles=subtitles,
                language=args.language,
                max_duration_seconds=settings.max_video_seconds,
                user=user,
                analyzer=services.analyzer,
                queue=services.queue,
                broker=services.broker,
            )
        else:
            requested = await request_analysis(
                url=args.target,
                language=args.language,
                force=getattr(args, "force", False),
                user=user,
                analyzer=services.analyzer,
                queue=services.queue,
                broker=services.broker,
            )
        aid = str(requested.analysis.id)
        print(
            f"video {requested.video.youtube_id}: analysis {aid} ({'reused' if not requested.started else 'started'})"
        )
        if not wait:
            return 0
        async with services.broker.subscribe(channel_of(aid)) as messages:
            analysis = await Analysis.get(id=aid)
            if not analysis.status.is_final:
                async for message in messages:
                    event = Event.from_message(message)
                    filled = int(event.progress * 30)
                    bar = "#" * filled + "-" * (30 - filled)
                    if event.kind == "highlight":
                        print(f"\r  found {event.payload.get('timestamp')} {event.message}".ljust(70))
                    print(f"\r[{bar}] {event.progress:4.0%} {event.status:<20}", end="", flush=True)
                    if event.final:
                        break
                print()
        analysis = await Analysis.get(id=aid).prefetch_related("video")
        if analysis.status.value != "COMPLETED":
            print(f"{analysis.status.value}: {analysis.error_code}: {analysis.error_message}", file=sys.stderr)
            return 1
        print(f"\n{analysis.video.title}\n\n{analysis.summary}\n")
        for h in await Highlight.filter(analysis_id=aid).order_by("start"):
            print(f"  {format_timestamp(h.start):>8}  {h.title}  [{h.agent_name}]")
        return 0


def _makemigrations(args: argparse.Namespace) -> int:
    import subprocess

    if args.dialect:
        if args.check:
            pending = asyncio.run(database.has_pending_changes(dialect=args.dialect))
            print(f"{args.dialect}: " + ("models have changes without a migration" if pending else "up to date"))
            return 1 if pending else 0
        created = asyncio.run(database.make_migrations(name=args.name, dialect=args.dialect, empty=args.empty))
        print(f"{args.dialect}: {created or 'no changes'}")
        return 0
    # aerich keeps its state in class attributes: one process per dialect keeps them apart
    status = 0
    for dialect in ("sqlite", "postgres"):
        extra = [flag for flag, on in (("--empty", args.empty), ("--check", args.check)) if on]
        command = [sys.executable, __file__, "makemigrations", args.name, "--dialect", dialect, *extra]
        status |= subprocess.run(command, check=False).returncode  # noqa: S603 (our own script)
    return status


if __name__ == "__main__":
    sys.exit(main())
