"""A person's library (their history), bookmarks, interactions and stats."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from models import (
    AnalysisStatus,
    Bookmark,
    Conversation,
    Highlight,
    Interaction,
    InteractionKind,
    LibraryEntry,
    User,
    Video,
)
from services.errors import ErrorCode, ServiceError

# reading a summary and its highlights takes about this long; the rest of the video is saved time
READING_SECONDS_PER_VIDEO = 120.0
NOTE_MAX_LENGTH = 5000


@dataclass(frozen=True, slots=True)
class LibraryFilter:
    bookmarked: bool | None = None
    status: AnalysisStatus | None = None
    channel_id: str | None = None
    added_after: datetime | None = None
    added_before: datetime | None = None


def library_of(user: User, filters: LibraryFilter | None = None) -> QuerySet[LibraryEntry]:
    queryset = LibraryEntry.filter(user_id=user.id)
    if filters is None:
        return queryset
    if filters.bookmarked is not None:
        marked = Subquery(Bookmark.filter(user_id=user.id).values("video_id"))
        queryset = queryset.filter(video_id__in=marked) if filters.bookmarked else queryset.exclude(video_id__in=marked)
    if filters.status is not None:
        queryset = queryset.filter(analysis__status=filters.status)
    if filters.channel_id is not None:
        queryset = queryset.filter(video__channel_id=filters.channel_id)
    if filters.added_after is not None:
        queryset = queryset.filter(created_at__gt=filters.added_after)
    if filters.added_before is not None:
        queryset = queryset.filter(created_at__lt=filters.added_before)
    return queryset


async def entry_for(user: User, video_id: str) -> LibraryEntry:
    entry = await LibraryEntry.get_or_none(user_id=user.id, video_id=video_id)
    if entry is None:
        raise ServiceError(ErrorCode.NOT_FOUND, "That video is not in your library.", field="videoId")
    return entry


async def remove_from_library(*, user: User, video_id: str) -> None:
    """The entry and this person's bookmarks of the video go; the shared analysis stays."""
    entry = await entry_for(user, video_id)
    async with in_transaction():
        await Bookmark.filter(user_id=user.id, video_id=video_id).delete()
        await Interaction.filter(user_id=user.id, video_id=video_id).delete()
        await LibraryEntry.filter(id=entry.id).delete()


def _moment_key(*, seconds: float | None, highlight_id: str | None) -> str:
    if highlight_id is not None:
        return f"h:{highlight_id}"
    if seconds is not None:
        return f"t:{round(seconds * 1000)}"
    return ""


async def add_bookmark(
    *, user: User, video_id: str, seconds: float | None, highlight_id: str | None, note: str
) -> Bookmark:
    await entry_for(user, video_id)
    if seconds is not None and highlight_id is not None:
        raise ServiceError(
            ErrorCode.INVALID_INPUT, "Bookmark a moment by seconds or by highlight, not both.", field="seconds"
        )
    _check_note(note)
    video = await Video.get(id=video_id)
    if seconds is not None and (seconds < 0 or (video.duration is not None and seconds > video.duration)):
        raise ServiceError(ErrorCode.INVALID_INPUT, "The moment is outside the video.", field="seconds")
    if highlight_id is not None:
        highlight = await Highlight.get_or_none(id=highlight_id).prefetch_related("analysis")
        if highlight is None or str(highlight.analysis.video_id) != str(video_id):  # type: ignore[attr-defined]
            raise ServiceError(ErrorCode.NOT_FOUND, "No such highlight in this video.", field="highlightId")
        seconds = highlight.start
    key = _moment_key(seconds=seconds, highlight_id=highlight_id)
    try:
        bookmark = await Bookmark.create(
            user_id=user.id, video_id=video_id, highlight_id=highlight_id, seconds=seconds, moment_key=key, note=note
        )
    except IntegrityError as exc:
        raise ServiceError(ErrorCode.CONFLICT, "You already bookmarked this moment.", field="videoId") from exc
    await Interaction.create(user_id=user.id, video_id=video_id, kind=InteractionKind.SAVE)
    return bookmark


def _check_note(note: str) -> None:
    if len(note) > NOTE_MAX_LENGTH:
        raise ServiceError(ErrorCode.INVALID_INPUT, f"A note has at most {NOTE_MAX_LENGTH} characters.", field="note")


async def own_bookmark(user: User, bookmark_id: str) -> Bookmark:
    bookmark = await Bookmark.get_or_none(id=bookmark_id, user_id=user.id)
    if bookmark is None:
        raise ServiceError(ErrorCode.NOT_FOUND, "No such bookmark.", field="id")
    return bookmark


async def update_bookmark(*, user: User, bookmark_id: str, note: str) -> Bookmark:
    _check_note(note)
    bookmark = await own_bookmark(user, bookmark_id)
    bookmark.note = note
    await bookmark.save(update_fields=["note", "updated_at"])
    return bookmark


async def remove_bookmark(*, user: User, bookmark_id: str) -> None:
    bookmark = await own_bookmark(user, bookmark_id)
    await bookmark.delete()


async def record_interaction(*, user: User, video_id: str, kind: InteractionKind) -> LibraryEntry:
    entry = await entry_for(user, video_id)
    await Interaction.create(user_id=user.id, video_id=video_id, kind=kind)
    if kind is InteractionKind.VIEW:
        entry.last_viewed_at = datetime.now(UTC)
        await entry.save(update_fields=["last_viewed_at", "updated_at"])
    return entry


@dataclass(frozen=True, slots=True)
class Stats:
    videos_analysed: int
    total_duration_seconds: float
    time_saved_seconds: float
    bookmarks: int
    conversations: int


async def stats_of(user: User) -> Stats:
    completed = LibraryEntry.filter(user_id=user.id, analysis__status=AnalysisStatus.COMPLETED)
    found = cast("list[float | None]", await completed.values_list("video__duration", flat=True))
    durations = [d or 0.0 for d in found]
    saved = sum(max(0.0, d - READING_SECONDS_PER_VIDEO) for d in durations)
    return Stats(
        videos_analysed=len(durations),
        total_duration_seconds=sum(durations),
        time_saved_seconds=saved,
        bookmarks=await Bookmark.filter(user_id=user.id).count(),
        conversations=await Conversation.filter(user_id=user.id).count(),
    )
