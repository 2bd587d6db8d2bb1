"""Optional OpenTelemetry tracing: GraphQL operations and resolvers (strawberry's extension, wired in
schema/observability.py) and the SQL statements sent under them.

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set or `VIDGRAPH_TRACING=true`; the opentelemetry packages
(`pip install 'vidgraph[tracing]'`) are imported only then. Spans go to the OTLP/HTTP exporter, which
reads the standard `OTEL_EXPORTER_OTLP_*` variables; `OTEL_SERVICE_NAME` names the service.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.metrics import add_sql_listener, remove_sql_listener

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Tracer

log = logging.getLogger("vidgraph.tracing")

# a statement's text can be long (bulk inserts); its bound values are never recorded
MAX_STATEMENT_CHARS = 2000


def tracing_enabled(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    flag = env.get("VIDGRAPH_TRACING", "").strip().lower()
    if flag in {"0", "false", "no", "off"}:
        return False
    return flag in {"1", "true", "yes", "on"} or bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


class SqlSpans:
    """A span per SQL statement, under the resolver that sent it.

    Tortoise logs a statement just before sending it and nothing once it is done, so these spans mark
    when each statement went out and what it was (placeholders, never values), not how long it took.
    """

    def __init__(self, tracer: Tracer, system: str | None) -> None:
        self.tracer = tracer
        self.system = system

    def __call__(self, statement: str) -> None:
        from opentelemetry import trace

        # outside a traced operation (start-up, jobs, cleanup loops) statements are not traced
        if not statement or not trace.get_current_span().is_recording():
            return
        attributes = {"db.statement": statement[:MAX_STATEMENT_CHARS]}
        if self.system:
            attributes["db.system"] = self.system
        verb = statement.split(None, 1)[0].upper()
        self.tracer.start_span(f"SQL {verb}", attributes=attributes).end()


@dataclass
class Tracing:
    """The process's tracer provider and the SQL hook feeding it; `shutdown()` flushes and detaches."""

    provider: TracerProvider
    sql_spans: SqlSpans

    def shutdown(self) -> None:
        remove_sql_listener(self.sql_spans)
        self.provider.shutdown()


def start_tracing(
    env: Mapping[str, str] | None = None,
    *,
    database_system: str | None = None,
    exporter: SpanExporter | None = None,
) -> Tracing | None:
    """A tracer provider exporting over OTLP (or to `exporter`), or None when tracing is off."""
    env = os.environ if env is None else env
    if not tracing_enabled(env):
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError as error:
        raise RuntimeError(
            "Tracing is on (OTEL_EXPORTER_OTLP_ENDPOINT or VIDGRAPH_TRACING) but OpenTelemetry is not "
            "installed: pip install 'vidgraph[tracing]'."
        ) from error
    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or "vidgraph"})
    provider = TracerProvider(resource=resource)
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # batches leave on a thread of their own: a slow collector never holds up a request
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    sql_spans = SqlSpans(provider.get_tracer("vidgraph.sql"), database_system)
    add_sql_listener(sql_spans)
    log.info("tracing on: operations, resolvers and SQL statements")
    return Tracing(provider=provider, sql_spans=sql_spans)
