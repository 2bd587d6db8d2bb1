"""API protection in the schema: query limits, the cost of an operation, and rate limits per identity.

Depth, alias and token limits are strawberry's own; this module adds what strawberry lacks: `first`
bounded before anything runs, each operation's cost (GitHub-style: 1 + every connection's `first`
times the `first` of the connections around it), rate limits charged in one round trip, the
`RateLimit` headers and 429 on HTTP, and "Did you mean …" suggestions kept out of production errors.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import strawberry
from graphql import ASTValidationRule, GraphQLError, get_operation_ast
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.language import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from starlette.responses import Response
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, SchemaExtension
from strawberry.extensions.max_aliases import create_validator as alias_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.types.graphql import OperationType

from resolvers.pagination import MAX_PAGE_SIZE
from schema.context import Info
from services.errors import ErrorCode
from services.rate_limits import POINTS, Decision, identity_of

if TYPE_CHECKING:
    from services.settings import Settings

MIB = 1024 * 1024

# the top-level fields each rate-limited class covers; `viewer` fields are one level down
ROOT_CLASSES = {
    "analyzeVideo": "analyze",
    "importVideo": "analyze",
    "search": "search",
    "sendMessage": "chat",
    "startConversation": "chat",
}
VIEWER_CLASSES = {"library": "history", "bookmarks": "history"}

SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """How big a request and its operation may be."""

    max_depth: int = 12
    max_aliases: int = 15
    max_tokens: int = 2000
    max_page_size: int = MAX_PAGE_SIZE
    max_body_bytes: int = MIB
    max_upload_bytes: int = 32 * MIB

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> QueryLimits:
        env = os.environ if env is None else env
        return cls(
            max_depth=int(env.get("MAX_QUERY_DEPTH", "12")),
            max_aliases=int(env.get("MAX_QUERY_ALIASES", "15")),
            max_tokens=int(env.get("MAX_QUERY_TOKENS", "2000")),
            max_body_bytes=int(env.get("MAX_BODY_BYTES", str(MIB))),
            max_upload_bytes=int(env.get("MAX_UPLOAD_BYTES", str(32 * MIB))),
        )


@dataclass(frozen=True, slots=True)
class OperationShape:
    classes: dict[str, int]
    cost: int


Fragments = Mapping[str, FragmentDefinitionNode]


def _fields(selection_set: SelectionSetNode | None, fragments: Fragments) -> Iterator[FieldNode]:
    """The fields of a selection set, with fragments spread in (validation has ruled out cycles)."""
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(selection.selection_set, fragments)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value in fragments:
            yield from _fields(fragments[selection.name.value].selection_set, fragments)


def _page_size(
    field: FieldNode,
    variables: Mapping[str, Any],
    defaults: Mapping[str, Any],
    maximum: int,
) -> int | None:
    """The field's `first`, None when it has none; out of bounds fails the operation before it runs."""
    node = next((arg.value for arg in field.arguments or () if arg.name.value == "first"), None)
    if node is None:
        return None
    value: Any = None
    if isinstance(node, IntValueNode):
        value = int(node.value)
    elif isinstance(node, VariableNode):
        value = variables.get(node.name.value, defaults.get(node.name.value))
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise GraphQLError(
            f"`first` must be between 0 and {maximum}.",
            nodes=[field],
            extensions={"code": ErrorCode.INVALID_INPUT.value, "field": "first"},
        )
    return value


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def measure_operation(
    operation: OperationDefinitionNode,
    fragments: Fragments,
    variables: Mapping[str, Any],
    *,
    max_page_size: int,
) -> OperationShape:
    """The rate-limited classes an operation touches (how often) and the points it costs."""
    defaults = {
        d.variable.name.value: int(d.default_value.value)
        for d in operation.variable_definitions or ()
        if isinstance(d.default_value, IntValueNode)
    }

    classes: dict[str, int] = {}
    for field in _fields(operation.selection_set, fragments):
        names = [ROOT_CLASSES.get(field.name.value)]
        if field.name.value == "viewer":
            names = [VIEWER_CLASSES.get(f.name.value) for f in _fields(field.selection_set, fragments)]
        for name in filter(None, names):
            classes[name] = classes.get(name, 0) + 1
    items = _items(operation.selection_set, 1, fragments, variables, defaults, max_page_size)
    return OperationShape(classes=classes, cost=1 + items)


def _items(
    selection_set: SelectionSetNode | None,
    multiplier: int,
    fragments: Fragments,
    variables: Mapping[str, Any],
    defaults: Mapping[str, int],
    max_page_size: int,
) -> int:
    """The connection items a selection may return: each page size times those of its parents."""
    total = 0
    for field in _fields(selection_set, fragments):
        first = _page_size(field, variables, defaults, max_page_size)
        if first is None:
            total += _items(field.selection_set, multiplier, fragments, variables, defaults, max_page_size)
        else:
            inner = multiplier * first
            total += inner + _items(field.selection_set, inner, fragments, variables, defaults, max_page_size)
    return total


def actual_cost(
    selection_set: SelectionSetNode | None, data: Any, fragments: Fragments, paging: dict[int, bool] | None = None
) -> int:
    """Like the requested cost, counting the items connections returned instead of those asked for.

    Only the parts of the answer under a selection that pages are walked: a page of a large library
    is thousands of values with nothing to count below its connection."""
    paging = {} if paging is None else paging
    if isinstance(data, list):
        return sum(actual_cost(selection_set, item, fragments, paging) for item in data)
    if not isinstance(data, dict):
        return 0
    total = 0
    for field in _fields(selection_set, fragments):
        if not _pages(field, fragments, paging):
            continue
        value = data.get(field.alias.value if field.alias else field.name.value)
        if isinstance(value, dict) and _has_first(field):
            items = value.get("edges", value.get("nodes"))
            total += len(items) if isinstance(items, list) else 0
        total += actual_cost(field.selection_set, value, fragments, paging)
    return total


def _has_first(field: FieldNode) -> bool:
    return any(arg.name.value == "first" for arg in field.arguments or ())


def _pages(field: FieldNode, fragments: Fragments, known: dict[int, bool]) -> bool:
    """Whether the field or a field under it takes `first`; `known` remembers fields by identity
    (the document holds them all while the cost is counted)."""
    found = known.get(id(field))
    if found is None:
        found = known[id(field)] = _has_first(field) or any(
            _pages(inner, fragments, known) for inner in _fields(field.selection_set, fragments)
        )
    return found


# the current operation's rate-limit decisions, for `Query.rateLimit`; each operation runs in its own
# task (or resets the variable when done), so operations never see each other's
_decisions: ContextVar[list[Decision] | None] = ContextVar("vidgraph_rate_limit_decisions", default=None)


def rate_limited_error(denied: list[Decision]) -> GraphQLError:
    worst = max(denied, key=lambda d: d.retry_after)
    return GraphQLError(
        f"Too many requests: {worst.limit} {worst.name} per {worst.window_seconds} s. "
        f"Try again in {worst.retry_after} s.",
        extensions={"code": ErrorCode.RATE_LIMITED.value, "retryAfter": worst.retry_after, "policy": worst.name},
    )


def _set_headers(response: Response, decisions: list[Decision], now: float) -> None:
    # IETF draft "RateLimit header fields for HTTP": one named policy per limit that applied
    response.headers["RateLimit-Policy"] = ", ".join(d.policy for d in decisions)
    response.headers["RateLimit"] = ", ".join(d.header_item(now=now) for d in decisions)
    denied = [d for d in decisions if not d.allowed]
    if denied:
        response.status_code = 429
        response.headers["Retry-After"] = str(max(d.retry_after for d in denied))


class OperationProtection(SchemaExtension):
    """Bounds `first`, prices the operation, and charges the caller's rate limits before it runs."""

    def __init__(self, *, limits: QueryLimits) -> None:
        self.limits = limits
        self.requested: int | None = None

    async def on_execute(self) -> AsyncIterator[None]:
        token = None
        try:
            token = _decisions.set(await self._admit())
        except GraphQLError as error:
            # a subscription only fails through an exception here; a query or mutation is answered
            # with the error as its result, and nothing runs
            if self.execution_context.operation_type is OperationType.SUBSCRIPTION:
                raise
            self.execution_context.result = GraphQLExecutionResult(data=None, errors=[error])
        try:
            yield
        finally:
            if token is not None:
                _decisions.reset(token)

    async def _admit(self) -> list[Decision] | None:
        ec = self.execution_context
        document = ec.graphql_document
        assert document is not None
        operation = get_operation_ast(document, ec.operation_name)
        assert operation is not None
        shape = measure_operation(
            operation, fragments_of(document), ec.variables or {}, max_page_size=self.limits.max_page_size
        )
        self.requested = shape.cost
        context = ec.context
        limiter = context.services.rate_limiter
        if limiter is None:
            return None
        budget = limiter.rates[POINTS].amount
        if shape.cost > budget:
            raise GraphQLError(
                f"This operation would cost {shape.cost} points, more than the {budget} an hour allows: "
                "ask for fewer items per page.",
                extensions={"code": "GRAPHQL_VALIDATION_FAILED", "cost": {"requested": shape.cost, "limit": budget}},
            )
        identity = identity_of(user_id=context.viewer_id, client_address=context.client_address)
        decisions = await limiter.hit_all(identity=identity, costs={**shape.classes, POINTS: shape.cost})
        if isinstance(context.response, Response):
            _set_headers(context.response, decisions, limiter.clock())
        denied = [d for d in decisions if not d.allowed]
        if denied:
            raise rate_limited_error(denied)
        return decisions

    def get_results(self) -> dict[str, Any]:
        if self.requested is None:
            return {}
        cost: dict[str, int] = {"requested": self.requested}
        ec, result, document = self.execution_context, self.execution_context.result, None
        # subscriptions have no single result to count; their events report what they asked for
        if ec.operation_type is not OperationType.SUBSCRIPTION and isinstance(result, GraphQLExecutionResult):
            document = ec.graphql_document
        if document is not None and result is not None and result.data is not None:
            operation = get_operation_ast(document, ec.operation_name)
            if operation is not None:
                cost["actual"] = 1 + actual_cost(operation.selection_set, result.data, fragments_of(document))
        return {"cost": cost}


class HideSuggestions(SchemaExtension):
    """Drops "Did you mean …" from errors, which would otherwise map the schema for a prober."""

    def on_validate(self) -> Iterator[None]:
        yield
        for error in self.execution_context.pre_execution_errors or ():
            error.message = SUGGESTION.sub("", error.message)

    def on_execute(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        for error in getattr(result, "errors", None) or ():
            error.message = SUGGESTION.sub("", error.message)


def protection_extensions(settings: Settings, limits: QueryLimits | None = None) -> list[Any]:
    """The schema extensions that bound operations and charge rate limits, as per-request factories."""
    limits = limits or QueryLimits.from_env()
    # the rules are made once so ValidationCache sees the same rules on every request
    rules: list[type[ASTValidationRule]] = [depth_rule(limits.max_depth, None), alias_rule(limits.max_aliases)]
    extensions: list[Any] = [
        lambda: AddValidationRules(rules),
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: OperationProtection(limits=limits),
    ]
    if not settings.debug:
        extensions.append(HideSuggestions)
    return extensions


@strawberry.type(description="Your hourly point budget: every operation costs 1 plus the items it asks for.")
class RateLimit:
    limit: int = strawberry.field(description="Points per hour.")
    remaining: int = strawberry.field(description="Points left in this hour's window.")
    used: int = strawberry.field(description="Points spent in this hour's window, this operation included.")
    reset_at: datetime = strawberry.field(description="When the window ends and the budget refills.")
    cost: int = strawberry.field(description="What this operation cost.")

    @classmethod
    def from_decision(cls, decision: Decision) -> RateLimit:
        return cls(
            limit=decision.limit,
            remaining=decision.remaining,
            used=decision.used,
            reset_at=datetime.fromtimestamp(math.ceil(decision.reset_at), UTC),
            cost=decision.cost,
        )


async def resolve_rate_limit(info: Info) -> RateLimit | None:
    limiter = info.context.services.rate_limiter
    if limiter is None:
        return None
    decision = next((d for d in _decisions.get() or () if d.name == POINTS), None)
    if decision is None:
        identity = identity_of(user_id=info.context.viewer_id, client_address=info.context.client_address)
        decision = await limiter.peek(identity=identity, operation_class=POINTS)
    return RateLimit.from_decision(decision)


@strawberry.type
class RateLimitQueries:
    rate_limit: RateLimit | None = strawberry.field(
        resolver=resolve_rate_limit,
        description="Your hourly point budget; null when rate limits are off.",
    )
