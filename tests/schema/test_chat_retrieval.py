"""Chat retrieval with embeddings: similarity fused with full-text ranking, vectors stored once,
an endpoint without embeddings falls back to full text, and nobody's chunks reach another person."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from models import Chunk, ChunkEmbedding, LibraryEntry, User
from services import chat
from services.embeddings import Embedder
from services.llm import LLMSettings, make_client
from services.pubsub import InMemoryBroker
from services.settings import Settings
from tests.fixture_source import COMPILER_TALK, INDEX_TALK
from tests.helpers import sign_up
from tests.llm_stub import LLMStub, Reply
from tests.schema.test_chat import analysed

# no word of it is in either fixture transcript: full-text search finds nothing
OFF_TRANSCRIPT_QUESTION = "zebras quasars marmalade"


def pointing_at(target_text: str) -> Callable[[str, int], list[float]]:
    """An embedding model that finds `target_text` and the question alike and all else unlike."""

    def embedding(text: str, dimensions: int) -> list[float]:
        vector = [0.0] * dimensions
        if text in (target_text, OFF_TRANSCRIPT_QUESTION):
            vector[0] = 1.0
        else:
            vector[1 + len(text) % (dimensions - 1)] = 1.0
        return vector

    return embedding


@pytest.fixture
async def ask() -> AsyncIterator[Callable[..., Any]]:
    opened: list[Any] = []

    async def ask(stub: LLMStub, user: User, conversation_id: str, question: str, embedder: Embedder | None = None):
        settings = LLMSettings(api_key="sk-test", base_url=stub.base_url, model="stub-model")
        client = make_client(settings)
        opened.append(client)
        embedder = embedder or Embedder(client, "stub-embedding")
        stub.queue(Reply("See [1]."))
        _, answer = await chat.send_message(
            user=user,
            conversation_id=conversation_id,
            content=question,
            answerer=chat.Answerer(client, settings, embedder),
            broker=InMemoryBroker(),
        )
        return answer

    yield ask
    for client in opened:
        await client.close()


async def _chunks_of(youtube_id: str) -> list[Chunk]:
    return await Chunk.filter(transcript__video__youtube_id=youtube_id).order_by("position")


async def test_similar_passage_is_found_when_the_words_differ(client, ask):
    token = await sign_up(client)
    await analysed(client, token, INDEX_TALK)
    user = await User.get(email="ada@example.com")
    chunks = await _chunks_of(INDEX_TALK)
    target = chunks[-1]
    conversation = await chat.start_conversation(user=user, video_ids=[], title=None)
    with LLMStub(embedding=pointing_at(target.text)) as stub:
        answer = await ask(stub, user, str(conversation.id), OFF_TRANSCRIPT_QUESTION)
        [request] = stub.chat_requests
        embedded = [r.body["input"] for r in stub.embedding_requests]
    assert answer.metadata["retrieval"] == "hybrid"
    assert answer.metadata["source_chunk_ids"][0] == str(target.id)
    sources = request.messages[-1]["content"]
    assert target.text in sources.split("\n[2]")[0]  # it is the first source the model sees
    # every chunk of the video was embedded once and stored; the question on its own
    assert sorted(t for batch in embedded for t in batch if t != OFF_TRANSCRIPT_QUESTION) == sorted(
        c.text for c in chunks
    )
    assert await ChunkEmbedding.filter(model="stub-embedding").count() == len(chunks)


async def test_stored_vectors_are_reused_for_the_next_question(client, ask):
    token = await sign_up(client)
    await analysed(client, token, INDEX_TALK)
    user = await User.get(email="ada@example.com")
    conversation = await chat.start_conversation(user=user, video_ids=[], title=None)
    with LLMStub() as stub:
        await ask(stub, user, str(conversation.id), "why is the index not used")
        first = len(stub.embedding_requests)
        answer = await ask(stub, user, str(conversation.id), "what does the planner estimate")
        later = stub.embedding_requests[first:]
    assert answer.metadata["retrieval"] == "hybrid"
    assert [r.body["input"] for r in later] == [["what does the planner estimate"]]


async def test_an_endpoint_without_embeddings_falls_back_to_full_text_and_is_not_asked_again(client, ask, caplog):
    token = await sign_up(client)
    await analysed(client, token, INDEX_TALK)
    user = await User.get(email="ada@example.com")
    conversation = await chat.start_conversation(user=user, video_ids=[], title=None)
    with LLMStub(embeddings=False) as stub:
        settings = LLMSettings(api_key="sk-test", base_url=stub.base_url, model="stub-model")
        embedder_client = make_client(settings)
        try:
            embedder = Embedder(embedder_client, "no-such-model")
            first = await ask(stub, user, str(conversation.id), "why is the index not used", embedder)
            second = await ask(stub, user, str(conversation.id), "what does the planner estimate", embedder)
        finally:
            await embedder_client.close()
        asked = len(stub.embedding_requests)
    assert first.metadata["retrieval"] == second.metadata["retrieval"] == "full-text"
    assert first.metadata["source_chunk_ids"] and "[1]" in first.content
    assert asked == 1  # the 404 turned embeddings off for a while; the second question did not ask
    assert "does not offer embeddings" in caplog.text
    assert await ChunkEmbedding.all().count() == 0


async def test_similarity_never_reaches_another_persons_videos(client, ask):
    ada = await sign_up(client, email="ada@example.com")
    bob = await sign_up(client, email="bob@example.com")
    await analysed(client, ada, INDEX_TALK)
    await analysed(client, bob, COMPILER_TALK)
    bobs_chunks = await _chunks_of(COMPILER_TALK)
    user = await User.get(email="ada@example.com")
    conversation = await chat.start_conversation(user=user, video_ids=[], title=None)
    # the embedding model would rank bob's chunk first, were it in reach
    with LLMStub(embedding=pointing_at(bobs_chunks[0].text)) as stub:
        answer = await ask(stub, user, str(conversation.id), OFF_TRANSCRIPT_QUESTION)
        sent = {t for r in stub.embedding_requests for t in r.body["input"]}
    bobs_ids = {str(c.id) for c in bobs_chunks}
    assert not bobs_ids & set(answer.metadata["source_chunk_ids"])
    assert not {c.text for c in bobs_chunks} & sent
    ada_video = (await LibraryEntry.get(user=user)).video_id
    assert {str(c.id) for c in await Chunk.filter(transcript__video_id=ada_video)} >= set(
        answer.metadata["source_chunk_ids"]
    )


def test_the_embedding_model_is_a_setting_and_empty_turns_it_off():
    assert Settings.from_env({"OPENAI_BASE_URL": "http://llm"}).openai_embedding_model == "text-embedding-3-small"
    assert Settings.from_env({"OPENAI_EMBEDDING_MODEL": "nomic-embed-text"}).openai_embedding_model == (
        "nomic-embed-text"
    )
    assert Settings.from_env({"OPENAI_EMBEDDING_MODEL": ""}).openai_embedding_model is None
    configured = LLMSettings.from_settings(Settings.from_env({"OPENAI_BASE_URL": "http://llm"}))
    assert configured is not None and configured.embedding_model == "text-embedding-3-small"
