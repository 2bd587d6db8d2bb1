"""Schema extensions that observe operations: Prometheus metrics always, OpenTelemetry spans when on."""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import re
import time
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError
from strawberry.extensions import LifecycleStep, SchemaExtension
from strawberry.types.graphql import OperationType

from services import metrics
from services.errors import ErrorCode

if TYPE_CHECKING:
    from graphql import GraphQLResolveInfo
    from strawberry.types import ExecutionContext

    from services.tracing import Tracing

RATE_LIMITED = ErrorCode.RATE_LIMITED.value
SECRET_ARGUMENTS = ("password", "token", "secret")


def outcome_of(errors: list[GraphQLError] | None) -> str:
    if not errors:
        return "ok"
    if any((error.extensions or {}).get("code") == RATE_LIMITED for error in errors):
        return "rate_limited"
    return "error"


def _operation_type(context: ExecutionContext) -> str:
    try:
        return context.operation_type.value
    except Exception:  # no document: the operation failed to parse, or named an operation it lacks
        return "unknown"


class OperationMetrics(SchemaExtension):
    """Counts every operation by name and outcome, times queries and mutations, tracks subscriptions."""

    def __init__(self) -> None:
        self.subscribed = False

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        stats = metrics.current_stats()
        # HTTP requests arrive with stats from MetricsMiddleware; WebSocket operations count their own
        owns_stats = stats is None
        if stats is None:
            stats = metrics.start_stats()
        try:
            yield
        finally:
            ec = self.execution_context
            kind = _operation_type(ec)
            label = metrics.operation_label(ec.operation_name)
            stats.operation = label
            errors = ec.result.errors if ec.result is not None else ec.pre_execution_errors
            metrics.observe_operation(
                operation=label,
                kind=kind,
                outcome=outcome_of(errors),
                # a subscription lasts as long as its client wants: its duration says nothing
                seconds=None if kind == OperationType.SUBSCRIPTION.value else time.perf_counter() - started,
            )
            if self.subscribed:
                metrics.ACTIVE_SUBSCRIPTIONS.dec()
            if owns_stats:
                metrics.observe_sql_statements(stats)

    def on_execute(self) -> Iterator[None]:
        # parsed and validated by now, so the type is known; a subscription's events flow after this
        if _operation_type(self.execution_context) == OperationType.SUBSCRIPTION.value:
            self.subscribed = True
            metrics.ACTIVE_SUBSCRIPTIONS.inc()
        yield


def hide_secrets(arguments: dict[str, Any]) -> dict[str, Any]:
    """Resolver arguments fit for span attributes: passwords and tokens blanked, uploads named only.

    Built anew rather than copied: a deep copy of an upload would copy (or fail on) its file.
    """

    def clean(key: str, value: Any) -> Any:
        if any(secret in key.lower() for secret in SECRET_ARGUMENTS):
            return "***"
        if isinstance(value, dict):
            return {k: clean(k, v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(key, v) for v in value]
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: clean(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, enum.Enum):
            return value.value
        if value is None or isinstance(value, (str, int, float, bool)):
            return value
        return f"<{type(value).__name__}>"

    return {key: clean(key, value) for key, value in arguments.items()}


# `password: "..."` written inline in a document (GraphiQL users do) must not reach a span
INLINE_SECRET = re.compile(r'\b(\w*(?:password|token|secret)\w*)(\s*:\s*)"(?:[^"\\]|\\.)*"', re.IGNORECASE)


def redact_document(document: str) -> str:
    return INLINE_SECRET.sub(r'\1\2"***"', document)


ExtensionFactory = type[SchemaExtension] | Callable[[], SchemaExtension]


def _span_extension(tracing: Tracing) -> ExtensionFactory:
    # imports opentelemetry, so only when tracing is on
    from strawberry.extensions.tracing.opentelemetry import OpenTelemetryExtension

    class OperationSpans(OpenTelemetryExtension):
        """Strawberry's spans for the operation and each resolver, without secrets in attributes."""

        def on_operation(self) -> Generator[None, None, None]:
            steps = super().on_operation()
            next(steps)
            span = self._span_holder[LifecycleStep.OPERATION]
            if self.execution_context.query:
                span.set_attribute("query", redact_document(self.execution_context.query))
            try:
                yield
            finally:
                # strawberry ends the operation span after its yield; it must end on errors too
                with contextlib.suppress(StopIteration):
                    next(steps)

        def filter_resolver_args(self, args: dict[str, Any], info: GraphQLResolveInfo) -> dict[str, Any]:
            return hide_secrets(args)

    return functools.partial(OperationSpans, tracer_provider=tracing.provider)


def observability_extensions(tracing: Tracing | None = None) -> list[ExtensionFactory]:
    """The schema's observing extensions: metrics always, spans when `tracing` is on."""
    extensions: list[ExtensionFactory] = [OperationMetrics]
    if tracing is not None:
        extensions.append(_span_extension(tracing))
    return extensions
