"""Mutations of the viewer's library and bookmarks."""

from __future__ import annotations

import strawberry
from strawberry import relay

from resolvers import library as resolvers
from schema.context import Info
from schema.errors import expected_errors
from schema.library import (
    AddBookmarkInput,
    Bookmark,
    BookmarkPayload,
    InteractionKind,
    LibraryEntry,
    LibraryEntryPayload,
    RemovePayload,
)
from services.errors import ServiceError


@strawberry.type
class LibraryMutations:
    @strawberry.mutation(
        description="Take a video out of your library, with your bookmarks of it. Shared analyses stay."
    )
    async def remove_from_library(self, info: Info, video_id: relay.GlobalID) -> RemovePayload:
        try:
            await resolvers.remove_from_library(info, video_id=video_id)
        except ServiceError as error:
            return RemovePayload(removed_id=None, errors=expected_errors(error))
        return RemovePayload(removed_id=video_id, errors=[])

    @strawberry.mutation(description="Bookmark a video, or a moment in it (seconds or a highlight), with a note.")
    async def add_bookmark(self, info: Info, input: AddBookmarkInput) -> BookmarkPayload:
        try:
            row = await resolvers.add_bookmark(
                info, video_id=input.video_id, seconds=input.seconds, highlight_id=input.highlight_id, note=input.note
            )
        except ServiceError as error:
            return BookmarkPayload(bookmark=None, errors=expected_errors(error))
        return BookmarkPayload(bookmark=Bookmark.from_model(row), errors=[])

    @strawberry.mutation(description="Change a bookmark's note.")
    async def update_bookmark(self, info: Info, id: relay.GlobalID, note: str) -> BookmarkPayload:
        try:
            row = await resolvers.update_bookmark(info, bookmark_id=id, note=note)
        except ServiceError as error:
            return BookmarkPayload(bookmark=None, errors=expected_errors(error))
        return BookmarkPayload(bookmark=Bookmark.from_model(row), errors=[])

    @strawberry.mutation(description="Delete one of your bookmarks.")
    async def remove_bookmark(self, info: Info, id: relay.GlobalID) -> RemovePayload:
        try:
            await resolvers.remove_bookmark(info, bookmark_id=id)
        except ServiceError as error:
            return RemovePayload(removed_id=None, errors=expected_errors(error))
        return RemovePayload(removed_id=id, errors=[])

    @strawberry.mutation(description="Record that you viewed or skipped a video; a view sets `lastViewedAt`.")
    async def record_interaction(
        self,
        info: Info,
        video_id: relay.GlobalID,
        kind: InteractionKind,  # type: ignore[valid-type]
    ) -> LibraryEntryPayload:
        try:
            row = await resolvers.record_interaction(info, video_id=video_id, kind=kind)
        except ServiceError as error:
            return LibraryEntryPayload(entry=None, errors=expected_errors(error))
        return LibraryEntryPayload(entry=LibraryEntry.from_model(row), errors=[])
