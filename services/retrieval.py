"""Finding the transcript chunks that answer a question, within what a person may see."""

from __future__ import annotations

import time
from dataclasses import dataclass

from models import Chunk, LibraryEntry, Transcript, Video
from services.search import Dialect
from services.search_query import SearchQuery, Term, parse_query
from services.transcript_text import ENGLISH_STOP_WORDS

MAX_QUESTION_TERMS = 16


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


async def retrieve(*, user_id: str, video_ids: list[str], question: str, limit: int = 6) -> Retrieval:
    """The best chunks for the question from `video_ids` (empty: the whole library) of this user."""
    began = time.perf_counter()
    query = _any_of(question)
    scope = ("AND t.video_id IN (" + ", ".join("?" * len(video_ids)) + ")") if video_ids else ""
    found: list[Retrieved] = []
    if not query.empty:
        db = Dialect()
        if db.postgres:
            any_terms = " | ".join(t.words[0] + (":*" if t.prefix else "") for t in query.terms)
            rows = await db.rows(_PG.format(scope=scope), [any_terms, user_id, *video_ids, limit])
        else:
            any_terms = " OR ".join('"' + t.words[0] + '"' + ("*" if t.prefix else "") for t in query.terms)
            rows = await db.rows(_SQLITE.format(scope=scope), [user_id, any_terms, *video_ids, limit])
        found = [
            Retrieved(
                str(r["id"]),
                str(r["video_id"]),
                str(r["title"]),
                float(r["start"]),
                float(r["end"]),
                str(r["text"]),
                float(r["rank"] or 0),
            )
            for r in rows
        ]
    if not found:
        found = await _overview(user_id=user_id, video_ids=video_ids, limit=limit)
    return Retrieval(chunks=found, milliseconds=(time.perf_counter() - began) * 1000)


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
