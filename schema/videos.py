"""Videos, channels, analyses, highlights and chapters as the API shows them.

A video and everything about it is visible to a person only while it is in their library.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import relay

from models import Analysis as AnalysisModel
from models import AnalysisStatus as AnalysisStatusModel
from models import Channel as ChannelModel
from models import Chapter as ChapterModel
from models import Highlight as HighlightModel
from models import Video as VideoModel
from resolvers import videos as resolvers
from resolvers.rows import AnalysisRow, BookmarkRow, ChannelRow, ChapterRow, HighlightRow, LibraryEntryRow, VideoRow
from schema.context import Info
from schema.errors import UserError
from schema.nodes import node_resolver
from schema.related import Related
from services.timestamps import format_timestamp

if TYPE_CHECKING:
    from schema.library import Bookmark, LibraryEntry

AnalysisStatus = strawberry.enum(
    AnalysisStatusModel, name="AnalysisStatus", description="Where an analysis job stands."
)


# Relation fields, each a key of the parent looked up by one of the operation's DataLoaders
# (schema/related.py); the converters run when a field is resolved, after every class exists.


def _bookmarks_of(_video: Video, rows: list[BookmarkRow]) -> list[Bookmark]:
    from schema.library import Bookmark

    return [Bookmark.from_model(b) for b in rows]


def _entry_of(_video: Video, row: LibraryEntryRow | None) -> LibraryEntry | None:
    from schema.library import LibraryEntry

    return LibraryEntry.from_model(row) if row else None


VIDEO_OF = Related("video_by_id", "video_id", lambda _parent, row: Video.from_model(row))
BOOKMARKED = Related("bookmarks_by_video_id", "video_id", lambda _parent, rows: bool(rows))
_HIGHLIGHTS = Related(
    "highlights_by_analysis_id", "id",
    lambda analysis, rows: [Highlight.from_model(h, video_id=analysis.video_id) for h in rows],
)
_CHAPTERS = Related("chapters_by_analysis_id", "id", lambda _analysis, rows: [Chapter.from_model(c) for c in rows])
_CHANNEL = Related("channel_by_id", "channel_id", lambda _video, row: Channel.from_model(row) if row else None)
_BOOKMARKED = Related("bookmarks_by_video_id", "id", lambda _video, rows: bool(rows))
_BOOKMARKS = Related("bookmarks_by_video_id", "id", _bookmarks_of)
_LIBRARY_ENTRY = Related("library_entry_by_video_id", "id", _entry_of)


@strawberry.type(description="A YouTube channel.")
class Channel(relay.Node):
    id: relay.NodeID[str]
    name: str = strawberry.field(description="The channel's name as YouTube shows it.")
    url: str | None = strawberry.field(description="The channel's page on YouTube; null when the source gave none.")
    follower_count: int | None = strawberry.field(
        description="Subscribers when the metadata was fetched; null when unknown or hidden."
    )

    @classmethod
    def from_model(cls, m: ChannelModel | ChannelRow) -> Channel:
        return cls(id=str(m.id), name=m.name, url=m.url, follower_count=m.follower_count)


@strawberry.type(description="A moment worth watching, found by an analysis.")
class Highlight(relay.Node):
    id: relay.NodeID[str]
    start: float = strawberry.field(description="Seconds from the start of the video.")
    end: float = strawberry.field(description="Where the moment ends, in seconds from the start of the video.")
    title: str = strawberry.field(description="A short headline for the moment.")
    description: str = strawberry.field(description="What happens in it and why it matters, in a sentence or two.")
    agent_name: str = strawberry.field(description="The lens that found it, e.g. key-point or insight.")
    video_id: strawberry.Private[str]

    @classmethod
    def from_model(cls, m: HighlightModel | HighlightRow, *, video_id: str) -> Highlight:
        return cls(
            id=str(m.id),
            start=m.start,
            end=m.end,
            title=m.title,
            description=m.description,
            agent_name=m.agent_name,
            video_id=video_id,
        )

    @strawberry.field(description="`start` as mm:ss, or h:mm:ss past the first hour.")
    def timestamp(self) -> str:
        return format_timestamp(self.start)


@strawberry.type(description="A part of the video, from the uploader or from topic shifts.")
class Chapter:
    start: float = strawberry.field(description="Where the chapter begins, in seconds from the start of the video.")
    end: float = strawberry.field(description="Where it ends, in seconds from the start of the video.")
    title: str = strawberry.field(description="The uploader's chapter title, or one written by the analyzer.")
    summary: str = strawberry.field(description="What the chapter covers; empty when it holds no speech.")

    @classmethod
    def from_model(cls, m: ChapterModel | ChapterRow) -> Chapter:
        return cls(start=m.start, end=m.end, title=m.title, summary=m.summary)

    @strawberry.field(description="`start` as mm:ss, or h:mm:ss past the first hour.")
    def timestamp(self) -> str:
        return format_timestamp(self.start)


@strawberry.type(description="Tokens an LLM analysis used; zero for the local analyzer.")
class TokenUsage:
    prompt_tokens: int = strawberry.field(description="Tokens sent to the LLM.")
    completion_tokens: int = strawberry.field(description="Tokens the LLM wrote back.")

    @strawberry.field(description="promptTokens + completionTokens.")
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@strawberry.type(description="One analysis job of a video and its results.")
class Analysis(relay.Node):
    id: relay.NodeID[str]
    status: AnalysisStatus = strawberry.field(description="Where the job stands now.")  # type: ignore[valid-type]
    progress: float = strawberry.field(description="0..1 while ANALYZING (chunks done / total).")
    summary: str = strawberry.field(description="A summary of the whole video; empty until the analysis is COMPLETED.")
    analyzer: str = strawberry.field(
        description="What analysed it and which version: `local:1` for the built-in analyzer, "
        "else the LLM's model and prompt version."
    )
    model: str = strawberry.field(
        description="The LLM that wrote the results; empty for the local analyzer and until the analysis completes."
    )
    language: str | None = strawberry.field(
        description="The transcript language, e.g. en; null when none was asked for and the video's was not yet known."
    )
    error: UserError | None = strawberry.field(description="Why it failed or was cancelled.")
    token_usage: TokenUsage = strawberry.field(
        description="Tokens the LLM used; zero for the local analyzer and until the analysis completes."
    )
    created_at: datetime = strawberry.field(description="When the analysis was asked for.")
    started_at: datetime | None = strawberry.field(
        description="When a worker last picked the job up; null while it waits in the queue."
    )
    finished_at: datetime | None = strawberry.field(
        description="When it completed, failed or was cancelled; null while it runs."
    )
    video_id: strawberry.Private[str]

    @classmethod
    def from_model(cls, m: AnalysisModel | AnalysisRow) -> Analysis:
        from services.errors import ErrorCode

        error = None
        if m.error_code:
            code = ErrorCode(m.error_code) if m.error_code in ErrorCode.__members__ else ErrorCode.INTERNAL_ERROR
            error = UserError(code=code, field=None, message=m.error_message or "")
        return cls(
            id=str(m.id),
            status=m.status,
            progress=m.progress,
            summary=m.summary,
            analyzer=m.analyzer,
            model=m.model,
            language=m.language,
            error=error,
            token_usage=TokenUsage(prompt_tokens=m.prompt_tokens, completion_tokens=m.completion_tokens),
            created_at=m.created_at,
            started_at=m.started_at,
            finished_at=m.finished_at,
            video_id=str(m.video_id),  # type: ignore[union-attr]
        )

    @strawberry.field(description="Highlights in the order the analyzer ranked them.", metadata=_HIGHLIGHTS.metadata)
    async def highlights(self, info: Info) -> list[Highlight]:
        return await _HIGHLIGHTS.one(self, info)  # type: ignore[no-any-return]

    @strawberry.field(description="Chapters in video order.", metadata=_CHAPTERS.metadata)
    async def chapters(self, info: Info) -> list[Chapter]:
        return await _CHAPTERS.one(self, info)  # type: ignore[no-any-return]

    @strawberry.field(description="The video analysed.", metadata=VIDEO_OF.metadata)
    async def video(self, info: Info) -> Video:
        return await VIDEO_OF.one(self, info)  # type: ignore[no-any-return]


@strawberry.type(description="A video in your library: its metadata and its latest analysis.")
class Video(relay.Node):
    id: relay.NodeID[str]
    youtube_id: str | None = strawberry.field(description="The 11-character YouTube id; null for an uploaded file.")
    url: str = strawberry.field(
        description="Where to watch it; for a YouTube video, its canonical `https://www.youtube.com/watch?v=…` URL."
    )
    title: str = strawberry.field(description="The video's title; its YouTube id until the metadata has been fetched.")
    description: str = strawberry.field(description="The uploader's description; empty when there is none.")
    duration: float | None = strawberry.field(description="Seconds.")
    thumbnail_url: str | None = strawberry.field(description="A thumbnail image URL; null when none is known.")
    upload_date: date | None = strawberry.field(description="The day it was published; null when unknown.")
    view_count: int | None = strawberry.field(description="Views when the metadata was fetched; null when unknown.")
    like_count: int | None = strawberry.field(
        description="Likes when the metadata was fetched; null when unknown or hidden."
    )
    tags: list[str] = strawberry.field(description="The uploader's tags; empty when there are none.")
    categories: list[str] = strawberry.field(description="YouTube's categories for it, e.g. Education.")
    channel_id: strawberry.Private[str | None]

    @classmethod
    def from_model(cls, m: VideoModel | VideoRow) -> Video:
        return cls(
            id=str(m.id),
            youtube_id=m.youtube_id,
            url=m.url,
            title=m.title,
            description=m.description,
            duration=m.duration,
            thumbnail_url=m.thumbnail_url,
            upload_date=m.upload_date,
            view_count=m.view_count,
            like_count=m.like_count,
            tags=list(m.tags or []),
            categories=list(m.categories or []),
            channel_id=str(m.channel_id) if m.channel_id else None,  # type: ignore[union-attr]
        )

    @strawberry.field(description="`duration` as mm:ss or h:mm:ss.")
    def duration_text(self) -> str | None:
        return format_timestamp(self.duration) if self.duration is not None else None

    @strawberry.field(description="The channel that published it; null when the source names none.",
                      metadata=_CHANNEL.metadata)
    async def channel(self, info: Info) -> Channel | None:
        return await _CHANNEL.one(self, info)  # type: ignore[no-any-return]

    @strawberry.field(
        description="True when you bookmarked the video or a moment in it.", metadata=_BOOKMARKED.metadata
    )
    async def bookmarked(self, info: Info) -> bool:
        return await _BOOKMARKED.one(self, info)  # type: ignore[no-any-return]

    @strawberry.field(description="Your bookmarks of this video, in video order.", metadata=_BOOKMARKS.metadata)
    async def bookmarks(self, info: Info) -> list[Annotated[Bookmark, strawberry.lazy("schema.library")]]:
        return await _BOOKMARKS.one(self, info)  # type: ignore[no-any-return]

    @strawberry.field(description="This video's entry in your library.", metadata=_LIBRARY_ENTRY.metadata)
    async def library_entry(self, info: Info) -> Annotated[LibraryEntry, strawberry.lazy("schema.library")] | None:
        return await _LIBRARY_ENTRY.one(self, info)  # type: ignore[no-any-return]

    @strawberry.field(description="The analysis you asked for last.")
    async def latest_analysis(self, info: Info) -> Analysis | None:
        entry = await info.context.loaders.library_entry_by_video_id.load(self.id)
        if entry is None or entry.analysis_id is None:
            return None
        row = await info.context.loaders.analysis_by_id.load(str(entry.analysis_id))
        return Analysis.from_model(row) if row else None


@strawberry.type(description="One step of an analysis job, as subscribers receive it.")
class AnalysisEvent:
    sequence: int = strawberry.field(description="Increases by one per stored event of this job.")
    kind: str = strawberry.field(
        description="state (where the job stands when you join), stage, progress, highlight, final."
    )
    status: AnalysisStatus = strawberry.field(description="Where the job stands after this step.")  # type: ignore[valid-type]
    progress: float = strawberry.field(description="0..1 while ANALYZING (chunks done / total); 1 once COMPLETED.")
    message: str = strawberry.field(
        description="What happened, for people: the stage, `3 of 10 chunks`, the highlight's title, or why it ended."
    )
    highlight: HighlightPreview | None = strawberry.field(description="The highlight just found, for kind = highlight.")
    final: bool = strawberry.field(description="True on the last event; the subscription then completes.")
    analysis_id: strawberry.Private[str]
    # set on a stored event, the same for everyone: subscribers may share its execution
    share_key: strawberry.Private[tuple[str, int] | None] = None

    @strawberry.field(description="The analysis as it stands now.")
    async def analysis(self, info: Info) -> Analysis:
        return Analysis.from_model(await info.context.loaders.analysis_by_id.load(self.analysis_id))


@strawberry.type(description="A highlight as soon as it is found, before the analysis is stored.")
class HighlightPreview:
    start: float = strawberry.field(description="Seconds from the start of the video.")
    end: float = strawberry.field(description="Where the moment ends, in seconds from the start of the video.")
    title: str = strawberry.field(description="A short headline for the moment.")
    description: str = strawberry.field(description="What happens in it and why it matters, in a sentence or two.")
    agent_name: str = strawberry.field(description="The lens that found it, e.g. key-point or insight.")
    timestamp: str = strawberry.field(description="`start` as mm:ss, or h:mm:ss past the first hour.")


@strawberry.input(description="Which YouTube video to analyse, and how.")
class AnalyzeVideoInput:
    url: str = strawberry.field(description="A YouTube video URL in any common form.")
    language: str | None = strawberry.field(
        default=None, description="Transcript language, e.g. en; default: the video's own."
    )
    force: bool = strawberry.field(default=False, description="Analyse again even if a finished analysis exists.")


@strawberry.type(description="The analysis job asked for, or why it could not be started.")
class AnalyzeVideoPayload:
    analysis: Analysis | None = strawberry.field(
        description="The job, queued, running or done; follow it with `analysisProgress`. Null when there are errors."
    )
    video: Video | None = strawberry.field(description="The video, now in your library. Null when there are errors.")
    reused: bool = strawberry.field(description="True when you joined a running job or got a finished one.")
    errors: list[UserError] = strawberry.field(description="Expected failures; no job was started when there are any.")


@strawberry.type(description="The analysis after cancelling, or why it could not be cancelled.")
class CancelAnalysisPayload:
    analysis: Analysis | None = strawberry.field(
        description="CANCELLED, or still running until its worker stops at the next step. Null when there are errors."
    )
    errors: list[UserError] = strawberry.field(description="Expected failures; nothing was changed when there are any.")


@node_resolver("Video")
async def _video_node(info: Info, node_id: str) -> Video | None:
    row = await resolvers.visible_video(info, node_id)
    return Video.from_model(row) if row else None


@node_resolver("Analysis")
async def _analysis_node(info: Info, node_id: str) -> Analysis | None:
    row = await resolvers.visible_analysis(info, node_id)
    return Analysis.from_model(row) if row else None


@node_resolver("Highlight")
async def _highlight_node(info: Info, node_id: str) -> Highlight | None:
    found = await resolvers.visible_highlight(info, node_id)
    return Highlight.from_model(found[0], video_id=found[1]) if found else None


@node_resolver("Channel")
async def _channel_node(info: Info, node_id: str) -> Channel | None:
    row = await resolvers.visible_channel(info, node_id)
    return Channel.from_model(row) if row else None
