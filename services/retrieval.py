"""Finding the transcript chunks that answer a question, within what a person may see."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from models import Chunk, LibraryEntry, Transcript, Video
from services.embeddings import Embedder, cosine
from services.search import Dialect
from services.search_query import SearchQuery, Term, parse_query
from services.transcript_text import ENGLISH_STOP_WORDS

MAX_QUESTION_TERMS = 16
CANDIDATES_PER_ANSWER = 4  # full-text candidates per chunk answered with, when embeddings rerank
MAX_CHUNKS_COMPARED = 300  # about seven three-hour videos; beyond, only full-text candidates
RRF_K = 60  # reciprocal rank fusion's usual constant


@dataclass(frozen=True, slots=True)
class Retrieved:
    chunk_id: str
    video_id: str
    video_title: str
    start: float
    end: float
    text: str
    score: float


@dataclass(frozen=True, slots=True)
class Retrieval:
    chunks: list[Retrieved]
    milliseconds: float
    method: str = "full-text"  # "hybrid" when similarity was fused in, "overview" when nothing matched


def _any_of(question: str) -> SearchQuery:
    words = [w for t in parse_query(question).terms for w in t.words if w not in ENGLISH_STOP_WORDS]
    unique = list(dict.fromkeys(words))[:MAX_QUESTION_TERMS]
    return SearchQuery(tuple(Term((w,), prefix=len(w) > 4) for w in unique))


_PG = """
    SELECT ch.id AS id, t.video_id AS video_id, v.title AS title, ch.start AS start, ch."end" AS "end",
           ch.text AS text, ts_rank_cd(ch.search_vector, q) AS rank
    FROM library_entries le JOIN transcripts t ON t.video_id = le.video_id JOIN videos v ON v.id = t.video_id
         JOIN chunks ch ON ch.transcript_id = t.id, to_tsquery('english', ?) q
    WHERE le.user_id = ? AND ch.search_vector @@ q {scope} ORDER BY rank DESC, ch.id LIMIT ?"""
_SQLITE = """
    SELECT ch.id AS id, t.video_id AS video_id, v.title AS title, ch.start AS start, ch."end" AS "end",
           ch.text AS text, -bm25(chunks_fts) AS rank
    FROM chunks_fts JOIN chunks ch ON ch.rowid = chunks_fts.rowid JOIN transcripts t ON t.id = ch.transcript_id
         JOIN videos v ON v.id = t.video_id JOIN library_entries le ON le.video_id = t.video_id AND le.user_id = ?
    WHERE chunks_fts MATCH ? {scope} ORDER BY rank DESC, ch.id LIMIT ?"""


async def retrieve(
    *, user_id: str, video_ids: list[str], question: str, limit: int = 6, embedder: Embedder | None = None
) -> Retrieval:
    """The best chunks for the question from `video_ids` (empty: the whole library) of this user.

    Full-text ranking always; with an embedder, the chunks in reach are ranked by similarity too and
    the two rankings fused (reciprocal rank fusion), so a question worded differently from the
    transcript still finds its passage."""
    began = time.perf_counter()
    hybrid = embedder is not None and embedder.available
    ranked = await _full_text(user_id, video_ids, question, limit=limit * CANDIDATES_PER_ANSWER if hybrid else limit)
    found, method = ranked[:limit], "full-text"
    if hybrid:
        assert embedder is not None
        fused = await _fused(user_id, video_ids, question, ranked, embedder, limit)
        if fused is not None:
            found, method = fused, "hybrid"
    if not found:
        found, method = await _overview(user_id=user_id, video_ids=video_ids, limit=limit), "overview"
    return Retrieval(chunks=found, milliseconds=(time.perf_counter() - began) * 1000, method=method)


async def _full_text(user_id: str, video_ids: list[str], question: str, *, limit: int) -> list[Retrieved]:
    query = _any_of(question)
    if query.empty:
        return []
    scope = ("AND t.video_id IN (" + ", ".join("?" * len(video_ids)) + ")") if video_ids else ""
    db = Dialect()
    if db.postgres:
        any_terms = " | ".join(t.words[0] + (":*" if t.prefix else "") for t in query.terms)
        rows = await db.rows(_PG.format(scope=scope), [any_terms, user_id, *video_ids, limit])
    else:
        any_terms = " OR ".join('"' + t.words[0] + '"' + ("*" if t.prefix else "") for t in query.terms)
        rows = await db.rows(_SQLITE.format(scope=scope), [user_id, any_terms, *video_ids, limit])
    return [
        Retrieved(
            str(r["id"]), str(r["video_id"]), str(r["title"]), float(r["start"]), float(r["end"]), str(r["text"]),
            float(r["rank"] or 0),
        )
        for r in rows
    ]


async def _in_reach(user_id: str, video_ids: list[str]) -> list[Retrieved] | None:
    """Every chunk of the videos in scope, or None when there are too many to compare one by one."""
    entries = LibraryEntry.filter(user_id=user_id)
    if video_ids:
        entries = entries.filter(video_id__in=video_ids)
    videos = [str(v) for v in await entries.values_list("video_id", flat=True)]
    chunks = Chunk.filter(transcript__video_id__in=videos)
    if not videos or await chunks.count() > MAX_CHUNKS_COMPARED:
        return None
    rows = await chunks.values(
        "id", "start", "end", "text", video_id="transcript__video_id", title="transcript__video__title"
    )
    return [
        Retrieved(str(r["id"]), str(r["video_id"]), str(r["title"]), float(r["start"]), float(r["end"]), r["text"], 0.0)
        for r in rows
    ]


async def _fused(
    user_id: str, video_ids: list[str], question: str, full_text: list[Retrieved], embedder: Embedder, limit: int
) -> list[Retrieved] | None:
    asked = await embedder.embed([question])
    if asked is None:
        return None
    pool = {c.chunk_id: c for c in full_text}
    # a large library is reranked from its full-text candidates; a smaller one is compared whole
    for chunk in await _in_reach(user_id, video_ids) or []:
        pool.setdefault(chunk.chunk_id, chunk)
    vectors = await embedder.vectors_of({i: c.text for i, c in pool.items()})
    if not vectors:
        return None
    by_similarity = sorted(vectors, key=lambda i: (-cosine(asked[0], vectors[i]), i))
    fused: dict[str, float] = {}
    for ranking in ([c.chunk_id for c in full_text], by_similarity):
        for rank, chunk_id in enumerate(ranking, 1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
    best = sorted(fused, key=lambda i: (-fused[i], i))[:limit]
    return [dataclasses.replace(pool[i], score=round(fused[i], 6)) for i in best]


async def _overview(*, user_id: str, video_ids: list[str], limit: int) -> list[Retrieved]:
    """Nothing matched (\"what is this about?\"): chunks spread evenly over the videos in scope."""
    entries = LibraryEntry.filter(user_id=user_id)
    if video_ids:
        entries = entries.filter(video_id__in=video_ids)
    in_scope = await entries.order_by("-created_at").limit(3).values_list("video_id", flat=True)
    transcripts = await Transcript.filter(video_id__in=list(in_scope))
    titles = {str(v.id): v.title for v in await Video.filter(id__in=list(in_scope))}
    picked: list[Retrieved] = []
    per_video = max(1, limit // max(1, len(transcripts)))
    for transcript in transcripts:
        chunks = await Chunk.filter(transcript_id=transcript.id).order_by("position")
        step = max(1, len(chunks) // per_video)
        video_id = str(transcript.video_id)  # type: ignore[attr-defined]
        picked += [
            Retrieved(str(c.id), video_id, titles.get(video_id, ""), c.start, c.end, c.text, 0.0)
            for c in chunks[::step][:per_video]
        ]
    return picked[:limit]
