"""Conversations with videos: answers from retrieved transcript chunks, with checked citations.

The question is stored, the best chunks are retrieved, and the answer is written by the LLM (or,
without one, quoted from the passages), streamed as deltas to subscribers, then stored with the
citations it makes. A citation must name a chunk retrieved for this answer; anything else is
dropped before it is stored.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tortoise.transactions import in_transaction

from models import Citation, Conversation, LibraryEntry, Message, MessageRole, User, Video
from services import metrics
from services.errors import ErrorCode, ServiceError
from services.retrieval import Retrieved, retrieve
from services.timestamps import format_timestamp

if TYPE_CHECKING:
    import openai

    from services.embeddings import Embedder
    from services.llm import LLMSettings
    from services.pubsub import Broker

CONTEXT_MESSAGES = 10
MAX_QUESTION_CHARS = 4000
TITLE_CHARS = 80
_CITATION = re.compile(r"\[(\d{1,3})\]")


def channel_of(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"


@dataclass(frozen=True, slots=True)
class Answerer:
    """How answers are written: an LLM endpoint, or (client None) quoting the passages."""

    client: openai.AsyncOpenAI | None
    settings: LLMSettings | None
    embedder: Embedder | None = None  # ranks passages by similarity too, when the endpoint offers it


async def _videos_in_library(user: User, video_ids: Sequence[str]) -> list[str]:
    owned = await LibraryEntry.filter(user_id=user.id, video_id__in=list(video_ids)).values_list("video_id", flat=True)
    owned_ids = {str(v) for v in owned}
    missing = [v for v in video_ids if v not in owned_ids]
    if missing:
        raise ServiceError(ErrorCode.NOT_FOUND, "A video is not in your library.", field="videoIds")
    return list(dict.fromkeys(video_ids))


async def start_conversation(*, user: User, video_ids: Sequence[str], title: str | None) -> Conversation:
    videos = await _videos_in_library(user, video_ids)
    async with in_transaction():
        conversation = await Conversation.create(user=user, title=(title or "").strip()[:500] or None)
        if videos:
            await conversation.videos.add(*await Video.filter(id__in=videos))
    return conversation


async def own_conversation(user: User, conversation_id: str) -> Conversation:
    conversation = await Conversation.get_or_none(id=conversation_id, user_id=user.id)
    if conversation is None:
        raise ServiceError(ErrorCode.NOT_FOUND, "No such conversation.", field="conversationId")
    return conversation


async def rename_conversation(*, user: User, conversation_id: str, title: str) -> Conversation:
    conversation = await own_conversation(user, conversation_id)
    cleaned = title.strip()
    if not cleaned:
        raise ServiceError(ErrorCode.INVALID_INPUT, "A title cannot be empty.", field="title")
    conversation.title = cleaned[:500]
    await conversation.save(update_fields=["title", "updated_at"])
    return conversation


async def delete_conversation(*, user: User, conversation_id: str) -> None:
    conversation = await own_conversation(user, conversation_id)
    await conversation.delete()  # messages and citations go with it (cascade)


def title_from(question: str) -> str:
    words, title = question.split(), ""
    for word in words:
        if len(title) + len(word) + 1 > TITLE_CHARS:
            return title.rstrip(" ,.;:") + "…"
        title = f"{title} {word}".strip()
    return title.rstrip(" ,;:")


def _sources(chunks: list[Retrieved]) -> str:
    return "\n\n".join(
        f"[{i}] {c.video_title} ({format_timestamp(c.start)}-{format_timestamp(c.end)}):\n{c.text}"
        for i, c in enumerate(chunks, 1)
    )


SYSTEM_PROMPT = (
    "You answer questions about videos using only the numbered transcript sources given. "
    "Cite every claim with the source number in square brackets, like [2]. If the sources do not "
    "contain the answer, say so. Be concise."
)


async def _llm_answer(
    answerer: Answerer, history: list[Message], question: str, chunks: list[Retrieved]
) -> AsyncIterator[str | dict[str, int]]:
    from services.llm import Usage, stream_chat

    assert answerer.client is not None and answerer.settings is not None
    messages: list[Any] = [{"role": "system", "content": SYSTEM_PROMPT}]
    messages += [{"role": m.role.value, "content": m.content} for m in history]
    messages.append({"role": "user", "content": f"Sources:\n{_sources(chunks)}\n\nQuestion: {question}"})
    async for piece in stream_chat(client=answerer.client, model=answerer.settings.model, messages=messages):
        if isinstance(piece, Usage):
            metrics.count_llm_tokens(
                model=answerer.settings.model,
                purpose="chat",
                prompt_tokens=piece.prompt_tokens,
                completion_tokens=piece.completion_tokens,
            )
            yield {"prompt_tokens": piece.prompt_tokens, "completion_tokens": piece.completion_tokens}
        else:
            yield piece


def _best_sentences(text: str, question: str, limit: int = 2) -> str:
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]
    words = {w for w in re.findall(r"\w+", question.lower()) if len(w) > 3}
    ranked = sorted(sentences, key=lambda s: -sum(w in s.lower() for w in words))
    chosen = [s for s in sentences if s in ranked[:limit]] or sentences[:limit]
    quote = " ".join(chosen)
    return quote if len(quote) <= 320 else quote[:317].rstrip() + "…"


async def _quoted_answer(question: str, chunks: list[Retrieved]) -> AsyncIterator[str | dict[str, int]]:
    if not chunks:
        yield "I found nothing about that in these videos."
        return
    lines = ["Here is what the videos say:"]
    for i, chunk in enumerate(chunks[:3], 1):
        quote = _best_sentences(chunk.text, question)
        lines.append(f"\n- “{chunk.video_title}” at {format_timestamp(chunk.start)}: “{quote}” [{i}]")
    for word in re.findall(r"\S+\s*", "".join(lines)):
        yield word
        await asyncio.sleep(0)


def check_citations(answer: str, chunks: list[Retrieved]) -> tuple[str, list[int]]:
    """The answer without invented source numbers, and the valid ones in order of first use."""
    used: list[int] = []

    def keep(match: re.Match[str]) -> str:
        number = int(match.group(1))
        if 1 <= number <= len(chunks):
            if number not in used:
                used.append(number)
            return match.group(0)
        return ""

    return _CITATION.sub(keep, answer).replace("  ", " ").strip(), used


async def send_message(
    *, user: User, conversation_id: str, content: str, answerer: Answerer, broker: Broker
) -> tuple[Message, Message]:
    question = content.strip()
    if not question:
        raise ServiceError(ErrorCode.INVALID_INPUT, "Ask something.", field="content")
    if len(question) > MAX_QUESTION_CHARS:
        raise ServiceError(
            ErrorCode.INVALID_INPUT, f"A message has at most {MAX_QUESTION_CHARS} characters.", field="content"
        )
    conversation = await own_conversation(user, conversation_id)
    cid = str(conversation.id)
    history = list(
        reversed(await Message.filter(conversation_id=cid).order_by("-created_at", "-id").limit(CONTEXT_MESSAGES))
    )
    asked = await Message.create(conversation_id=cid, role=MessageRole.USER, content=question)
    if not conversation.title:
        conversation.title = title_from(question)
    await conversation.save(update_fields=["title", "updated_at"])
    scope = [str(v) for v in await conversation.videos.all().values_list("id", flat=True)]
    # videos taken out of the library since the conversation began are out of reach too
    scope = [v for v in scope if await LibraryEntry.filter(user_id=user.id, video_id=v).exists()] if scope else []
    if await conversation.videos.all().count() and not scope:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            "The videos of this conversation are no longer in your library.",
            field="conversationId",
        )
    retrieval = await retrieve(user_id=str(user.id), video_ids=scope, question=question, embedder=answerer.embedder)
    pieces = (
        _llm_answer(answerer, history, question, retrieval.chunks)
        if answerer.client
        else _quoted_answer(question, retrieval.chunks)
    )
    written: list[str] = []
    usage: dict[str, int] = {}
    async for piece in pieces:
        if isinstance(piece, dict):
            usage = piece
            continue
        written.append(piece)
        await broker.publish(channel_of(cid), {"kind": "delta", "delta": piece, "question_id": str(asked.id)})
    answer, used = check_citations("".join(written), retrieval.chunks)
    cited = [retrieval.chunks[n - 1] for n in used]
    metadata = {
        "source_chunk_ids": [c.chunk_id for c in retrieval.chunks],
        "retrieval_ms": round(retrieval.milliseconds, 2),
        "retrieval": retrieval.method,
        "model": answerer.settings.model if answerer.client and answerer.settings else "local",
        **usage,
    }
    async with in_transaction():
        reply = await Message.create(conversation_id=cid, role=MessageRole.ASSISTANT, content=answer, metadata=metadata)
        await Citation.bulk_create(
            [
                Citation(
                    message_id=reply.id,
                    chunk_id=c.chunk_id,
                    video_id=c.video_id,
                    position=i,
                    start=c.start,
                    end=c.end,
                    quote=_best_sentences(c.text, question, limit=1),
                )
                for i, c in enumerate(cited)
            ]
        )
        await Conversation.filter(id=cid).update(updated_at=reply.created_at)
    await broker.publish(
        channel_of(cid), {"kind": "message", "message_id": str(reply.id), "question_id": str(asked.id)}
    )
    return asked, reply
