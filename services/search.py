"""Search across one person's library: titles, URLs, channels, highlights and transcript lines.

PostgreSQL ranks with stored tsvectors under GIN indexes; SQLite with FTS5 and bm25. Each kind
of hit is ranked in its own query, weighted, merged, and transcript hits are pinned to the line
that matched, with its timestamp.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from tortoise import connections

from services.errors import ErrorCode, ServiceError
from services.search_match import Matcher
from services.search_query import SearchQuery, Term, parse_query
from services.youtube_urls import parse_youtube_url

# hits come grouped in this order (a title match says more than a highlight, and a highlight
# more than one transcript line), each group ranked by its engine's score
KINDS = ("video", "channel", "highlight", "transcript")
SNIPPET_CHARS = 220
MAX_QUERY_LENGTH = 500
MAX_OFFSET = 10_000


@dataclass(frozen=True, slots=True)
class SearchHit:
    kind: str  # video | channel | highlight | transcript
    video_id: str
    score: float
    snippet: str
    seconds: float | None = None
    highlight_id: str | None = None
    row_key: str = ""


@dataclass(frozen=True, slots=True)
class SearchPage:
    hits: list[SearchHit]
    has_next_page: bool


def _query(text: str) -> SearchQuery:
    if len(text) > MAX_QUERY_LENGTH:
        raise ServiceError(
            ErrorCode.INVALID_INPUT, f"A search has at most {MAX_QUERY_LENGTH} characters.", field="query"
        )
    try:
        # a pasted video link finds that video
        return SearchQuery((Term((parse_youtube_url(text).lower(),)),))
    except ServiceError:
        pass
    query = parse_query(text)
    if query.empty:
        raise ServiceError(ErrorCode.INVALID_INPUT, "Search for at least one word.", field="query")
    return query


MAX_NUMBERED = 512
_numbered: dict[str, str] = {}


class Dialect:
    def __init__(self) -> None:
        self.conn = connections.get("default")
        self.postgres = self.conn.capabilities.dialect == "postgres"

    def params(self, sql: str) -> str:
        """`?` placeholders as PostgreSQL's `$1, $2, ...`; the same few statements come again and
        again (a loader's for each page size), so each is rewritten once."""
        if not self.postgres:
            return sql
        numbered = _numbered.get(sql)
        if numbered is None:
            count = 0

            def number(_: re.Match[str]) -> str:
                nonlocal count
                count += 1
                return f"${count}"

            if len(_numbered) >= MAX_NUMBERED:
                _numbered.clear()
            numbered = _numbered[sql] = re.sub(r"\?", number, sql)
        return numbered

    async def rows(self, sql: str, values: list[Any]) -> list[dict[str, Any]]:
        return list(await self.conn.execute_query_dict(self.params(sql), values))


_PG = {
    "video": """
        SELECT v.id AS id, v.id AS video_id, v.title AS text, ts_rank_cd(v.search_vector, q) AS rank
        FROM library_entries le JOIN videos v ON v.id = le.video_id, to_tsquery('english', ?) q
        WHERE le.user_id = ? AND v.search_vector @@ q ORDER BY rank DESC, v.id LIMIT ?""",
    "highlight": """
        SELECT h.id AS id, le.video_id AS video_id, h.start AS start, h.title || ' — ' || h.description AS text,
               ts_rank_cd(h.search_vector, q) AS rank
        FROM library_entries le JOIN highlights h ON h.analysis_id = le.analysis_id, to_tsquery('english', ?) q
        WHERE le.user_id = ? AND h.search_vector @@ q ORDER BY rank DESC, h.id LIMIT ?""",
    # Ranking reads every matching chunk's tsvector; for a word said in most of a large library that
    # is tens of thousands of reads. So at most 500 matching chunks are ranked,
    # found through the GIN index without reading a vector (the materialized CTE keeps the planner
    # from a sequential scan); a rarer query is ranked whole, as before.
    "transcript": """
        WITH q AS MATERIALIZED (SELECT to_tsquery('english', ?) AS q),
        candidates AS MATERIALIZED (
            SELECT ch.id FROM library_entries le
            JOIN transcripts t ON t.video_id = le.video_id
            JOIN chunks ch ON ch.transcript_id = t.id, q
            WHERE le.user_id = ? AND ch.search_vector @@ q.q
            LIMIT 500)
        SELECT ch.id AS id, t.video_id AS video_id, ch.transcript_id AS transcript_id, ch.start AS start,
               ch.first_segment AS first_segment, ch.last_segment AS last_segment,
               ts_rank_cd(ch.search_vector, q.q) AS rank
        FROM candidates c JOIN chunks ch ON ch.id = c.id JOIN transcripts t ON t.id = ch.transcript_id, q
        ORDER BY rank DESC, ch.id LIMIT ?""",
}
_SQLITE = {
    "video": """
        SELECT v.id AS id, v.id AS video_id, v.title AS text, -bm25(videos_fts) AS rank
        FROM videos_fts JOIN videos v ON v.rowid = videos_fts.rowid
             JOIN library_entries le ON le.video_id = v.id AND le.user_id = ?
        WHERE videos_fts MATCH ? ORDER BY rank DESC, v.id LIMIT ?""",
    "highlight": """
        SELECT h.id AS id, le.video_id AS video_id, h.start AS start, h.title || ' — ' || h.description AS text,
               -bm25(highlights_fts) AS rank
        FROM highlights_fts JOIN highlights h ON h.rowid = highlights_fts.rowid
             JOIN library_entries le ON le.analysis_id = h.analysis_id AND le.user_id = ?
        WHERE highlights_fts MATCH ? ORDER BY rank DESC, h.id LIMIT ?""",
    "transcript": """
        SELECT ch.id AS id, t.video_id AS video_id, ch.transcript_id AS transcript_id, ch.start AS start,
               ch.first_segment AS first_segment, ch.last_segment AS last_segment, -bm25(chunks_fts) AS rank
        FROM chunks_fts JOIN chunks ch ON ch.rowid = chunks_fts.rowid
             JOIN transcripts t ON t.id = ch.transcript_id
             JOIN library_entries le ON le.video_id = t.video_id AND le.user_id = ?
        WHERE chunks_fts MATCH ? ORDER BY rank DESC, ch.id LIMIT ?""",
}
_CHANNELS = """
    SELECT v.id AS video_id, c.name AS name FROM library_entries le
    JOIN videos v ON v.id = le.video_id JOIN channels c ON c.id = v.channel_id
    WHERE le.user_id = ? ORDER BY v.title, v.id"""


async def search(*, user_id: str, text: str, first: int, offset: int) -> SearchPage:
    if offset > MAX_OFFSET:
        raise ServiceError(ErrorCode.INVALID_INPUT, f"Search pages end after {MAX_OFFSET} hits.", field="after")
    query = _query(text)
    matcher = Matcher(query)
    db = Dialect()
    limit = offset + first + 1
    grouped: dict[str, list[SearchHit]] = {kind: [] for kind in KINDS}

    def kind_rows(kind: str) -> Awaitable[list[dict[str, Any]]]:
        # overlapping chunks can name the same line twice: fetch more lines than the page needs
        wanted = limit * 2 if kind == "transcript" else limit
        if db.postgres:
            return db.rows(_PG[kind], [query.tsquery(), user_id, wanted])
        return db.rows(_SQLITE[kind], [user_id, query.without_stop_words().fts5(), wanted])

    # the statements are independent: on PostgreSQL each runs on its own pooled connection at once
    *found, channel_rows = await asyncio.gather(
        *(kind_rows(kind) for kind in ("video", "highlight", "transcript")), db.rows(_CHANNELS, [user_id])
    )
    for kind, rows in zip(("video", "highlight", "transcript"), found, strict=True):
        grouped[kind] = [
            SearchHit(
                kind=kind,
                video_id=str(row["video_id"]),
                score=float(row["rank"] or 0),
                snippet=str(row.get("text") or ""),
                seconds=row.get("start"),
                highlight_id=str(row["id"]) if kind == "highlight" else None,
                row_key=(
                    f"{row['transcript_id']}:{row['first_segment']}:{row['last_segment']}"
                    if kind == "transcript"
                    else str(row["id"])
                ),
            )
            for row in rows
        ]
    # channel names are few per library: matched here by the same rules, whatever their alphabet
    names = _ChannelNames(matcher, query)
    grouped["channel"] = [
        SearchHit(
            kind="channel",
            video_id=str(row["video_id"]),
            score=1.0,
            snippet=str(row["name"]),
            row_key=str(row["video_id"]),
        )
        for row in channel_rows
        if names.match(str(row["name"]))
    ][:limit]
    # transcript hits come last: pin only as many as the page can still show (twice that many
    # chunks, as overlapping chunks can name one line), none when the other kinds fill it
    needed = limit - sum(len(grouped[kind]) for kind in KINDS if kind != "transcript")
    candidates = grouped["transcript"][: 2 * needed] if needed > 0 else []
    grouped["transcript"] = await _pin_transcript_lines(db, candidates, matcher, query)
    hits = [hit for kind in KINDS for hit in grouped[kind]]
    page = [
        hit
        if hit.kind == "transcript"
        else _with_snippet(hit, matcher.mark(matcher.window(hit.snippet, SNIPPET_CHARS)))
        for hit in hits[offset : offset + first]
    ]
    return SearchPage(hits=page, has_next_page=len(hits) > offset + first)


def _with_snippet(hit: SearchHit, snippet: str) -> SearchHit:
    return SearchHit(hit.kind, hit.video_id, hit.score, snippet, hit.seconds, hit.highlight_id, hit.row_key)


class _ChannelNames:
    """Whether a channel name has every term of the query; a library repeats few names many times."""

    def __init__(self, matcher: Matcher, query: SearchQuery) -> None:
        self._matcher = matcher
        self._each = [Matcher(SearchQuery((term,))) for term in query.terms]
        self._decided: dict[str, bool] = {}

    def match(self, name: str) -> bool:
        known = self._decided.get(name)
        if known is None:
            known = self._decided[name] = all(m.count(name) for m in self._each) and self._matcher.count(name) > 0
        return known


# One text whatever the number of ranges (they travel as three arrays), so PostgreSQL plans it once
# per connection. The matching lines are found by their stored vectors (the query made once, not once
# per line); then those lines and their neighbours are read, for the snippet.
_MATCHING_LINES = """
    WITH matching AS (
        SELECT s.transcript_id, s.position
        FROM unnest($2::uuid[], $3::int[], $4::int[]) AS r(transcript_id, low, high)
        JOIN segments s ON s.transcript_id = r.transcript_id AND s.position BETWEEN r.low AND r.high,
        (SELECT to_tsquery('english', $1) AS q) q
        WHERE s.search_vector @@ q.q)
    SELECT s.transcript_id, s.position, s.start, s.text, bool_or(s.position = m.position) AS matched
    FROM matching m
    JOIN segments s ON s.transcript_id = m.transcript_id AND s.position BETWEEN m.position - 1 AND m.position + 1
    GROUP BY s.transcript_id, s.position, s.start, s.text"""


def _disjoint(ranges: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """The same lines as these ranges (overlapping chunks share lines), as few disjoint ranges."""
    merged: list[tuple[str, int, int]] = []
    for transcript_id, low, high in sorted(ranges):
        if merged and merged[-1][0] == transcript_id and low <= merged[-1][2] + 1:
            merged[-1] = (transcript_id, merged[-1][1], max(merged[-1][2], high))
        else:
            merged.append((transcript_id, low, high))
    return merged


async def _lines(
    db: Dialect, ranges: list[tuple[str, int, int]], query: SearchQuery | None
) -> tuple[dict[tuple[str, int], tuple[float, str]], set[tuple[str, int]]]:
    """The lines of these ranges and their neighbours; and which of them match, when the database
    can tell (PostgreSQL: only matching lines and their neighbours travel; else every line does)."""
    lines: dict[tuple[str, int], tuple[float, str]] = {}
    # each range with its neighbours, for the snippet
    ranges = _disjoint([(transcript_id, low - 1, high + 1) for transcript_id, low, high in ranges])
    if query is not None:
        matched: set[tuple[str, int]] = set()
        arrays = [[uuid.UUID(r[0]) for r in ranges], [r[1] for r in ranges], [r[2] for r in ranges]]
        for row in await db.conn.execute_query_dict(_MATCHING_LINES, [query.tsquery(), *arrays]):
            key = (str(row["transcript_id"]), int(row["position"]))
            lines[key] = (float(row["start"]), str(row["text"]))
            if row["matched"]:
                matched.add(key)
        return lines, matched
    where = " OR ".join(["(transcript_id = ? AND position BETWEEN ? AND ?)"] * len(ranges))
    values = [value for r in ranges for value in r]
    sql = f"SELECT transcript_id, position, start, text FROM segments WHERE {where}"  # noqa: S608 (placeholders only)
    for row in await db.rows(sql, values):
        lines[(str(row["transcript_id"]), int(row["position"]))] = (float(row["start"]), str(row["text"]))
    return lines, set(lines)


async def _pin_transcript_lines(
    db: Dialect, hits: list[SearchHit], matcher: Matcher, query: SearchQuery
) -> list[SearchHit]:
    """Each transcript hit points at the line that matched, with its neighbours as snippet;
    a line found through two overlapping chunks is kept once."""
    ranges = [(t, int(low), int(high)) for t, low, high in (h.row_key.split(":") for h in hits)]
    lines: dict[tuple[str, int], tuple[float, str]] = {}
    matched: set[tuple[str, int]] = set()
    if ranges:
        lines, matched = await _lines(db, ranges, query if db.postgres else None)
        # a chunk none of whose lines matches alone (a phrase across two lines): all its lines
        unmatched = [r for r in ranges if not any((r[0], p) in matched for p in range(r[1], r[2] + 1))]
        if unmatched:
            more, _ = await _lines(db, unmatched, None)
            lines.update({k: v for k, v in more.items() if k not in matched})
            matched.update(more)
    pinned: list[SearchHit] = []
    seen: set[tuple[str, int]] = set()
    for hit, (transcript_id, low, high) in zip(hits, ranges, strict=True):
        candidates = [(transcript_id, p) for p in range(low, high + 1) if (transcript_id, p) in matched]
        if not candidates:
            continue
        # the line with the most matching words; the earliest of equals
        best = max(candidates, key=lambda key: (matcher.count(lines[key][1]), -key[1]))
        if best in seen:
            continue
        seen.add(best)
        around = " ".join(
            lines[(transcript_id, p)][1] for p in (best[1] - 1, best[1], best[1] + 1) if (transcript_id, p) in lines
        )
        snippet = matcher.mark(matcher.window(around, SNIPPET_CHARS))
        pinned.append(
            SearchHit(
                "transcript", hit.video_id, hit.score, snippet, lines[best][0], None, f"{transcript_id}:{best[1]}"
            )
        )
    return pinned
