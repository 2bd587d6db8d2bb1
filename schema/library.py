"""The viewer's library, bookmarks and stats as the API shows them."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry import relay

from models import Bookmark as BookmarkModel
from models import InteractionKind as InteractionKindModel
from models import LibraryEntry as LibraryEntryModel
from resolvers import library as resolvers
from resolvers.rows import BookmarkRow, LibraryEntryRow
from schema.context import Info
from schema.errors import UserError
from schema.nodes import node_resolver
from schema.related import Related
from schema.videos import BOOKMARKED, VIDEO_OF, Analysis, AnalysisStatus, Highlight, Video
from services.timestamps import format_timestamp

InteractionKind = strawberry.enum(
    InteractionKindModel, name="InteractionKind", description="What the viewer did with a video."
)

# relation fields (schema/related.py), besides the video and bookmark flag shared with schema/videos.py
_ANALYSIS = Related("analysis_by_id", "analysis_id", lambda _entry, row: Analysis.from_model(row) if row else None)
_HIGHLIGHT = Related(
    "highlight_by_id", "highlight_id",
    lambda bookmark, row: Highlight.from_model(row, video_id=bookmark.video_id) if row else None,
)


@strawberry.type(description="A video in the viewer's library (their history).")
class LibraryEntry(relay.Node):
    id: relay.NodeID[str]
    added_at: datetime = strawberry.field(description="When the video was added to the library.")
    last_viewed_at: datetime | None = strawberry.field(
        description="When the viewer last recorded a VIEW of it; null until they do."
    )
    video_id: strawberry.Private[str]
    analysis_id: strawberry.Private[str | None]

    @classmethod
    def from_model(cls, m: LibraryEntryModel | LibraryEntryRow) -> LibraryEntry:
        return cls(
            id=str(m.id),
            added_at=m.created_at,
            last_viewed_at=m.last_viewed_at,
            video_id=str(m.video_id),  # type: ignore[attr-defined]
            analysis_id=str(m.analysis_id) if m.analysis_id else None,  # type: ignore[attr-defined]
        )

    @strawberry.field(description="The video this entry is for.", metadata=VIDEO_OF.metadata)
    async def video(self, info: Info) -> Video:
        return await VIDEO_OF.one(self, info)  # type: ignore[no-any-return]

    @strawberry.field(description="The analysis the viewer asked for last.", metadata=_ANALYSIS.metadata)
    async def analysis(self, info: Info) -> Analysis | None:
        return await _ANALYSIS.one(self, info)  # type: ignore[no-any-return]

    @strawberry.field(
        description="True when the viewer bookmarked the video or a moment in it.", metadata=BOOKMARKED.metadata
    )
    async def bookmarked(self, info: Info) -> bool:
        return await BOOKMARKED.one(self, info)  # type: ignore[no-any-return]


@strawberry.type(description="A bookmarked video, or a moment in it, with the viewer's note.")
class Bookmark(relay.Node):
    id: relay.NodeID[str]
    seconds: float | None = strawberry.field(description="The moment, in seconds; null for the whole video.")
    note: str = strawberry.field(description="The viewer's note; empty when they wrote none.")
    created_at: datetime = strawberry.field(description="When the bookmark was made.")
    updated_at: datetime = strawberry.field(description="When its note was last changed.")
    video_id: strawberry.Private[str]
    highlight_id: strawberry.Private[str | None]

    @classmethod
    def from_model(cls, m: BookmarkModel | BookmarkRow) -> Bookmark:
        return cls(
            id=str(m.id),
            seconds=m.seconds,
            note=m.note,
            created_at=m.created_at,
            updated_at=m.updated_at,
            video_id=str(m.video_id),  # type: ignore[attr-defined]
            highlight_id=str(m.highlight_id) if m.highlight_id else None,  # type: ignore[attr-defined]
        )

    @strawberry.field(description="`seconds` as mm:ss or h:mm:ss.")
    def timestamp(self) -> str | None:
        return format_timestamp(self.seconds) if self.seconds is not None else None

    @strawberry.field(description="The video bookmarked, or the one the moment is in.", metadata=VIDEO_OF.metadata)
    async def video(self, info: Info) -> Video:
        return await VIDEO_OF.one(self, info)  # type: ignore[no-any-return]

    @strawberry.field(description="The highlight bookmarked, if the moment is one.", metadata=_HIGHLIGHT.metadata)
    async def highlight(self, info: Info) -> Highlight | None:
        return await _HIGHLIGHT.one(self, info)  # type: ignore[no-any-return]


@strawberry.type(description="What the viewer has got out of vidgraph.")
class UserStats:
    videos_analysed: int = strawberry.field(description="How many videos in the library have a completed analysis.")
    total_duration_seconds: float = strawberry.field(description="The durations of those videos added up, in seconds.")
    time_saved_seconds: float = strawberry.field(
        description="Duration of analysed videos less about two minutes each to read the results."
    )
    bookmarks: int = strawberry.field(description="How many bookmarks the viewer has.")
    conversations: int = strawberry.field(description="How many conversations the viewer has.")

    @strawberry.field(description="totalDurationSeconds in hours, rounded to two decimals.")
    def hours_of_video(self) -> float:
        return round(self.total_duration_seconds / 3600, 2)


@strawberry.input(description="Narrow the library; every field is optional.")
class LibraryFilter:
    bookmarked: bool | None = strawberry.field(
        default=None, description="True: only videos with a bookmark; false: only those without."
    )
    status: AnalysisStatus | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Only videos whose latest analysis (`Video.latestAnalysis`) has this status."
    )
    channel_id: relay.GlobalID | None = strawberry.field(default=None, description="Only videos of this channel.")
    added_after: datetime | None = strawberry.field(
        default=None, description="Only videos added to the library after this moment."
    )
    added_before: datetime | None = strawberry.field(
        default=None, description="Only videos added to the library before this moment."
    )


@strawberry.input(description="What to bookmark: a video, or a moment in it by seconds or by highlight, not both.")
class AddBookmarkInput:
    video_id: relay.GlobalID = strawberry.field(description="A video in your library.")
    seconds: float | None = strawberry.field(default=None, description="A moment in seconds.")
    highlight_id: relay.GlobalID | None = strawberry.field(default=None, description="Or a highlight of the video.")
    note: str = strawberry.field(default="", description="Your note, at most 5000 characters.")


@strawberry.type(description="The bookmark as saved, or why it was not.")
class BookmarkPayload:
    bookmark: Bookmark | None = strawberry.field(description="Null when there are errors.")
    errors: list[UserError] = strawberry.field(description="Expected failures; nothing was saved when there are any.")


@strawberry.type(description="What was removed, or why nothing was.")
class RemovePayload:
    removed_id: relay.GlobalID | None = strawberry.field(
        description="The id you passed: the bookmark deleted, or the video taken out of your library. "
        "Null when there are errors."
    )
    errors: list[UserError] = strawberry.field(description="Expected failures; nothing was removed when there are any.")


@strawberry.type(description="The library entry after the change, or why there was none.")
class LibraryEntryPayload:
    entry: LibraryEntry | None = strawberry.field(description="Null when there are errors.")
    errors: list[UserError] = strawberry.field(
        description="Expected failures; nothing was recorded when there are any."
    )


@node_resolver("LibraryEntry")
async def _entry_node(info: Info, node_id: str) -> LibraryEntry | None:
    row = await resolvers.own_entry(info, node_id)
    return LibraryEntry.from_model(row) if row else None


@node_resolver("Bookmark")
async def _bookmark_node(info: Info, node_id: str) -> Bookmark | None:
    row = await resolvers.own_bookmark(info, node_id)
    return Bookmark.from_model(row) if row else None
