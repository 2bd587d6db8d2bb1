"""Calls to an OpenAI-compatible endpoint: client, structured JSON replies, streaming, usage.

Retries are the `openai` SDK's own (`max_retries`): it already backs off exponentially with
jitter, honours `Retry-After`/`retry-after-ms` and `x-should-retry`, and retries 408/409/429/5xx,
timeouts and dropped connections. A second layer (tenacity) around it would multiply the attempts
and the waiting, so this module only adds what the SDK cannot know: a reply that is not the JSON
we asked for is retried once with a corrective message.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import openai

from services.errors import ErrorCode, ServiceError

if TYPE_CHECKING:
    from openai.types import CompletionUsage
    from openai.types.chat import ChatCompletionMessageParam
    from openai.types.chat.completion_create_params import ResponseFormat

    from services.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_CONTEXT_TOKENS = 16_000
# Endpoints without a key (a local Ollama or vLLM) still need a non-empty one for the SDK.
_KEYLESS_PLACEHOLDER = "not-needed"
# OpenAI-style keys (sk-..., sk-proj-..., sk-or-...) quoted back by an endpoint, even partly masked.
_SECRET_LIKE = re.compile(r"\bsk-[A-Za-z0-9_\-*]{6,}")


class _SchemaRejected(Exception):
    """The endpoint answered 400 to a `json_schema` response format."""


@dataclass(frozen=True, slots=True)
class LLMSettings:
    api_key: str | None
    base_url: str | None = None
    model: str = "gpt-4o-mini"
    embedding_model: str | None = None
    timeout: float = 120.0
    max_retries: int = 3
    context_tokens: int = DEFAULT_CONTEXT_TOKENS

    @classmethod
    def from_settings(cls, settings: Settings) -> LLMSettings | None:
        """The LLM configuration, or None when no endpoint is configured (local analyzer)."""
        if not settings.openai_api_key and not settings.openai_base_url:
            return None
        return cls(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            model=settings.openai_model,
            embedding_model=settings.openai_embedding_model,
        )


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens


def make_client(settings: LLMSettings) -> openai.AsyncOpenAI:
    """The SDK client; create it once (in the app's lifespan) and close it on shutdown."""
    return openai.AsyncOpenAI(
        api_key=settings.api_key or _KEYLESS_PLACEHOLDER,
        base_url=settings.base_url,
        timeout=settings.timeout,
        max_retries=settings.max_retries,
    )


async def complete_json(
    *,
    client: openai.AsyncOpenAI,
    model: str,
    messages: Sequence[ChatCompletionMessageParam],
    schema_name: str,
    json_schema: dict[str, Any],
    validate: Callable[[dict[str, Any]], object] | None = None,
    max_tokens: int | None = None,
    temperature: float = 0.2,
) -> tuple[dict[str, Any], Usage]:
    """One structured reply: asks for `json_schema`, parses it, checks it with `validate`.

    `validate` raises ValueError (pydantic's ValidationError is one) for a reply of the wrong
    shape. A bad reply is retried once, telling the model what was wrong; a second bad reply is
    an LLM_ERROR. Endpoints that reject `json_schema` (HTTP 400) are asked for a JSON object.
    """
    usage = Usage()
    prompt: list[ChatCompletionMessageParam] = list(messages)
    correction: list[ChatCompletionMessageParam] = []
    response_format: dict[str, Any] | None = _schema_format(schema_name, json_schema)
    problem = ""
    for attempt in range(2):
        try:
            content, call_usage, cut = await _json_completion(
                client=client,
                model=model,
                messages=[*prompt, *correction],
                response_format=response_format,
                max_tokens=max_tokens,
                temperature=temperature,
            )
        except _SchemaRejected:
            # Many OpenAI-compatible servers know only `json_object`; the schema then goes in the
            # prompt so the model still sees the shape.
            response_format = None
            prompt = _with_schema_in_prompt(prompt, schema_name, json_schema)
            content, call_usage, cut = await _json_completion(
                client=client,
                model=model,
                messages=[*prompt, *correction],
                response_format=None,
                max_tokens=max_tokens,
                temperature=temperature,
            )
        usage.add(call_usage)
        try:
            return _parse_reply(content, validate), usage
        except ValueError as exc:
            problem = "it was cut off at the length limit; write fewer, shorter items" if cut else _short(str(exc), 300)
            log.warning("LLM reply for %s was not valid (attempt %d): %s", schema_name, attempt + 1, problem)
            # The bad reply itself is left out: it can be max_tokens long and push the retry
            # past the context window, and the model needs only what was wrong with it.
            correction = [
                {
                    "role": "user",
                    "content": (
                        f"Your previous reply was not valid: {problem}\n"
                        f"Reply again with only one JSON object that follows the `{schema_name}` schema."
                    ),
                }
            ]
    raise ServiceError(ErrorCode.LLM_ERROR, f"The model did not return valid {schema_name} JSON: {problem}")


async def _json_completion(
    *,
    client: openai.AsyncOpenAI,
    model: str,
    messages: Sequence[ChatCompletionMessageParam],
    response_format: dict[str, Any] | None,
    max_tokens: int | None,
    temperature: float,
) -> tuple[str, Usage, bool]:
    """The reply's text, its usage, and whether it was cut at `max_tokens`."""
    try:
        response = await client.chat.completions.create(
            model=model,
            messages=messages,
            response_format=cast("ResponseFormat", response_format or {"type": "json_object"}),
            temperature=temperature,
            max_tokens=max_tokens or openai.omit,
        )
    except openai.OpenAIError as exc:
        if isinstance(exc, openai.BadRequestError) and response_format is not None:
            raise _SchemaRejected from None
        raise _as_service_error(client, exc) from None
    if not response.choices:
        return "", _usage_of(response.usage), False
    choice = response.choices[0]
    return choice.message.content or "", _usage_of(response.usage), choice.finish_reason == "length"


async def stream_chat(
    *,
    client: openai.AsyncOpenAI,
    model: str,
    messages: Sequence[ChatCompletionMessageParam],
    max_tokens: int | None = None,
    temperature: float = 0.3,
) -> AsyncIterator[str | Usage]:
    """Text deltas as the model writes them, then one `Usage` for the whole reply."""
    usage = Usage()
    try:
        stream = await client.chat.completions.create(
            model=model,
            messages=messages,
            temperature=temperature,
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=max_tokens or openai.omit,
        )
        async with stream:
            async for chunk in stream:
                if chunk.usage is not None:
                    usage = _usage_of(chunk.usage)
                for choice in chunk.choices:
                    if choice.delta.content:
                        yield choice.delta.content
    except openai.OpenAIError as exc:
        raise _as_service_error(client, exc) from None
    yield usage


def _schema_format(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def _with_schema_in_prompt(
    messages: list[ChatCompletionMessageParam], name: str, schema: dict[str, Any]
) -> list[ChatCompletionMessageParam]:
    instruction: ChatCompletionMessageParam = {
        "role": "system",
        "content": f"Reply with one JSON object that follows the `{name}` JSON schema:\n{json.dumps(schema)}",
    }
    return [*messages, instruction]


def _parse_reply(content: str, validate: Callable[[dict[str, Any]], object] | None) -> dict[str, Any]:
    text = content.strip()
    # Models without structured output like to wrap JSON in a Markdown fence.
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    if not text:
        raise ValueError("the reply was empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the reply was not JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(data, dict):
        # A ValueError like every other bad reply, so the caller retries it the same way.
        raise ValueError("the reply was JSON but not an object")
    if validate is not None:
        validate(data)
    return data


def _usage_of(usage: CompletionUsage | None) -> Usage:
    if usage is None:
        return Usage()
    return Usage(prompt_tokens=usage.prompt_tokens or 0, completion_tokens=usage.completion_tokens or 0)


def _as_service_error(client: openai.AsyncOpenAI, exc: openai.OpenAIError) -> ServiceError:
    # The SDK has already spent its retries when one of these reaches us.
    if isinstance(exc, openai.APITimeoutError):
        return _llm_error(client, "The LLM endpoint timed out", "")
    if isinstance(exc, openai.APIConnectionError):
        return _llm_error(client, "The LLM endpoint could not be reached", "")
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        # The endpoint's own text often quotes part of the key: say nothing of it.
        return _llm_error(client, f"The LLM endpoint rejected the API key (HTTP {exc.status_code})", "")
    if isinstance(exc, openai.RateLimitError):
        return _llm_error(client, "The LLM endpoint is rate limiting requests (HTTP 429)", _detail(exc))
    if isinstance(exc, openai.APIStatusError):
        return _llm_error(client, f"The LLM endpoint answered HTTP {exc.status_code}", _detail(exc))
    return _llm_error(client, "The LLM call failed", type(exc).__name__)


def _detail(exc: openai.APIStatusError) -> str:
    # The SDK unwraps OpenAI's {"error": {...}}; other servers send {"error": "..."} or plain text.
    body = exc.body
    if isinstance(body, dict):
        for value in (body.get("message"), body.get("error"), body.get("detail")):
            if isinstance(value, dict):
                value = value.get("message")
            if isinstance(value, str):
                return value
    return body if isinstance(body, str) else ""


def _llm_error(client: openai.AsyncOpenAI, summary: str, detail: str) -> ServiceError:
    text = f"{summary}: {_short(detail, 200)}" if detail else summary
    return ServiceError(ErrorCode.LLM_ERROR, _redact(text, client.api_key))


def _redact(text: str, api_key: str) -> str:
    if api_key and api_key != _KEYLESS_PLACEHOLDER:
        text = text.replace(api_key, "***")
    return _SECRET_LIKE.sub("***", text)


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
