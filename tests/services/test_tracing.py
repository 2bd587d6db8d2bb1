"""OpenTelemetry tracing: off unless configured; when on, spans for operations, resolvers and SQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from schema import build_schema
from schema.view import GraphQLView
from services.tracing import start_tracing, tracing_enabled
from tests.helpers import data_of, gql

REGISTER = """
mutation Register($password: String!) {
  register(input: {email: "traced@example.com", password: $password}) { token errors { code } }
}
"""
INLINE_LOGIN = 'mutation Login { login(input: {email: "traced@example.com", password: "inline secret 123"}) { token } }'
PASSWORD = "correct horse battery"


@pytest.mark.parametrize(("env", "enabled"), [
    ({}, False),
    ({"VIDGRAPH_TRACING": "true"}, True),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "VIDGRAPH_TRACING": "false"}, False),
])
def test_tracing_is_on_only_when_configured(env, enabled):
    assert tracing_enabled(env) is enabled


def test_without_configuration_nothing_is_started():
    assert start_tracing({}) is None


@pytest.fixture
def spans() -> Any:
    pytest.importorskip("opentelemetry.sdk", reason="the `tracing` extra is not installed")
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    return InMemorySpanExporter()


@pytest.fixture
async def traced_client(settings, app_services, spans) -> AsyncIterator[httpx.AsyncClient]:
    tracing = start_tracing({"VIDGRAPH_TRACING": "true"}, database_system=settings.dialect, exporter=spans)
    assert tracing is not None
    view = GraphQLView(build_schema(settings, tracing=tracing), graphql_ide=None)

    # the running test app's services, without a second lifespan (one database per process)
    async def with_services(scope: Any, receive: Any, send: Any) -> None:
        scope["state"] = {"services": app_services}
        await view(scope, receive, send)

    transport = httpx.ASGITransport(app=with_services)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
    finally:
        tracing.shutdown()


async def test_an_operation_is_traced_down_to_its_sql_statements(traced_client, spans):
    body = data_of(await gql(traced_client, REGISTER, {"password": PASSWORD}))
    assert body["register"]["errors"] == []
    finished = spans.get_finished_spans()
    [operation] = [s for s in finished if s.name == "GraphQL Query: Register"]
    [resolver] = [s for s in finished if s.name == "GraphQL Resolving: register"]
    assert resolver.context.trace_id == operation.context.trace_id
    under_resolver = [s for s in finished if s.parent and s.parent.span_id == resolver.context.span_id]
    sql = [s for s in under_resolver if s.name.startswith("SQL ")]
    inserts = [s.attributes["db.statement"] for s in sql if s.name == "SQL INSERT"]
    assert any('INSERT INTO "users"' in statement for statement in inserts), [s.name for s in sql]
    assert all(s.attributes["db.system"] in {"sqlite", "postgres"} for s in sql)


async def test_spans_never_carry_passwords(traced_client, spans):
    data_of(await gql(traced_client, REGISTER, {"password": PASSWORD}))
    await gql(traced_client, INLINE_LOGIN)
    recorded = [str(value) for span in spans.get_finished_spans() for value in (span.attributes or {}).values()]
    assert recorded
    assert not [v for v in recorded if PASSWORD in v or "inline secret 123" in v]
    # the argument is still there, blanked
    assert any("password: ***" in v for v in recorded)


async def test_statements_outside_a_traced_operation_make_no_spans(traced_client, spans, client):
    # the app under test is not traced: its requests must not leak spans into this provider
    data_of(await gql(client, "{ viewer { email } }"))
    from models import User

    await User.all().count()
    assert spans.get_finished_spans() == ()
