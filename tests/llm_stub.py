"""A local OpenAI-compatible server for tests: real HTTP, scripted replies, every request recorded.

    with LLMStub() as stub:
        client = openai.AsyncOpenAI(api_key="sk-test", base_url=stub.base_url)
        stub.queue(Fail(429, retry_after=0.1), "plain text reply")

Replies come from the queue first, then from `stub.script(request_json)`, then from
`default_reply`, which answers the analyzer's prompts with valid JSON built from the timestamps in
the prompt, so a whole pipeline runs without scripting each call.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import re
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass(frozen=True)
class Reply:
    """A chat reply; a dict or list content is sent as its JSON text."""

    content: str | dict[str, Any] | list[Any]
    prompt_tokens: int | None = None  # None: estimated from the request
    completion_tokens: int | None = None
    finish_reason: str = "stop"


@dataclass(frozen=True)
class Fail:
    """An HTTP error; `retry_after` seconds (fractions allowed) go in the Retry-After header."""

    status: int
    message: str = "stub failure"
    retry_after: float | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Delay:
    """Wait before answering (past a client's timeout, it never sees the answer)."""

    seconds: float
    then: Reply | Fail | str | None = None


ReplyLike = Reply | Fail | Delay | str | dict[str, Any] | None
Script = Callable[[dict[str, Any]], ReplyLike]


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    received_at: float  # time.monotonic()

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def prompt(self) -> str:
        """All message contents joined: what the model was shown."""
        return "\n".join(str(m.get("content") or "") for m in self.messages)

    @property
    def schema_name(self) -> str | None:
        return _schema_name(self.body)


class LLMStub:
    """An in-process OpenAI-compatible server on 127.0.0.1 and a random port."""

    def __init__(
        self,
        script: Script | None = None,
        *,
        embeddings: bool = True,
        embedding: Callable[[str, int], list[float]] | None = None,
    ) -> None:
        """`embeddings=False` answers /embeddings with 404, as an endpoint without the model does;
        `embedding(text, dimensions)` replaces the hashed bag of words. Embedding requests never
        take replies from the chat queue."""
        self.script = script
        self.embeddings_offered = embeddings
        self.embedding = embedding or (lambda text, dimensions: embed(text, dimensions=dimensions))
        self._queue: deque[ReplyLike] = deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._sleepers: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def queue(self, *replies: ReplyLike) -> None:
        """Replies for the next requests, in order, before the script and the default."""
        with self._lock:
            self._queue.extend(replies)

    def __enter__(self) -> LLMStub:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
            ]
        )
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the LLM stub did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        with self._lock:
            self._closing.set()
            for loop, wake in self._sleepers:
                loop.call_soon_threadsafe(wake.set)
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()

    def _next(self, body: dict[str, Any]) -> ReplyLike:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return self.script(body) if self.script is not None else None

    async def _receive(self, request: Request) -> tuple[dict[str, Any], ReplyLike]:
        body = await request.json()
        recorded = RecordedRequest(request.url.path, body, dict(request.headers), time.monotonic())
        with self._lock:
            self._requests.append(recorded)
        reply = self._next(body)
        while isinstance(reply, Delay):
            await self._sleep(reply.seconds)
            reply = reply.then
        return body, reply

    async def _sleep(self, seconds: float) -> None:
        # Wakes early when the stub stops, so a test never waits for a reply nobody reads.
        wake = asyncio.Event()
        with self._lock:
            if self._closing.is_set():
                return
            self._sleepers.append((asyncio.get_running_loop(), wake))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), seconds)

    async def _chat(self, request: Request) -> Response:
        body, reply = await self._receive(request)
        if isinstance(reply, Fail):
            return _failure(reply)
        if reply is None:
            reply = Reply(default_reply(body))
        elif isinstance(reply, str | dict):
            reply = Reply(reply)
        assert isinstance(reply, Reply)
        content = reply.content if isinstance(reply.content, str) else json.dumps(reply.content)
        usage = {
            "prompt_tokens": _estimate(json.dumps(body.get("messages", [])))
            if reply.prompt_tokens is None
            else reply.prompt_tokens,
            "completion_tokens": _estimate(content)
            if reply.completion_tokens is None
            else reply.completion_tokens,
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        model = str(body.get("model", "stub-model"))
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                _sse(model, content, reply.finish_reason, usage if include_usage else None),
                media_type="text/event-stream",
            )
        return JSONResponse(
            {
                "id": "chatcmpl-stub",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": reply.finish_reason,
                    }
                ],
                "usage": usage,
            }
        )

    @property
    def embedding_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/embeddings")]

    async def _embeddings(self, request: Request) -> Response:
        body = await request.json()
        with self._lock:
            self._requests.append(RecordedRequest(request.url.path, body, dict(request.headers), time.monotonic()))
        if not self.embeddings_offered:
            return _failure(Fail(404, f"The model `{body.get('model')}` does not exist"))
        texts = body.get("input", [])
        texts = [texts] if isinstance(texts, str) else list(texts)
        dimensions = int(body.get("dimensions") or 64)
        data = [
            {"object": "embedding", "index": i, "embedding": self.embedding(str(text), dimensions)}
            for i, text in enumerate(texts)
        ]
        tokens = sum(_estimate(str(text)) for text in texts)
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": str(body.get("model", "stub-embedding")),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )


def embed(text: str, *, dimensions: int = 64) -> list[float]:
    """A deterministic unit vector from hashed words: texts sharing words point the same way."""
    vector = [0.0] * dimensions
    for word in re.findall(r"\w+", text.lower()):
        digest = hashlib.sha256(word.encode()).digest()
        vector[int.from_bytes(digest[:4], "big") % dimensions] += 1.0 if digest[4] % 2 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def _failure(fail: Fail) -> Response:
    headers = dict(fail.headers)
    if fail.retry_after is not None:
        headers["retry-after"] = f"{fail.retry_after:g}"
    kind = {400: "invalid_request_error", 401: "invalid_api_key", 429: "rate_limit_exceeded"}
    error = {"message": fail.message, "type": kind.get(fail.status, "server_error"), "code": None}
    return JSONResponse({"error": error}, status_code=fail.status, headers=headers)


async def _sse(
    model: str, content: str, finish_reason: str, usage: dict[str, int] | None
) -> AsyncIterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None, chunk_usage: dict[str, int] | None = None) -> str:
        choices = [] if chunk_usage is not None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        payload = {
            "id": "chatcmpl-stub",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": choices,
            "usage": chunk_usage,
        }
        return f"data: {json.dumps(payload)}\n\n"

    yield chunk({"role": "assistant", "content": ""}, None)
    for piece in re.findall(r"\S+\s*|\s+", content):
        yield chunk({"content": piece}, None)
    yield chunk({}, finish_reason)
    if usage is not None:
        yield chunk({}, None, usage)
    yield "data: [DONE]\n\n"


def _estimate(text: str) -> int:
    return max(1, len(text) // 4)


# --- default replies: what a cooperative model would answer to the analyzer's prompts ---

_TIME = r"\d+(?::\d{2}){1,2}"
_LINE = re.compile(rf"^\[({_TIME})\] (.+)$", re.MULTILINE)
_CANDIDATE = re.compile(rf"^\* \[({_TIME})-({_TIME})\] \(([\w-]+)\) (.*?): (.*)$", re.MULTILINE)
_CHAPTER = re.compile(rf"^# \[({_TIME})\] (.+)$", re.MULTILINE)
_NAMED_SCHEMA = re.compile(r"follows the `(\w+)` JSON schema")
_LENSES = ("key-point", "insight", "how-to", "quote", "number")


def default_reply(body: dict[str, Any]) -> str:
    """A valid reply to the analyzer's prompts, built from the times they show; text otherwise."""
    messages = body.get("messages", [])
    prompt = "\n".join(str(m.get("content") or "") for m in messages if m.get("role") != "assistant")
    name = _schema_name(body)
    if name == "transcript_notes":
        return json.dumps(_notes_reply(prompt))
    if name == "video_analysis":
        return json.dumps(_analysis_reply(prompt))
    last = next((str(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    return f"Stub answer to: {' '.join(last.split())[:200]}"


def _schema_name(body: dict[str, Any]) -> str | None:
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return str(response_format["json_schema"]["name"])
    for message in body.get("messages", []):
        if match := _NAMED_SCHEMA.search(str(message.get("content") or "")):
            return match.group(1)
    return None


def _lines(prompt: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2).strip()) for m in _LINE.finditer(prompt)]


def _candidates(prompt: str) -> list[dict[str, str]]:
    return [
        {
            "start": m.group(1),
            "end": m.group(2),
            "lens": m.group(3),
            "title": m.group(4),
            "description": m.group(5),
        }
        for m in _CANDIDATE.finditer(prompt)
    ]


def _picked(lines: list[tuple[str, str]], count: int) -> list[dict[str, str]]:
    # Evenly spaced lines become highlights, each ending where the next line starts.
    step = max(1, len(lines) // max(1, count))
    picked: list[dict[str, str]] = []
    for n, i in enumerate(range(0, len(lines), step)):
        if len(picked) == count:
            break
        time, text = lines[i]
        end = lines[min(i + 1, len(lines) - 1)][0]
        title = " ".join(text.split()[:6])
        picked.append(
            {
                "start": time,
                "end": end,
                "title": title,
                "description": text,
                "lens": _LENSES[n % len(_LENSES)],
            }
        )
    return picked


def _notes_reply(prompt: str) -> dict[str, Any]:
    lines = _lines(prompt)
    candidates = _candidates(prompt)
    keep = max(1, len(lines) // 3)
    notes = [{"time": time, "text": text} for time, text in lines[:: max(1, len(lines) // keep)]]
    return {"notes": notes, "highlights": candidates or _picked(lines, 2)}


def _analysis_reply(prompt: str) -> dict[str, Any]:
    lines = _lines(prompt)
    own = [(m.group(1), m.group(2).strip()) for m in _CHAPTER.finditer(prompt)]
    summary = " ".join(text for _, text in lines[:3]) or "Nothing was said."
    if own:
        chapters = [{"start": t, "title": title, "summary": f"About {title}."} for t, title in own]
    else:
        marks = lines[:: max(1, len(lines) // 3)] or [("00:00", "Video")]
        chapters = [
            {"start": time, "title": " ".join(text.split()[:4]), "summary": text} for time, text in marks
        ]
    return {"summary": summary, "chapters": chapters, "highlights": _candidates(prompt) or _picked(lines, 3)}
