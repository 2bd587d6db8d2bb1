"""Rows (resolvers/rows.py) hold what the models' attributes hold, value and type, on either database."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from tortoise.models import Model

from models import Analysis, AnalysisStatus, Bookmark, Channel, Chapter, Highlight, LibraryEntry, User, Video
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
    values_of,
)
from tests.schema.test_library import make_library


def _assert_same(rows: Sequence[Any], models: Sequence[Model]) -> None:
    """Every value and its type as the model holds it; ids as their text (see resolvers/rows.py)."""
    assert len(rows) == len(models) > 0
    for row, model in zip(rows, models, strict=True):
        for field in dataclasses.fields(row):
            ours, theirs = getattr(row, field.name), getattr(model, field.name)
            if isinstance(theirs, UUID):
                theirs = str(theirs)
            assert (ours, type(ours)) == (theirs, type(theirs)), field.name


async def _same_by_id(row_type: type[Any], model: type[Model], found: Sequence[Model]) -> None:
    ids = [str(m.pk) for m in found]
    rows = await select_rows(row_type, model, f'"id" IN ({placeholders(len(ids))})', ids, order_by='"id"')
    _assert_same(rows, sorted(found, key=lambda m: str(m.pk)))


async def test_rows_hold_what_models_hold(client: Any) -> None:
    user = await User.create(is_anonymous=True)
    [plain, detailed] = await make_library(user, 2, highlights=2)
    await Video.filter(id=detailed.id).update(
        tags=["rust", "gc"], categories=["Education"], upload_date=date(2025, 3, 1), view_count=12, like_count=3
    )
    await Analysis.create(
        video=plain,
        settings_key="k2",
        analyzer="llm:x",
        status=AnalysisStatus.FAILED,
        error_code="INTERNAL_ERROR",
        error_message="boom",
        started_at=datetime(2026, 2, 1, tzinfo=UTC),
        prompt_tokens=5,
    )
    highlight = await Highlight.filter(analysis__video_id=detailed.id).first()
    assert highlight is not None
    await Bookmark.create(user=user, video=detailed, moment_key="", note="whole")
    await Bookmark.create(user=user, video=detailed, highlight=highlight, seconds=highlight.start, moment_key="h")
    await LibraryEntry.filter(video_id=plain.id).update(last_viewed_at=datetime(2026, 3, 1, tzinfo=UTC))

    await _same_by_id(VideoRow, Video, await Video.all())
    await _same_by_id(ChannelRow, Channel, await Channel.all())
    await _same_by_id(AnalysisRow, Analysis, await Analysis.all())
    await _same_by_id(HighlightRow, Highlight, await Highlight.all())
    await _same_by_id(BookmarkRow, Bookmark, await Bookmark.all())
    await _same_by_id(LibraryEntryRow, LibraryEntry, await LibraryEntry.all())
    chapters = await Chapter.all().order_by("id")
    ids = [str(c.pk) for c in chapters]
    _assert_same(
        await select_rows(ChapterRow, Chapter, f'"id" IN ({placeholders(len(ids))})', ids, order_by='"id"'),
        list(chapters),
    )


async def test_values_of_a_queryset_hold_what_models_hold(client: Any) -> None:
    user = await User.create(is_anonymous=True)
    await make_library(user, 3, highlights=0)
    query = LibraryEntry.filter(user_id=user.id).order_by("-created_at", "-id")
    viewed = await query.first()
    assert viewed is not None
    await LibraryEntry.filter(id=viewed.id).update(last_viewed_at=datetime(2026, 3, 1, tzinfo=UTC))
    _assert_same(await values_of(LibraryEntryRow, query), list(await query))
