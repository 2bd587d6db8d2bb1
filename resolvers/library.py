"""Thin resolvers for the library, bookmarks, interactions and stats."""

from __future__ import annotations

from typing import TYPE_CHECKING

from strawberry import relay
from tortoise.queryset import QuerySet

from models import Bookmark, InteractionKind, LibraryEntry, User
from resolvers.ids import as_uuid
from resolvers.pagination import Page, page_query, paginate, paginate_rows
from resolvers.rows import LibraryEntryRow
from resolvers.users import require_viewer
from services import library
from services.errors import ErrorCode, ServiceError

if TYPE_CHECKING:
    from schema.context import Info

EMPTY: Page[object] = Page(rows=[], cursors=[], has_next_page=False, has_previous_page=False)


def viewer_of(info: Info) -> User:
    require_viewer(info)
    assert info.context.viewer is not None
    return info.context.viewer


def owned_by_viewer(info: Info, user_id: str) -> User | None:
    viewer = info.context.viewer
    return viewer if viewer is not None and str(viewer.id) == user_id else None


def raw_id(gid: relay.GlobalID | None, type_name: str, field: str) -> str | None:
    """The row id inside a global ID of the expected type, else NOT_FOUND on `field`."""
    if gid is None:
        return None
    key = as_uuid(gid.node_id) if gid.type_name == type_name else None
    if key is None:
        raise ServiceError(ErrorCode.NOT_FOUND, f"No such {type_name.lower()}.", field=field)
    return str(key)


def library_query(
    info: Info, *, user_id: str, first: int, after: str | None, filters: library.LibraryFilter
) -> QuerySet[LibraryEntry] | None:
    """The statement of a library page, `first` + 1 entries newest first after the cursor; None
    for anyone but the viewer (whose page is empty)."""
    user = owned_by_viewer(info, user_id)
    return page_query(library.library_of(user, filters), first=first, after=after) if user else None


async def library_page(
    info: Info, *, user_id: str, first: int, after: str | None, filters: library.LibraryFilter
) -> Page[LibraryEntryRow]:
    user = owned_by_viewer(info, user_id)
    if user is None:
        return EMPTY  # type: ignore[return-value]
    return await paginate_rows(library.library_of(user, filters), LibraryEntryRow, first=first, after=after)


def bookmarks_query(info: Info, *, user_id: str, first: int, after: str | None) -> QuerySet[Bookmark] | None:
    """The statement of a page of bookmarks, as `library_query`."""
    user = owned_by_viewer(info, user_id)
    return page_query(Bookmark.filter(user_id=user.id), first=first, after=after) if user else None


async def bookmarks_page(info: Info, *, user_id: str, first: int, after: str | None) -> Page[Bookmark]:
    user = owned_by_viewer(info, user_id)
    if user is None:
        return EMPTY  # type: ignore[return-value]
    return await paginate(Bookmark.filter(user_id=user.id), first=first, after=after)


async def stats(info: Info, *, user_id: str) -> library.Stats | None:
    user = owned_by_viewer(info, user_id)
    return await library.stats_of(user) if user else None


async def own_entry(info: Info, node_id: str) -> LibraryEntry | None:
    key = as_uuid(node_id)
    if key is None or info.context.viewer is None:
        return None
    return await LibraryEntry.get_or_none(id=key, user_id=info.context.viewer.id)


async def own_bookmark(info: Info, node_id: str) -> Bookmark | None:
    key = as_uuid(node_id)
    if key is None or info.context.viewer is None:
        return None
    return await Bookmark.get_or_none(id=key, user_id=info.context.viewer.id)


async def remove_from_library(info: Info, *, video_id: relay.GlobalID) -> str:
    vid = raw_id(video_id, "Video", "videoId")
    assert vid is not None
    await library.remove_from_library(user=viewer_of(info), video_id=vid)
    return vid


async def add_bookmark(
    info: Info, *, video_id: relay.GlobalID, seconds: float | None, highlight_id: relay.GlobalID | None, note: str
) -> Bookmark:
    vid = raw_id(video_id, "Video", "videoId")
    assert vid is not None
    return await library.add_bookmark(
        user=viewer_of(info),
        video_id=vid,
        seconds=seconds,
        highlight_id=raw_id(highlight_id, "Highlight", "highlightId"),
        note=note,
    )


async def update_bookmark(info: Info, *, bookmark_id: relay.GlobalID, note: str) -> Bookmark:
    bid = raw_id(bookmark_id, "Bookmark", "id")
    assert bid is not None
    return await library.update_bookmark(user=viewer_of(info), bookmark_id=bid, note=note)


async def remove_bookmark(info: Info, *, bookmark_id: relay.GlobalID) -> None:
    bid = raw_id(bookmark_id, "Bookmark", "id")
    assert bid is not None
    await library.remove_bookmark(user=viewer_of(info), bookmark_id=bid)


async def record_interaction(info: Info, *, video_id: relay.GlobalID, kind: InteractionKind) -> LibraryEntry:
    vid = raw_id(video_id, "Video", "videoId")
    assert vid is not None
    return await library.record_interaction(user=viewer_of(info), video_id=vid, kind=kind)
