"""The deep library query written by hand (Starlette + asyncpg), the baseline bench_library compares with.

`GET /library?first=50` with `Authorization: Bearer <token>` answers the same JSON as vidgraph's
`{ viewer { library(first: 50) { edges { node { id addedAt bookmarked video { id title duration
channel { name } } analysis { id status summary highlights { id start title agentName }
chapters { start title } } } } } } }`, in four statements whatever the page size: the session by
token hash (the same auth cost as vidgraph), the page of entries with their video, channel,
analysis and bookmark flag, then every highlight and every chapter of the page.

Run: `DATABASE_URL=postgres://... python -m uvicorn bench.handwritten:create_app --factory --port 8001`
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

MAX_FIRST = 100

SESSION = "SELECT user_id FROM sessions WHERE token_hash = $1 AND expires_at > now()"
ENTRIES = """
    SELECT le.id, le.created_at, le.video_id, le.analysis_id, v.title, v.duration, v.channel_id,
           c.name AS channel_name, a.status, a.summary,
           EXISTS (SELECT 1 FROM bookmarks b WHERE b.user_id = le.user_id AND b.video_id = le.video_id) AS bookmarked
    FROM library_entries le
    JOIN videos v ON v.id = le.video_id
    LEFT JOIN channels c ON c.id = v.channel_id
    LEFT JOIN analyses a ON a.id = le.analysis_id
    WHERE le.user_id = $1
    ORDER BY le.created_at DESC, le.id DESC
    LIMIT $2"""
HIGHLIGHTS = """
    SELECT analysis_id, id, start, title, agent_name FROM highlights
    WHERE analysis_id = ANY($1::uuid[]) ORDER BY analysis_id, position"""
CHAPTERS = """
    SELECT analysis_id, start, title FROM chapters
    WHERE analysis_id = ANY($1::uuid[]) ORDER BY analysis_id, position"""


def global_id(type_name: str, key: object) -> str:
    """A Relay global ID exactly as strawberry writes it, so the two answers compare byte for byte."""
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status_code=status)


async def library(request: Request) -> JSONResponse:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    raw_first = request.query_params.get("first", "")
    if not raw_first.isdigit() or int(raw_first) > MAX_FIRST:
        return _error(400, "INVALID_INPUT", f"`first` must be between 0 and {MAX_FIRST}.")
    pool: asyncpg.Pool = request.state.pool
    async with pool.acquire() as conn:
        user_id = await conn.fetchval(SESSION, hashlib.sha256(token.encode()).hexdigest()) if token else None
        if scheme.lower() != "bearer" or user_id is None:
            return _error(401, "UNAUTHENTICATED", "The session is invalid or has expired; sign in again.")
        entries = await conn.fetch(ENTRIES, user_id, int(raw_first))
        analysis_ids = [e["analysis_id"] for e in entries if e["analysis_id"] is not None]
        highlights: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        chapters: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        if analysis_ids:
            for h in await conn.fetch(HIGHLIGHTS, analysis_ids):
                highlights[h["analysis_id"]].append({"id": global_id("Highlight", h["id"]), "start": h["start"],
                                                     "title": h["title"], "agentName": h["agent_name"]})
            for c in await conn.fetch(CHAPTERS, analysis_ids):
                chapters[c["analysis_id"]].append({"start": c["start"], "title": c["title"]})
    edges = []
    for e in entries:
        analysis = None
        if e["analysis_id"] is not None:
            analysis = {
                "id": global_id("Analysis", e["analysis_id"]), "status": e["status"], "summary": e["summary"],
                "highlights": highlights[e["analysis_id"]], "chapters": chapters[e["analysis_id"]],
            }
        video = {
            "id": global_id("Video", e["video_id"]), "title": e["title"], "duration": e["duration"],
            "channel": {"name": e["channel_name"]} if e["channel_id"] is not None else None,
        }
        edges.append({"node": {
            "id": global_id("LibraryEntry", e["id"]), "addedAt": e["created_at"].isoformat(),
            "bookmarked": e["bookmarked"], "video": video, "analysis": analysis,
        }})
    return JSONResponse({"data": {"viewer": {"library": {"edges": edges}}}})


def create_app() -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        url = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
        # the same pool size as vidgraph's (Tortoise's default maxsize)
        pool = await asyncpg.create_pool(url, min_size=1, max_size=int(os.environ.get("POOL_SIZE", "5")))
        try:
            yield {"pool": pool}
        finally:
            await pool.close()

    return Starlette(routes=[Route("/library", library)], lifespan=lifespan)
