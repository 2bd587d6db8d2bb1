"""Chunk and question vectors from the configured OpenAI-compatible endpoint, for chat retrieval.

Embeddings are optional: they are used when an LLM endpoint is configured and it answers the
embedding model (`OPENAI_EMBEDDING_MODEL`). An endpoint that does not offer it (404, 400, 403)
turns them off for this process for a while, with one warning; a passing failure (timeout, 5xx
after the client's retries) skips them for that one question. Either way retrieval falls back to
full-text ranking, so a question is never lost to the embedding endpoint.
"""

from __future__ import annotations

import logging
import math
import operator
import time
from array import array
from collections.abc import Sequence

import openai
from tortoise.exceptions import IntegrityError

from models import ChunkEmbedding
from services import metrics

log = logging.getLogger(__name__)

BATCH = 64  # texts per embeddings request
MAX_NEW_PER_QUESTION = 512  # chunks embedded for one question at most; the rest wait for the next
UNAVAILABLE_FOR_SECONDS = 600.0


def pack(vector: Sequence[float]) -> bytes:
    packed = array("f", vector)
    if packed.itemsize != 4:  # pragma: no cover - every platform CPython runs on has 4-byte floats
        raise RuntimeError("float32 arrays are needed")
    return packed.tobytes()


def unpack(blob: bytes) -> array[float]:
    vector = array("f")
    vector.frombytes(blob)
    return vector


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(map(operator.mul, a, b))
    norm = math.sqrt(sum(map(operator.mul, a, a))) * math.sqrt(sum(map(operator.mul, b, b)))
    return dot / norm if norm else 0.0


class Embedder:
    """One per process: the client, the model and whether the endpoint offers it."""

    def __init__(self, client: openai.AsyncOpenAI, model: str) -> None:
        self.client = client
        self.model = model
        self._off_until = 0.0

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._off_until

    async def embed(self, texts: Sequence[str]) -> list[list[float]] | None:
        """Vectors for `texts` in order, or None when embeddings cannot be had now."""
        if not self.available:
            return None
        vectors: list[list[float]] = []
        try:
            for start in range(0, len(texts), BATCH):
                batch = list(texts[start : start + BATCH])
                answer = await self.client.embeddings.create(model=self.model, input=batch)
                ordered = sorted(answer.data, key=lambda d: d.index)
                if len(ordered) != len(batch):
                    raise ValueError(f"{len(ordered)} vectors for {len(batch)} texts")
                vectors += [list(d.embedding) for d in ordered]
                if answer.usage is not None:
                    metrics.count_llm_tokens(
                        model=self.model, purpose="embedding", prompt_tokens=answer.usage.prompt_tokens,
                        completion_tokens=0,
                    )
        except (openai.NotFoundError, openai.BadRequestError, openai.PermissionDeniedError) as error:
            self._off_until = time.monotonic() + UNAVAILABLE_FOR_SECONDS
            log.warning(
                "the LLM endpoint does not offer embeddings with model %s (%s); full-text retrieval only "
                "for the next %d s", self.model, type(error).__name__, UNAVAILABLE_FOR_SECONDS,
            )
            return None
        except (openai.APIError, ValueError) as error:
            log.warning("embeddings failed for this question, full-text retrieval only: %r", error)
            return None
        return vectors

    async def vectors_of(self, chunks: dict[str, str]) -> dict[str, array[float]]:
        """Stored vectors of these chunks (id → text), embedding and storing the missing ones."""
        ids = list(chunks)
        stored = {
            str(row["chunk_id"]): unpack(row["vector"])
            for row in await ChunkEmbedding.filter(chunk_id__in=ids, model=self.model).values("chunk_id", "vector")
        }
        missing = [i for i in ids if i not in stored][:MAX_NEW_PER_QUESTION]
        if missing:
            made = await self.embed([chunks[i] for i in missing])
            if made is None:
                return stored
            rows = [
                ChunkEmbedding(chunk_id=i, model=self.model, dimensions=len(v), vector=pack(v))
                for i, v in zip(missing, made, strict=True)
            ]
            try:
                await ChunkEmbedding.bulk_create(rows, ignore_conflicts=True)
            except IntegrityError:  # a chunk deleted meanwhile; the vectors still serve this question
                log.info("some embeddings were not stored: their chunks are gone")
            stored.update({i: array("f", v) for i, v in zip(missing, made, strict=True)})
        return stored
