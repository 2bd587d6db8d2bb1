"""Prometheus metrics: what each request, operation, SQL statement, job and LLM call costs.

Metrics live in one registry for the process (`REGISTRY`), exposed at `/metrics` by `metrics_endpoint`.
HTTP traffic is measured by `MetricsMiddleware`; GraphQL operations by the schema's `OperationMetrics`
(schema/observability.py) through the `observe_*` helpers; the job runner and the LLM client call
`timed_job` and `count_llm_tokens`. With several uvicorn workers each process has its own registry:
scrape each one, or run them under prometheus_client's multiprocess mode.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder
from starlette.responses import Response

from services.errors import ServiceError

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("vidgraph.metrics")

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
STATEMENT_BUCKETS = (0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144)
JOB_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

HTTP_REQUESTS = Counter(
    "vidgraph_http_requests_total", "HTTP requests answered.", ["method", "route", "status"], registry=REGISTRY
)
HTTP_LATENCY = Histogram(
    "vidgraph_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
OPERATIONS = Counter(
    "vidgraph_graphql_operations_total",
    "GraphQL operations by name, type and outcome (ok, error, rate_limited).",
    ["operation", "type", "outcome"],
    registry=REGISTRY,
)
OPERATION_LATENCY = Histogram(
    "vidgraph_graphql_operation_duration_seconds",
    "Time to run a query or mutation, from parsing to the result.",
    ["operation", "type"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
SQL_STATEMENTS = Histogram(
    "vidgraph_sql_statements_per_request",
    "SQL statements one request (or one WebSocket operation) sent, by GraphQL operation.",
    ["operation"],
    buckets=STATEMENT_BUCKETS,
    registry=REGISTRY,
)
ACTIVE_SUBSCRIPTIONS = Gauge(
    "vidgraph_graphql_active_subscriptions", "Subscriptions open on this process.", registry=REGISTRY
)
QUEUE_DEPTH = Gauge(
    "vidgraph_job_queue_depth", "Analysis jobs waiting in the queue, read at scrape time.", registry=REGISTRY
)
JOB_DURATION = Histogram(
    "vidgraph_job_duration_seconds",
    "Time one analysis job ran, by outcome (completed, cancelled, an error code, ...).",
    ["outcome"],
    buckets=JOB_BUCKETS,
    registry=REGISTRY,
)
LLM_TOKENS = Counter(
    "vidgraph_llm_tokens_total",
    "Tokens the LLM counted, by model, purpose and kind (prompt or completion).",
    ["model", "purpose", "kind"],
    registry=REGISTRY,
)

# operation names come from clients: only well-formed ones become labels, and only so many of them
OPERATION_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
MAX_OPERATION_NAMES = 200
ANONYMOUS = "anonymous"
OTHER = "other"
_seen_operation_names: set[str] = set()


def operation_label(name: str | None) -> str:
    """The metric label for an operation name: itself, `anonymous`, or `other` past the budget."""
    if not name:
        return ANONYMOUS
    if name in _seen_operation_names:
        return name
    if not OPERATION_NAME.fullmatch(name) or len(_seen_operation_names) >= MAX_OPERATION_NAMES:
        return OTHER
    _seen_operation_names.add(name)
    return name


@dataclass
class RequestStats:
    """What one request (or one WebSocket operation) has cost so far."""

    sql_statements: int = 0
    operation: str | None = None


_current: ContextVar[RequestStats | None] = ContextVar("vidgraph_request_stats", default=None)


def current_stats() -> RequestStats | None:
    return _current.get()


def start_stats() -> RequestStats:
    """Fresh stats for the running task: each WebSocket operation runs in a task of its own."""
    stats = RequestStats()
    _current.set(stats)
    return stats


def observe_operation(*, operation: str, kind: str, outcome: str, seconds: float | None) -> None:
    OPERATIONS.labels(operation, kind, outcome).inc()
    if seconds is not None:
        OPERATION_LATENCY.labels(operation, kind).observe(seconds)


def observe_sql_statements(stats: RequestStats) -> None:
    SQL_STATEMENTS.labels(stats.operation or "none").observe(stats.sql_statements)


def count_llm_tokens(*, model: str, purpose: str, prompt_tokens: int, completion_tokens: int) -> None:
    """Add one LLM call's (or one job's) usage; `purpose` is what it was for: analysis, chat, ..."""
    model = model[:64] or "unknown"
    if prompt_tokens:
        LLM_TOKENS.labels(model, purpose, "prompt").inc(prompt_tokens)
    if completion_tokens:
        LLM_TOKENS.labels(model, purpose, "completion").inc(completion_tokens)


def job_outcome(error: BaseException | None) -> str:
    if error is None:
        return "completed"
    if isinstance(error, ServiceError):
        return error.code.value
    # the runner's own control-flow exceptions (Cancelled, LeaseLost) name the outcome well enough
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(error).__name__).lower()


@contextlib.contextmanager
def timed_job() -> Iterator[None]:
    """Observe how long the block (one job's run) took, labelled by how it ended; errors pass on."""
    started = time.perf_counter()
    error: BaseException | None = None
    try:
        yield
    except BaseException as exc:
        error = exc
        raise
    finally:
        JOB_DURATION.labels(job_outcome(error)).observe(time.perf_counter() - started)


# Tortoise logs every statement at DEBUG on this logger, just before sending it.
SQL_LOGGER = "tortoise.db_client"

SqlListener = Callable[[str], None]


def statement_of(record: logging.LogRecord) -> str | None:
    """The SQL text of a Tortoise statement record; None for its other records (connections opened, ...)."""
    if record.msg == "%s: %s" and isinstance(record.args, tuple) and record.args:
        return str(record.args[0])
    if not record.args:
        return str(record.msg)
    return None


class _SqlStatements(logging.Filter):
    """Counts statements into the running request's stats and tells listeners (tracing) of them.

    The logger must be at DEBUG for Tortoise to emit statement records at all. So that this does not
    also put SQL into the app's logs, records below the level the logs would otherwise show stop here,
    unless a handler was put on this very logger to see them. Records are counted, never formatted.
    """

    def __init__(self) -> None:
        super().__init__()
        self.listeners: list[SqlListener] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "%s: %s" or not record.args:
            stats = _current.get()
            if stats is not None:
                stats.sql_statements += 1
            if self.listeners:
                statement = statement_of(record)
                for listener in self.listeners:
                    listener(statement or "")
        logger = logging.getLogger(SQL_LOGGER)
        parent = logger.parent
        return bool(logger.handlers) or parent is None or record.levelno >= parent.getEffectiveLevel()


def _sql_filter() -> _SqlStatements:
    logger = logging.getLogger(SQL_LOGGER)
    for existing in logger.filters:
        if isinstance(existing, _SqlStatements):
            return existing
    installed = _SqlStatements()
    logger.addFilter(installed)
    logger.setLevel(logging.DEBUG)
    return installed


def listen_to_sql() -> None:
    """Start counting SQL statements per request; idempotent, for the whole process."""
    _sql_filter()


def add_sql_listener(listener: SqlListener) -> None:
    _sql_filter().listeners.append(listener)


def remove_sql_listener(listener: SqlListener) -> None:
    with contextlib.suppress(ValueError):
        _sql_filter().listeners.remove(listener)


HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    # unmatched paths (scanners, typos) all share one label, so they cannot grow the series
    return path if isinstance(path, str) else "unmatched"


class MetricsMiddleware:
    """Counts and times HTTP requests, and counts the SQL statements each one sends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        listen_to_sql()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        stats = RequestStats()
        token = _current.set(stats)
        status = 500

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            _current.reset(token)
            method = scope["method"] if scope["method"] in HTTP_METHODS else "other"
            route = _route_of(scope)
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)
            if stats.operation is not None or stats.sql_statements:
                observe_sql_statements(stats)


async def metrics_endpoint(request: Request) -> Response:
    """The Prometheus exposition of this process; the job queue's depth is read now."""
    queue = getattr(request.state.services, "queue", None)
    if queue is not None:
        try:
            QUEUE_DEPTH.set(await queue.depth())
        except Exception:  # with a shared queue the depth is a question to Redis: a scrape must not fail on it
            log.warning("could not read the job queue's depth", exc_info=True)
    # Prometheus asks for OpenMetrics when it can; anything else gets the classic text format
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(REGISTRY), headers={"Content-Type": content_type})
