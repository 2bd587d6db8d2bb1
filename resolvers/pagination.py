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


async def paginate(
    queryset: QuerySet[Row],
    *,
    first: int,
    after: str | None,
    key: str = "created_at",
    key_of: Callable[[Row], Any] | None = None,
) -> Page[Row]:
    """Newest first by `key`, then by id: a page of `first` rows after the cursor."""
    check_first(first)
    if after:
        raw_key, raw_id = decode_cursor(after, 2)
        try:
            moment: Any = datetime.fromisoformat(raw_key)
        except ValueError as exc:
            raise ServiceError(ErrorCode.INVALID_INPUT, "The cursor is not valid.", field="after") from exc
        queryset = queryset.filter(Q(**{f"{key}__lt": moment}) | Q(**{key: moment, "id__lt": raw_id}))
    rows = list(await queryset.order_by(f"-{key}", "-id").limit(first + 1))
    has_next = len(rows) > first
    rows = rows[:first]
    key_of = key_of or (lambda row: getattr(row, key))
    return Page(
        rows=rows,
        cursors=[encode_cursor([key_of(r), r.id]) for r in rows],  # type: ignore[attr-defined]
        has_next_page=has_next,
        has_previous_page=after is not None,
    )
