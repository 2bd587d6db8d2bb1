"""How each type that `schema/sql_json.py` can answer in SQL reads its fields.

Each SQL text has `{t}` for the alias of the type's own row, `{c}` for the alias of a related
row, and `{viewer}` for the viewer's id, bound. A field missing here, or asked with arguments,
sends the whole connection back to the resolvers: nothing is answered in SQL that the resolvers
would answer differently. Values are written as the resolvers' answers write them: global ids
as `base64("Type:id")`, moments as Python's `isoformat()`, floats with Python's `.0`, clock
times as `services.timestamps.format_timestamp`.

Fields not here, on purpose: `viewCount`, `likeCount`, `followerCount` (64-bit counts in a
32-bit `Int`: the resolvers answer an error past 2^31), `Analysis.error` (an error code mapped
in Python), and the relations with their own rules (`Video.latestAnalysis`, `bookmarks`,
`libraryEntry`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from models import AnalysisStatus


@dataclass(frozen=True, slots=True)
class Leaf:
    sql: str


@dataclass(frozen=True, slots=True)
class One:
    """A related object, or null when the statement finds none."""

    type_name: str
    source: str  # FROM … WHERE …, with {c} for the related row


@dataclass(frozen=True, slots=True)
class Many:
    """A list of related objects, in `order`; empty when there are none."""

    type_name: str
    source: str
    order: str


@dataclass(frozen=True, slots=True)
class Same:
    """An object made from the parent's own row (an analysis' token usage)."""

    type_name: str


Field = Leaf | One | Many | Same


def global_id(type_name: str, column: str) -> str:
    # PostgreSQL's base64 breaks lines every 76 characters; a global id has none
    return f"translate(encode(convert_to('{type_name}:' || {column}::text, 'UTF8'), 'base64'), E'\\n', '')"


def iso(column: str) -> str:
    """`datetime.isoformat()` of a UTC moment: microseconds only when there are any."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN extract(microseconds FROM {column})::bigint"
        f" % 1000000 = 0 THEN '' ELSE to_char({utc}, '.US') END || '+00:00'"
    )


def day(column: str) -> str:
    return f"to_char({column}, 'YYYY-MM-DD')"


def number(column: str) -> str:
    """A float as Python writes it: a whole number keeps its `.0`. NaN and infinities fail the
    cast to json, and the statement with it: the resolvers then answer, with their error."""
    return (
        f"(CASE WHEN {column} = trunc({column}) AND abs({column}) < 1e15"
        f" THEN trunc({column})::bigint::text || '.0' ELSE {column}::text END)::json"
    )


def clock(column: str) -> str:
    """`format_timestamp`: mm:ss below an hour, h:mm:ss from one; fractions truncated."""
    s = f"(CASE WHEN {column} > 0 AND {column} < 'Infinity' THEN floor({column})::bigint ELSE 0 END)"
    mm_ss = f"lpad(({s} % 3600 / 60)::text, 2, '0') || ':' || lpad(({s} % 60)::text, 2, '0')"
    return f"(CASE WHEN {s} >= 3600 THEN ({s} / 3600)::text || ':' || {mm_ss} ELSE {mm_ss} END)"


def enum_name(kind: type[enum.Enum], column: str) -> str:
    """The GraphQL enum value (the member's name) of a column that holds the member's value."""
    if all(m.name == m.value for m in kind):
        return column
    cases = " ".join(f"WHEN '{m.value}' THEN '{m.name}'" for m in kind)
    return f"(CASE {column} {cases} END)"


def text_list(column: str) -> str:
    return f"coalesce({column}::json, '[]'::json)"


def bookmarked(video_id: str) -> str:
    return f'EXISTS (SELECT 1 FROM "bookmarks" b WHERE b."user_id" = {{viewer}} AND b."video_id" = {video_id})'  # noqa: S608


_DURATION_CLOCK = clock('{t}."duration"')
_SECONDS_CLOCK = clock('{t}."seconds"')

TABLES: dict[str, dict[str, Field]] = {
    "LibraryEntry": {
        "id": Leaf(global_id("LibraryEntry", '{t}."id"')),
        "addedAt": Leaf(iso('{t}."created_at"')),
        "lastViewedAt": Leaf(iso('{t}."last_viewed_at"')),
        "bookmarked": Leaf(bookmarked('{t}."video_id"')),
        "video": One("Video", 'FROM "videos" {c} WHERE {c}."id" = {t}."video_id"'),
        "analysis": One("Analysis", 'FROM "analyses" {c} WHERE {c}."id" = {t}."analysis_id"'),
    },
    "Bookmark": {
        "id": Leaf(global_id("Bookmark", '{t}."id"')),
        "seconds": Leaf(number('{t}."seconds"')),
        "timestamp": Leaf(f'CASE WHEN {{t}}."seconds" IS NULL THEN NULL ELSE {_SECONDS_CLOCK} END'),
        "note": Leaf('{t}."note"'),
        "createdAt": Leaf(iso('{t}."created_at"')),
        "updatedAt": Leaf(iso('{t}."updated_at"')),
        "video": One("Video", 'FROM "videos" {c} WHERE {c}."id" = {t}."video_id"'),
        "highlight": One("Highlight", 'FROM "highlights" {c} WHERE {c}."id" = {t}."highlight_id"'),
    },
    "Video": {
        "id": Leaf(global_id("Video", '{t}."id"')),
        "youtubeId": Leaf('{t}."youtube_id"'),
        "url": Leaf('{t}."url"'),
        "title": Leaf('{t}."title"'),
        "description": Leaf('{t}."description"'),
        "duration": Leaf(number('{t}."duration"')),
        "durationText": Leaf(f'CASE WHEN {{t}}."duration" IS NULL THEN NULL ELSE {_DURATION_CLOCK} END'),
        "thumbnailUrl": Leaf('{t}."thumbnail_url"'),
        "uploadDate": Leaf(day('{t}."upload_date"')),
        "tags": Leaf(text_list('{t}."tags"')),
        "categories": Leaf(text_list('{t}."categories"')),
        "bookmarked": Leaf(bookmarked('{t}."id"')),
        "channel": One("Channel", 'FROM "channels" {c} WHERE {c}."id" = {t}."channel_id"'),
    },
    "Channel": {
        "id": Leaf(global_id("Channel", '{t}."id"')),
        "name": Leaf('{t}."name"'),
        "url": Leaf('{t}."url"'),
    },
    "Analysis": {
        "id": Leaf(global_id("Analysis", '{t}."id"')),
        "status": Leaf(enum_name(AnalysisStatus, '{t}."status"')),
        "progress": Leaf(number('{t}."progress"')),
        "summary": Leaf('{t}."summary"'),
        "analyzer": Leaf('{t}."analyzer"'),
        "model": Leaf('{t}."model"'),
        "language": Leaf('{t}."language"'),
        "createdAt": Leaf(iso('{t}."created_at"')),
        "startedAt": Leaf(iso('{t}."started_at"')),
        "finishedAt": Leaf(iso('{t}."finished_at"')),
        "tokenUsage": Same("TokenUsage"),
        "highlights": Many("Highlight", 'FROM "highlights" {c} WHERE {c}."analysis_id" = {t}."id"', '{c}."position"'),
        "chapters": Many("Chapter", 'FROM "chapters" {c} WHERE {c}."analysis_id" = {t}."id"', '{c}."position"'),
        "video": One("Video", 'FROM "videos" {c} WHERE {c}."id" = {t}."video_id"'),
    },
    "TokenUsage": {
        "promptTokens": Leaf('{t}."prompt_tokens"'),
        "completionTokens": Leaf('{t}."completion_tokens"'),
        "totalTokens": Leaf('({t}."prompt_tokens" + {t}."completion_tokens")'),
    },
    "Highlight": {
        "id": Leaf(global_id("Highlight", '{t}."id"')),
        "start": Leaf(number('{t}."start"')),
        "end": Leaf(number('{t}."end"')),
        "title": Leaf('{t}."title"'),
        "description": Leaf('{t}."description"'),
        "agentName": Leaf('{t}."agent_name"'),
        "timestamp": Leaf(clock('{t}."start"')),
    },
    "Chapter": {
        "start": Leaf(number('{t}."start"')),
        "end": Leaf(number('{t}."end"')),
        "title": Leaf('{t}."title"'),
        "summary": Leaf('{t}."summary"'),
        "timestamp": Leaf(clock('{t}."start"')),
    },
}
