"""The Starlette-facing GraphQL endpoint.

GraphQL over HTTP as its spec reads after the watershed: the response comes in the media type the
client prefers — `application/graphql-response+json`, whose status says whether the request failed
before execution (400, no `data`), or legacy `application/json` (200 for any GraphQL error) — with 406
when neither is acceptable, 415 for a body that is not JSON (or a multipart upload), and 405 for a
mutation by GET. Subscriptions also stream over plain HTTP: graphql-sse's distinct connections mode
(`Accept: text/event-stream`) and Apollo's multipart subscriptions. Every transport authenticates the
same bearer token; HTTP requests also pass the CSRF guard for uploads, the body limits and automatic
persisted queries.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import orjson
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import (
    GRAPHQL_SSE_PROTOCOL,
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
    MULTIPART_SUBSCRIPTION_PROTOCOL,
)
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from schema import fanout, persisted_queries
from schema.context import Context
from schema.persisted_queries import PersistedQueryError
from schema.protection import QueryLimits
from services import auth
from services.errors import ServiceError
from services.persisted_queries import InMemoryPersistedQueries, PersistedQueries, RedisPersistedQueries

if TYPE_CHECKING:
    from cross_web import AsyncHTTPRequestAdapter
    from strawberry.http.base import BaseRequestProtocol
    from strawberry.http.types import QueryParams
    from strawberry.types import SubscriptionExecutionResult

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"
MEDIA_TYPE = "vidgraph.media_type"
PREFLIGHT_HEADERS = ("apollo-require-preflight", "x-apollo-operation-name", "graphql-require-preflight",
                     "graphql-preflight")
HTTP_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 406: "NOT_ACCEPTABLE",
              413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE"}


def bearer_token(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def content_type_of(media_type: str | None) -> str:
    return f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8" if media_type == GRAPHQL_RESPONSE_JSON else APPLICATION_JSON


class RequestRefused(Exception):
    """A request answered before any operation runs: a status and one GraphQL-shaped error."""

    def __init__(self, status: int, message: str, *, code: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.headers = dict(headers or {})

    @classmethod
    def from_http(cls, error: HTTPException) -> RequestRefused:
        headers = {"Allow": "GET, POST"} if error.status_code == 405 else None
        return cls(error.status_code, error.reason, code=HTTP_CODES.get(error.status_code, "BAD_REQUEST"),
                   headers=headers)

    def response(self, media_type: str | None) -> Response:
        body = {"errors": [{"message": self.message, "extensions": {"code": self.code}}]}
        return Response(json.dumps(body), status_code=self.status, media_type=content_type_of(media_type),
                        headers=self.headers)


def too_large(limit: int) -> RequestRefused:
    return RequestRefused(413, f"The request body is larger than the {limit} bytes allowed.", code="PAYLOAD_TOO_LARGE")


@dataclass(frozen=True, slots=True)
class MediaRange:
    kind: str
    subtype: str
    q: float
    position: int


def media_ranges(accept: str) -> list[MediaRange]:
    ranges = []
    for position, part in enumerate(accept.split(",")):
        name, *params = (piece.strip() for piece in part.split(";"))
        kind, _, subtype = name.lower().partition("/")
        if not kind or not subtype:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranges.append(MediaRange(kind, subtype, q, position))
    return ranges


def _preference(media_type: str, ranges: list[MediaRange]) -> tuple[float, int, int] | None:
    """(q, specificity, earlier first) of the most specific range naming the type (RFC 9110 §12.5.1)."""
    kind, _, subtype = media_type.partition("/")
    best: tuple[float, int, int] | None = None
    for r in ranges:
        if r.kind == kind and r.subtype == subtype:
            specificity = 2
        elif (r.kind == kind and r.subtype == "*") or (r.kind == "*" and r.subtype == "*"):
            specificity = 1 if r.kind == kind else 0
        else:
            continue
        if best is None or specificity > best[1]:
            best = (r.q, specificity, -r.position)
    return best


def negotiate(accept: str | None) -> str | None:
    """The JSON media type to answer an Accept header with; None when it accepts neither."""
    if not accept or not accept.strip():
        return APPLICATION_JSON  # the legacy watershed's default
    ranges = media_ranges(accept)
    chosen, chosen_key = None, None
    # application/json is tried first, so it wins exact ties such as `*/*` (the legacy default)
    for media_type in (APPLICATION_JSON, GRAPHQL_RESPONSE_JSON):
        key = _preference(media_type, ranges)
        if key is not None and key[0] > 0 and (chosen_key is None or key > chosen_key):
            chosen, chosen_key = media_type, key
    return chosen


def failed_before_execution(result: ExecutionResult) -> bool:
    """Parse, validation, operation and variable errors, and refusals before anything resolved.

    Field errors always carry a path; errors raised before execution never do."""
    if isinstance(result, PreExecutionError):
        return True
    return result.data is None and bool(result.errors) and all(e.path is None for e in result.errors or ())


def status_of(body: GraphQLHTTPResponse, media_type: str) -> int:
    if media_type != GRAPHQL_RESPONSE_JSON or "data" in body:
        return 200
    codes = {(error.get("extensions") or {}).get("code") for error in body.get("errors") or ()
             if isinstance(error, dict)}
    return 500 if "INTERNAL_SERVER_ERROR" in codes else 400


def _needs_preflight(request: Request) -> bool:
    # a multipart POST is a "simple" request browsers send cross-site without asking: demand a
    # header no plain HTML form can set, so uploads cannot be forged (Apollo's CSRF prevention)
    content_type = request.headers.get("content-type", "")
    return content_type.startswith("multipart/form-data") and not any(h in request.headers for h in PREFLIGHT_HEADERS)


class BodyTooLarge(Exception):
    """A body without a (truthful) Content-Length grew past the limit while being read."""


def _counting(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def receive_within_limit() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise BodyTooLarge
        return message

    return receive_within_limit


async def _only(result: ExecutionResult) -> AsyncGenerator[ExecutionResult, None]:
    yield result


async def _registering(
    stream: AsyncGenerator[Any, None], store: PersistedQueries, sha256_hash: str, query: str,
) -> AsyncGenerator[Any, None]:
    """The stream as it is; its document is stored once the first result shows it validated."""
    first = True
    async with contextlib.aclosing(stream) as results:
        async for result in results:
            if first and not isinstance(result, PreExecutionError):
                await store.put(sha256_hash, query)
            first = False
            yield result


def _streamed(stream: AsyncGenerator[Any, None]) -> SubscriptionExecutionResult:
    # strawberry's protocol for streams is structural; an async generator is one at run time
    return cast("SubscriptionExecutionResult", stream)


class GraphQLView(GraphQL[Context, None]):
    # each WebSocket operation gets a lane for shared events (schema/fanout.py)
    graphql_transport_ws_handler_class = fanout.TransportWSHandler
    graphql_ws_handler_class = fanout.LegacyWSHandler

    def __init__(self, *args: Any, limits: QueryLimits | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("subscription_protocols", (GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL,
                                                     GRAPHQL_SSE_PROTOCOL, MULTIPART_SUBSCRIPTION_PROTOCOL))
        super().__init__(*args, **kwargs)
        self.limits = limits or QueryLimits.from_env()
        self.memory_queries = InMemoryPersistedQueries()

    def body_limit(self, request: Request) -> int:
        # uploads (yt-dlp files) are allowed more than a JSON operation ever needs
        multipart = request.headers.get("content-type", "").startswith("multipart/form-data")
        return self.limits.max_upload_bytes if multipart else self.limits.max_body_bytes

    def persisted_queries(self, request: Request) -> PersistedQueries:
        services = request.state.services
        if services.redis is not None:
            return RedisPersistedQueries(services.redis, prefix=services.settings.redis_prefix)
        return self.memory_queries

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope)
        media_type = None
        limit = self.limits.max_body_bytes
        try:
            media_type = scope[MEDIA_TYPE] = self.response_media_type(request)
            limit = self.admit(request)
            await self.authenticate(request)
            request = Request(scope, receive=_counting(receive, limit))
            response = await self.run(request)
        except RequestRefused as refusal:
            response = refusal.response(media_type)
        except HTTPException as error:
            response = RequestRefused.from_http(error).response(media_type)
        except BodyTooLarge:
            # strawberry answers only once the whole body is read, so nothing was sent yet
            response = too_large(limit).response(media_type)
        try:
            await response(scope, receive, send)
        finally:
            # uploads wait in temporary files; once the answer is out nothing reads them again
            await request.close()

    def response_media_type(self, request: Request) -> str | None:
        """The JSON type to answer in; None for streams and GraphiQL, which have their own."""
        if self._get_stream_transport_from_headers(request.headers) is not None:
            return None
        if self.should_render_graphql_ide(self.request_adapter_class(request)):
            return None
        media_type = negotiate(request.headers.get("accept"))
        if media_type is None:
            raise RequestRefused(406, f"Responses are {GRAPHQL_RESPONSE_JSON} or {APPLICATION_JSON} "
                                 "(or text/event-stream for subscriptions): accept one of them.",
                                 code="NOT_ACCEPTABLE")
        return media_type

    def admit(self, request: Request) -> int:
        """The body limit for a request that may be read; refuses what must not be."""
        if _needs_preflight(request):
            raise RequestRefused(400, "Multipart requests need an `Apollo-Require-Preflight: true` header.",
                                 code="CSRF_PREFLIGHT_REQUIRED")
        if request.method == "POST":
            self.check_content_type(request.headers.get("content-type"))
        limit = self.body_limit(request)
        declared = request.headers.get("content-length", "")
        # refused before a byte is read or parsed; bodies that do not declare their length are
        # counted as they arrive instead
        if declared.isdigit() and int(declared) > limit:
            raise too_large(limit)
        return limit

    def check_content_type(self, value: str | None) -> None:
        mime, *params = (piece.strip().lower() for piece in (value or "").split(";"))
        charset = next((p.partition("=")[2].strip('"') for p in params if p.startswith("charset=")), "utf-8")
        if mime == APPLICATION_JSON and charset in {"utf-8", "utf8"}:
            return
        if mime == "multipart/form-data" and self.multipart_uploads_enabled:
            return
        uploads = " (or multipart/form-data for uploads)" if self.multipart_uploads_enabled else ""
        raise RequestRefused(415, f"Send operations as `Content-Type: application/json` in UTF-8{uploads}.",
                             code="UNSUPPORTED_MEDIA_TYPE")

    async def authenticate(self, request: Request) -> None:
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            return
        # a bad token fails the whole request with 401 instead of silently signing out
        try:
            request.scope["vidgraph.auth"] = await auth.authenticate(token=token)
        except ServiceError as error:
            raise RequestRefused(401, error.message, code=error.code.value,
                                 headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from error

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        # a GET carrying a persisted query's hash is an operation, not a browser opening the page
        if request.query_params.get("extensions"):
            return False
        return super().should_render_graphql_ide(request)

    def parse_json(self, data: str | bytes) -> Any:
        try:
            return self.decode_json(data)
        except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise HTTPException(400, "Unable to parse request body as JSON") from error

    def parse_query_params(self, params: QueryParams) -> dict[str, Any]:
        # an empty parameter is an absent one (the spec says so of operationName)
        return super().parse_query_params({name: value for name, value in params.items() if value})

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData:
        transport = self._get_stream_transport_from_headers(request.headers)
        if request.method == "GET":
            data = self.parse_query_params(request.query_params)
        elif (request.content_type or "").lower().startswith("multipart/form-data"):
            data = await self.parse_multipart(request)
        else:
            data = self.parse_json(await request.get_body())
        if isinstance(data, list):
            raise HTTPException(400, "Batched operations are not supported: send one operation per request.")
        if not isinstance(data, dict):
            raise HTTPException(400, "A GraphQL request is a JSON object with a `query`.")
        for name, kind, described in (("query", str, "a string"), ("operationName", str, "a string"),
                                      ("variables", dict, "an object"), ("extensions", dict, "an object")):
            if not isinstance(data.get(name), (kind, type(None))):
                raise HTTPException(400, f"The operation's `{name}` must be {described} or null, if provided.")
        return GraphQLRequestData(
            query=data.get("query"), variables=data.get("variables"), operation_name=data.get("operationName") or None,
            extensions=data.get("extensions"), protocol=transport.protocol if transport else "http",
        )

    def allowed_operations(self, method: str, *, streaming: bool) -> set[OperationType]:
        allowed = {OperationType.MUTATION} if method == "POST" else set()
        if method == "POST" or self.allow_queries_via_get:
            allowed.add(OperationType.QUERY)
        return (allowed | {OperationType.SUBSCRIPTION}) if streaming else allowed

    async def execute_operation(  # strawberry's signature
        self, request: Request, request_adapter: AsyncHTTPRequestAdapter,
        request_data: GraphQLRequestData | list[GraphQLRequestData], context: Context, root_value: None,
        sub_response: Response,
    ) -> ExecutionResult | list[ExecutionResult] | SubscriptionExecutionResult:
        assert isinstance(request_data, GraphQLRequestData)  # parse_http_body refuses batches
        transport = self._get_stream_transport(request_data.protocol)
        store = self.persisted_queries(request)
        try:
            resolution = await persisted_queries.resolve(request_data, store)
        except PersistedQueryError as error:
            refusal = PreExecutionError(data=None, errors=[error])
            if transport is not None:
                return _streamed(_only(refusal))
            sub_response.status_code = error.status
            return refusal
        request_data = resolution.request
        if transport is not None:
            allowed = self.allowed_operations(request_adapter.method, streaming=True)
            stream = await self.schema.stream(
                request_data.query, variable_values=request_data.variables, context_value=context,
                root_value=root_value, operation_name=request_data.operation_name,
                operation_extensions=request_data.extensions,
                allowed_operation_types=transport.allowed_operation_types(allowed),
            )
            if resolution.register is None or request_data.query is None:
                return _streamed(stream)
            return _streamed(_registering(stream, store, resolution.register, request_data.query))
        result = await self.execute_single(request, request_adapter, sub_response, context, root_value, request_data)
        if resolution.register is not None and request_data.query is not None and not isinstance(
                result, PreExecutionError):
            await store.put(resolution.register, request_data.query)
        return result

    async def execute_single(  # strawberry's signature
        self, request: Request, request_adapter: AsyncHTTPRequestAdapter, sub_response: Response,
        context: Context, root_value: None, request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        method = request_adapter.method
        try:
            return await self.schema.execute(
                request_data.query, variable_values=request_data.variables, context_value=context,
                root_value=root_value, operation_name=request_data.operation_name,
                operation_extensions=request_data.extensions,
                allowed_operation_types=self.allowed_operations(method, streaming=False),
            )
        except MissingQueryError as error:
            raise HTTPException(400, "No GraphQL query found in the request.") from error
        except InvalidOperationTypeError as error:
            if error.operation_type is OperationType.SUBSCRIPTION:
                raise RequestRefused(400, "Subscriptions stream: send `Accept: text/event-stream`, or use a "
                                     "WebSocket.", code="BAD_REQUEST") from error
            raise RequestRefused(405, f"{error.operation_type.value.capitalize()} operations are not run by "
                                 f"{method}: send them by POST.", code="METHOD_NOT_ALLOWED",
                                 headers={"Allow": "POST"}) from error
        except CannotGetOperationTypeError as error:
            message = (f'Unknown operation named "{error.operation_name}".' if error.operation_name else
                       "The document must hold exactly one operation, or `operationName` must name one.")
            return PreExecutionError(data=None, errors=[
                GraphQLError(message, extensions={"code": "GRAPHQL_VALIDATION_FAILED"})])

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        body = await super().process_result(request, result)
        if request.scope.get(MEDIA_TYPE) == GRAPHQL_RESPONSE_JSON and failed_before_execution(result):
            # without a `data` entry the response says nothing ran, and its 4xx status agrees
            body.pop("data", None)
        return body

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        # create_response sees no request: the negotiated media type travels on the sub-response
        sub_response.media_type = request.scope.get(MEDIA_TYPE)
        return sub_response

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response,
    ) -> Response:
        assert not isinstance(response_data, list)  # parse_http_body refuses batches
        media_type = sub_response.media_type or APPLICATION_JSON
        # the same JSON as Strawberry's `encode_json` (compact `json.dumps`), text as UTF-8 rather than
        # \u escapes; orjson writes a large answer in a tenth of the time. (WebSocket messages keep
        # `encode_json`: Strawberry sends bytes from it as binary frames.)
        response = Response(
            orjson.dumps(response_data), media_type=content_type_of(media_type),
            # a status already set (429 by the rate limits, 200 for a persisted query to send) stands
            status_code=sub_response.status_code or status_of(response_data, media_type),
        )
        response.headers.raw.extend(sub_response.headers.raw)
        response.background = sub_response.background
        return response

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        user, session = request.scope.get("vidgraph.auth") or (None, None)
        return Context(
            request=request,
            response=response,
            services=request.state.services,
            viewer=user,
            session=session,
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, Any] | None:
        params = context.connection_params or {}
        raw = params.get("Authorization") or params.get("authorization")
        token = bearer_token(raw) if isinstance(raw, str) else None
        if token is None and isinstance(params.get("token"), str):
            token = params["token"]
        if token is None:
            token = bearer_token(context.request.headers.get("authorization"))
        if token is not None:
            try:
                context.viewer, context.session = await auth.authenticate(token=token)
            except ServiceError as error:
                raise ConnectionRejectionError({"code": error.code.value, "message": error.message}) from error
        return UNSET
