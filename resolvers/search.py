"""Search: ranked results are paged by offset, in an opaque cursor."""

from __future__ import annotations

from typing import TYPE_CHECKING

from resolvers.pagination import Page, check_first, decode_cursor, encode_cursor
from resolvers.users import require_viewer
from services import search as search_service
from services.errors import ErrorCode, ServiceError

if TYPE_CHECKING:
    from schema.context import Info


async def search(info: Info, *, query: str, first: int, after: str | None) -> Page[search_service.SearchHit]:
    require_viewer(info)
    assert info.context.viewer is not None
    check_first(first)
    offset = 0
    if after:
        [raw] = decode_cursor(after, 1)
        if not raw.isdigit():
            raise ServiceError(ErrorCode.INVALID_INPUT, "The cursor is not valid.", field="after")
        offset = int(raw)
    found = await search_service.search(user_id=str(info.context.viewer.id), text=query, first=first, offset=offset)
    return Page(
        rows=found.hits,
        cursors=[encode_cursor([offset + i + 1]) for i in range(len(found.hits))],
        has_next_page=found.has_next_page,
        has_previous_page=offset > 0,
    )
