"""Search across the viewer's library, down to the transcript line."""

from __future__ import annotations

import enum

import strawberry

from resolvers import search as resolvers
from schema.context import Info
from schema.nodes import Connection
from schema.videos import Highlight, Video
from services.search import SearchHit as Hit
from services.timestamps import format_timestamp


@strawberry.enum(description="What a search hit matched.")
class SearchHitKind(enum.Enum):
    VIDEO = "video"
    CHANNEL = "channel"
    HIGHLIGHT = "highlight"
    TRANSCRIPT = "transcript"


@strawberry.type(description="One match: a video title or URL, a channel, a highlight, or a transcript line.")
class SearchHit:
    kind: SearchHitKind = strawberry.field(
        description="What matched; hits come grouped by kind, VIDEO first and TRANSCRIPT last."
    )
    snippet: str = strawberry.field(description="The matching text, matched words wrapped in <mark>…</mark>.")
    seconds: float | None = strawberry.field(description="Where to jump to, for highlight and transcript hits.")
    score: float = strawberry.field(
        description="Relevance within its kind, higher is better; not comparable across kinds."
    )
    video_id: strawberry.Private[str]
    highlight_id: strawberry.Private[str | None]

    @classmethod
    def from_hit(cls, hit: Hit) -> SearchHit:
        return cls(
            kind=SearchHitKind(hit.kind),
            snippet=hit.snippet,
            seconds=hit.seconds,
            score=round(hit.score, 6),
            video_id=hit.video_id,
            highlight_id=hit.highlight_id,
        )

    @strawberry.field(description="`seconds` as mm:ss or h:mm:ss.")
    def timestamp(self) -> str | None:
        return format_timestamp(self.seconds) if self.seconds is not None else None

    @strawberry.field(description="The video the hit is in, or the video of the channel matched.")
    async def video(self, info: Info) -> Video:
        return Video.from_model(await info.context.loaders.video_by_id.load(self.video_id))

    @strawberry.field(description="The highlight matched, for kind HIGHLIGHT; null for other kinds.")
    async def highlight(self, info: Info) -> Highlight | None:
        if self.highlight_id is None:
            return None
        row = await info.context.loaders.highlight_by_id.load(self.highlight_id)
        return Highlight.from_model(row, video_id=self.video_id) if row else None


@strawberry.type
class SearchQueries:
    @strawberry.field(description="Ranked matches in your library: titles, URLs, channels, highlights and transcripts.")
    async def search(self, info: Info, query: str, first: int, after: str | None = None) -> Connection[SearchHit]:  # type: ignore[type-var]  # hits are not nodes, yet page like them
        page = await resolvers.search(info, query=query, first=first, after=after)
        return Connection[SearchHit].from_page(page, SearchHit.from_hit)  # type: ignore[type-var]
