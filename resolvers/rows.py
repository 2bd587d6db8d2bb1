"""Read-only rows for the DataLoaders: the columns the API shows, without Tortoise model objects.

One page of the library reads about a thousand rows (50 entries, their videos, analyses, channels,
600 highlights, chapters). Building a Tortoise model object per row cost more than the SQL itself
(issue 4). A row here is a slotted dataclass holding only the columns the API reads (not frozen:
nothing writes to a row, and a frozen dataclass's `__init__` costs six times as much), each converted
exactly as Tortoise converts it when it builds a model (`Model._init_from_db`), so every attribute
holds what the model's attribute would have held, on SQLite and PostgreSQL alike, with one
exception: ids (UUID columns, keys and foreign keys) are held as their text. Everything the API
does with an id reads it as text (global ids, loader keys, cursors), and a `uuid.UUID` per id was
~1,600 objects per library page for Python's collector to walk while the answer is made.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar
from uuid import UUID

from tortoise.models import Model
from tortoise.queryset import QuerySet

from models import AnalysisStatus
from services.search import Dialect

R = TypeVar("R")
Conversion = Callable[[Any], Any]


@dataclass(slots=True)
class ChannelRow:
    id: str
    name: str
    url: str | None
    follower_count: int | None


@dataclass(slots=True)
class VideoRow:
    id: str
    youtube_id: str | None
    url: str
    title: str
    description: str
    duration: float | None
    thumbnail_url: str | None
    upload_date: date | None
    view_count: int | None
    like_count: int | None
    tags: list[str]
    categories: list[str]
    channel_id: str | None


@dataclass(slots=True)
class AnalysisRow:
    id: str
    status: AnalysisStatus
    progress: float
    summary: str
    analyzer: str
    model: str
    language: str | None
    error_code: str | None
    error_message: str | None
    prompt_tokens: int
    completion_tokens: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    video_id: str


@dataclass(slots=True)
class HighlightRow:
    id: str
    analysis_id: str
    start: float
    end: float
    title: str
    description: str
    agent_name: str


@dataclass(slots=True)
class ChapterRow:
    analysis_id: str
    start: float
    end: float
    title: str
    summary: str


@dataclass(slots=True)
class BookmarkRow:
    id: str
    seconds: float | None
    note: str
    created_at: datetime
    updated_at: datetime
    video_id: str
    highlight_id: str | None


@dataclass(slots=True)
class LibraryEntryRow:
    id: str
    created_at: datetime
    last_viewed_at: datetime | None
    video_id: str
    analysis_id: str | None


def _of_type(field_type: type) -> Conversion:
    def convert(value: Any) -> Any:
        return None if value is None else field_type(value)

    return convert


def _conversions(model: type[Model], *, postgres: bool) -> dict[str, tuple[str, Conversion | None]]:
    """Field name -> (column as selected, conversion), sorted the way `Model._init_from_db` sorts
    them for the database in use: values the driver already gives as Python types (no conversion),
    values made by calling the field's type, and values the field converts itself (JSON, enums...).
    A UUID is selected as its text, which the database writes (PostgreSQL's `::text` is the
    canonical lower-case form `str(uuid)` gives; SQLite stores that text): no conversion in Python."""
    meta = model._meta
    found: dict[str, tuple[str, Conversion | None]] = {}
    for column, name, _ in meta.db_native_fields:
        found[name] = (f'"{column}"', None)
    for column, name, field in meta.db_default_fields:
        found[name] = (f'"{column}"', _of_type(field.field_type))
    for column, name, field in meta.db_complex_fields:
        found[name] = (f'"{column}"', field.to_python_value)
    for column, name, field in (*meta.db_native_fields, *meta.db_default_fields, *meta.db_complex_fields):
        if field.field_type is UUID:
            found[name] = (f'"{column}"::text' if postgres else f'"{column}"', None)
    return found


@dataclass(frozen=True, slots=True)
class _Plan:
    columns: list[str]  # as selected, in the order of the row type's fields
    row_of: Callable[[Sequence[Any]], Any]  # a driver's record -> the row, values converted

    @classmethod
    def of(cls, row_type: type[Any], model: type[Model], *, postgres: bool) -> _Plan:
        """Made once per row type, model and database kind, then kept."""
        key = (row_type, model, postgres)
        plan = _plans.get(key)
        if plan is None:
            plan = _plans[key] = cls._made(row_type, model, postgres=postgres)
        return plan

    @classmethod
    def _made(cls, row_type: type[Any], model: type[Model], *, postgres: bool) -> _Plan:
        conversions = _conversions(model, postgres=postgres)
        chosen = [conversions[f.name] for f in dataclasses.fields(row_type)]
        converting = {i: convert for i, (_, convert) in enumerate(chosen) if convert is not None}
        return cls(columns=[column for column, _ in chosen], row_of=_row_maker(row_type, len(chosen), converting))


def _row_maker(row_type: type[Any], width: int, convert_at: dict[int, Conversion]) -> Callable[[Sequence[Any]], Any]:
    """`lambda r: Row(r[0], c1(r[1]), ...)` for this plan: each value taken by position and
    converted where it must be, with no list or loop per row (~600 rows make a library page).
    The source is made only of positions and the names bound below."""
    args = ", ".join(f"c{i}(r[{i}])" if i in convert_at else f"r[{i}]" for i in range(width))
    namespace: dict[str, Any] = {"Row": row_type, **{f"c{i}": convert for i, convert in convert_at.items()}}
    maker: Callable[[Sequence[Any]], Any] = eval(f"lambda r: Row({args})", namespace)  # noqa: S307
    return maker


_plans: dict[tuple[type[Any], type[Model], bool], _Plan] = {}


def placeholders(count: int) -> str:
    """`?, ?, …`: the placeholders of an IN list of `count` bound values."""
    return ", ".join("?" * count)


async def select_rows(
    row_type: type[R], model: type[Model], where: str, values: Sequence[Any], *, order_by: str = ""
) -> list[R]:
    """`row_type`'s columns of the rows of `model` that `where` keeps; `where` and `order_by` are
    SQL with `?` placeholders only, every value travels bound."""
    db = Dialect()
    plan = _Plan.of(row_type, model, postgres=db.postgres)
    columns = ", ".join(plan.columns)
    order = f" ORDER BY {order_by}" if order_by else ""
    sql = f'SELECT {columns} FROM "{model._meta.db_table}" WHERE {where}{order}'  # noqa: S608
    # the driver's records as they come (asyncpg's and sqlite3's both index by position):
    # `execute_query_dict` would copy each into a dict first, a large part of the cost
    _, records = await db.conn.execute_query(db.params(sql), list(values))
    row_of = plan.row_of
    return [row_of(record) for record in records]


async def values_of(row_type: type[R], queryset: QuerySet[Any]) -> list[R]:
    """`row_type`'s fields of what a queryset finds, for queries with filters built by Tortoise;
    `.values()` converts each column as the model would."""
    names = [f.name for f in dataclasses.fields(row_type)]  # type: ignore[arg-type]
    return [
        row_type(**{k: str(v) if isinstance(v, UUID) else v for k, v in found.items()})
        for found in await queryset.values(*names)
    ]
