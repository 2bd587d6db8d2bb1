"""Keyset pagination for connections: stable order, opaque cursors, `first` bounded."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

from resolvers.rows import values_of
from services.errors import ErrorCode, ServiceError

MAX_PAGE_SIZE = 100
M = TypeVar("M")
Row = TypeVar("Row", bound=Model)


@dataclass(frozen=True, slots=True)
class Page(Generic[M]):
    rows: list[M]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool


def check_first(first: int) -> None:
    if first < 0 or first > MAX_PAGE_SIZE:
        raise ServiceError(ErrorCode.INVALID_INPUT, f"`first` must be between 0 and {MAX_PAGE_SIZE}.", field="first")


def encode_cursor(values: Sequence[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else str(v) for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode()


def decode_cursor(cursor: str, size: int) -> list[str]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ServiceError(ErrorCode.INVALID_INPUT, "The cursor is not valid.", field="after") from exc
    if not isinstance(values, list) or len(values) != size or not all(isinstance(v, str) for v in values):
        raise ServiceError(ErrorCode.INVALID_INPUT, "The cursor is not valid.", field="after")
    return values


def page_query(queryset: QuerySet[Row], *, first: int, after: str | None, key: str = "created_at") -> QuerySet[Row]:
    """Newest first by `key`, then by id: `first` rows after the cursor, and one more to tell
    whether there is a next page."""
    check_first(first)
    if after:
        raw_key, raw_id = decode_cursor(after, 2)
        try:
            moment: Any = datetime.fromisoformat(raw_key)
        except ValueError as exc:
            raise ServiceError(ErrorCode.INVALID_INPUT, "The cursor is not valid.", field="after") from exc
        queryset = queryset.filter(Q(**{f"{key}__lt": moment}) | Q(**{key: moment, "id__lt": raw_id}))
    return queryset.order_by(f"-{key}", "-id").limit(first + 1)


def _page(found: list[M], *, first: int, after: str | None, key_of: Callable[[M], Any]) -> Page[M]:
    rows = found[:first]
    return Page(
        rows=rows,
        cursors=[encode_cursor([key_of(r), r.id]) for r in rows],  # type: ignore[attr-defined]
        has_next_page=len(found) > first,
        has_previous_page=after is not None,
    )


async def paginate(
    queryset: QuerySet[Row],
    *,
    first: int,
    after: str | None,
    key: str = "created_at",
    key_of: Callable[[Row], Any] | None = None,
) -> Page[Row]:
    """Newest first by `key`, then by id: a page of `first` rows after the cursor."""
    found = list(await page_query(queryset, first=first, after=after, key=key))
    return _page(found, first=first, after=after, key_of=key_of or (lambda row: getattr(row, key)))


async def paginate_rows(
    queryset: QuerySet[Row], row_type: type[M], *, first: int, after: str | None, key: str = "created_at"
) -> Page[M]:
    """`paginate` with the page as `row_type` rows (resolvers/rows.py), not model objects: a long
    page of a list that is only read costs less so. `row_type` has the fields `key` and `id`."""
    query = page_query(queryset, first=first, after=after, key=key)
    found = await values_of(row_type, query)
    return _page(found, first=first, after=after, key_of=lambda row: getattr(row, key))
