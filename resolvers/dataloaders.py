"""Per-request DataLoaders. Each loads one relation for many keys in one query, in key order.

What the library, search and node pages read most loads as rows (resolvers/rows.py) rather than
model objects: nothing here writes them back, and a row costs a fraction of a model to build."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from functools import cached_property, partial
from typing import Any, Protocol, TypeVar

from strawberry.dataloader import DataLoader
from tortoise.models import Model

from models import Analysis, Bookmark, Channel, Chapter, Citation, Highlight, LibraryEntry, Message, User, Video
from resolvers.rows import (
    AnalysisRow,
    BookmarkRow,
    ChannelRow,
    ChapterRow,
    HighlightRow,
    LibraryEntryRow,
    VideoRow,
    placeholders,
    select_rows,
)


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


M = TypeVar("M")
R = TypeVar("R", bound=_Identified)
C = TypeVar("C")


def _by_id(model: type[Any]) -> Callable[[Sequence[str]], Awaitable[list[Any]]]:
    async def load(keys: Sequence[str]) -> list[Any]:
        rows = {str(r.id): r for r in await model.filter(id__in=list(keys))}
        return [rows.get(k) for k in keys]

    return load


def _rows_by_id(row_type: type[R], model: type[Model]) -> Callable[[Sequence[str]], Awaitable[list[Any]]]:
    # Any, like `_by_id`: callers of a row that must exist (a video of an entry) take it as found
    async def load(keys: Sequence[str]) -> list[Any]:
        found = await select_rows(row_type, model, f'"id" IN ({placeholders(len(keys))})', keys)
        by_id = {str(r.id): r for r in found}
        return [by_id.get(k) for k in keys]

    return load


def _children(model: type[Any], parent: str) -> Callable[[Sequence[str]], Awaitable[list[list[Any]]]]:
    async def load(keys: Sequence[str]) -> list[list[Any]]:
        grouped: dict[str, list[Any]] = defaultdict(list)
        for row in await model.filter(**{f"{parent}__in": list(keys)}).order_by("position"):
            grouped[str(getattr(row, parent))].append(row)
        return [grouped.get(k, []) for k in keys]

    return load


def _child_rows(
    row_type: type[C], model: type[Model], parent: str
) -> Callable[[Sequence[str]], Awaitable[list[list[C]]]]:
    async def load(keys: Sequence[str]) -> list[list[C]]:
        where = f'"{parent}" IN ({placeholders(len(keys))})'
        grouped: dict[str, list[C]] = defaultdict(list)
        for row in await select_rows(row_type, model, where, keys, order_by='"position"'):
            grouped[str(getattr(row, parent))].append(row)
        return [grouped.get(k, []) for k in keys]

    return load


class Loaders:
    """The loaders of one operation, created fresh for it and scoped to its viewer. Each is made
    when first used: most operations use two or three of them."""

    def __init__(self, *, viewer_id: str | None) -> None:
        self.viewer_id = viewer_id

    @cached_property
    def user_by_id(self) -> DataLoader[str, Any]:
        return DataLoader(load_fn=_by_id(User))

    @cached_property
    def video_by_id(self) -> DataLoader[str, Any]:
        return DataLoader(load_fn=_rows_by_id(VideoRow, Video))

    @cached_property
    def channel_by_id(self) -> DataLoader[str, Any]:
        return DataLoader(load_fn=_rows_by_id(ChannelRow, Channel))

    @cached_property
    def analysis_by_id(self) -> DataLoader[str, Any]:
        return DataLoader(load_fn=_rows_by_id(AnalysisRow, Analysis))

    @cached_property
    def highlight_by_id(self) -> DataLoader[str, Any]:
        return DataLoader(load_fn=_rows_by_id(HighlightRow, Highlight))

    @cached_property
    def highlights_by_analysis_id(self) -> DataLoader[str, list[HighlightRow]]:
        return DataLoader(load_fn=_child_rows(HighlightRow, Highlight, "analysis_id"))

    @cached_property
    def chapters_by_analysis_id(self) -> DataLoader[str, list[ChapterRow]]:
        return DataLoader(load_fn=_child_rows(ChapterRow, Chapter, "analysis_id"))

    # the viewer's own rows: their functions hold the viewer's id, not the Loaders (a bound
    # method would put the Loaders, and every row their loaders hold, in a reference cycle that
    # only the collector's rare full passes free)

    @cached_property
    def library_entry_by_video_id(self) -> DataLoader[str, LibraryEntryRow | None]:
        return DataLoader(load_fn=partial(_library_entries, self.viewer_id))

    @cached_property
    def bookmarks_by_video_id(self) -> DataLoader[str, list[BookmarkRow]]:
        return DataLoader(load_fn=partial(_bookmarks, self.viewer_id))

    @cached_property
    def citations_by_message_id(self) -> DataLoader[str, list[Any]]:
        return DataLoader(load_fn=_children(Citation, "message_id"))

    @cached_property
    def video_ids_by_conversation_id(self) -> DataLoader[str, list[str]]:
        return DataLoader(load_fn=load_conversation_video_ids)

    @cached_property
    def last_message_by_conversation_id(self) -> DataLoader[str, Message | None]:
        return DataLoader(load_fn=load_last_messages)


async def _bookmarks(viewer_id: str | None, video_ids: Sequence[str]) -> list[list[BookmarkRow]]:
    if viewer_id is None:
        return [[] for _ in video_ids]
    grouped: dict[str, list[BookmarkRow]] = defaultdict(list)
    where = f'"user_id" = ? AND "video_id" IN ({placeholders(len(video_ids))})'
    found = await select_rows(BookmarkRow, Bookmark, where, [viewer_id, *video_ids])
    # the whole-video bookmark first, then moments in video order (same on every database)
    for row in sorted(found, key=lambda b: (b.seconds is not None, b.seconds or 0.0, b.created_at)):
        grouped[str(row.video_id)].append(row)
    return [grouped.get(k, []) for k in video_ids]


async def _library_entries(viewer_id: str | None, video_ids: Sequence[str]) -> list[LibraryEntryRow | None]:
    # the viewer's own entries only: what is not in their library does not exist for them
    if viewer_id is None:
        return [None] * len(video_ids)
    where = f'"user_id" = ? AND "video_id" IN ({placeholders(len(video_ids))})'
    found = await select_rows(LibraryEntryRow, LibraryEntry, where, [viewer_id, *video_ids])
    by_video = {str(e.video_id): e for e in found}
    return [by_video.get(k) for k in video_ids]


async def load_conversation_video_ids(conversation_ids: Sequence[str]) -> list[list[str]]:
    from services.search import Dialect

    marks = placeholders(len(conversation_ids))
    # only "?" placeholders are interpolated; the ids travel as bound values
    rows = await Dialect().rows(
        f"SELECT conversations_id AS c, video_id AS v FROM conversation_videos WHERE conversations_id IN ({marks})",  # noqa: S608
        list(conversation_ids),
    )
    grouped: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        grouped[str(row["c"])].append(str(row["v"]))
    return [sorted(grouped.get(k, [])) for k in conversation_ids]


async def load_last_messages(conversation_ids: Sequence[str]) -> list[Message | None]:
    from services.search import Dialect

    marks = placeholders(len(conversation_ids))
    newest = await Dialect().rows(  # only "?" placeholders are interpolated
        f"""SELECT m.id AS id FROM messages m WHERE m.conversation_id IN ({marks}) AND NOT EXISTS (
              SELECT 1 FROM messages n WHERE n.conversation_id = m.conversation_id
              AND (n.created_at > m.created_at OR (n.created_at = m.created_at AND n.id > m.id)))""",  # noqa: S608
        list(conversation_ids),
    )
    rows = {str(m.conversation_id): m for m in await Message.filter(id__in=[r["id"] for r in newest])}  # type: ignore[attr-defined]
    return [rows.get(k) for k in conversation_ids]
