from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from strawberry.relay import GlobalID

from models import Analysis, AnalysisStatus, Bookmark, Channel, Chapter, Highlight, LibraryEntry, User, Video
from schema import sql_json
from tests.fixture_source import COMPILER_TALK, INDEX_TALK
from tests.helpers import data_of, gql, sign_up
from tests.schema.test_analyses import analyze, wait_until_done
from tests.sql_counter import count_sql

DEEP_LIBRARY = """
query($first: Int!, $after: String, $filter: LibraryFilter) {
  viewer { library(first: $first, after: $after, filter: $filter) {
  pageInfo { hasNextPage endCursor }
  edges { cursor node {
    id addedAt bookmarked
    video { id title duration bookmarked channel { id name } }
    analysis { id status summary highlights { id start title agentName timestamp } chapters { start title } }
  } }
} } }
"""
BOOKMARKS = (
    "{ viewer { bookmarks(first: 20) { edges { node { id seconds timestamp note video { id } highlight { id } } } } } }"
)
ADD_BOOKMARK = """
mutation($input: AddBookmarkInput!) { addBookmark(input: $input) {
  bookmark { id seconds timestamp note highlight { id } } errors { code field message } } }
"""
SEARCH = """
query($q: String!, $first: Int!, $after: String) { search(query: $q, first: $first, after: $after) {
  pageInfo { hasNextPage endCursor }
  edges { node { kind snippet seconds timestamp video { id title } highlight { id } } }
} }
"""


async def make_library(user: User, count: int, *, highlights: int = 12) -> list[Video]:
    """`count` analysed videos in the user's library, one second apart, each with highlights."""
    channel = await Channel.create(source_id=f"UC{user.id.hex[:10]}", name="Systems Talks")
    base = datetime(2026, 1, 1, tzinfo=UTC)
    videos = []
    for i in range(count):
        video = await Video.create(
            youtube_id=f"v{user.id.hex[:6]}{i:04d}",
            url=f"https://www.youtube.com/watch?v=x{i}",
            title=f"Talk {i}",
            duration=600.0,
            channel=channel,
        )
        analysis = await Analysis.create(
            video=video,
            settings_key="k",
            analyzer="local:1",
            status=AnalysisStatus.COMPLETED,
            summary=f"Summary {i}",
            progress=1.0,
        )
        await Highlight.bulk_create(
            [
                Highlight(
                    analysis=analysis,
                    position=p,
                    start=p * 30.0,
                    end=p * 30.0 + 20,
                    title=f"Point {p}",
                    description="d",
                    agent_name="key-point",
                )
                for p in range(highlights)
            ]
        )
        await Chapter.bulk_create(
            [
                Chapter(analysis=analysis, position=p, start=p * 200.0, end=p * 200.0 + 200, title=f"Part {p}")
                for p in range(3)
            ]
        )
        entry = await LibraryEntry.create(user=user, video=video, analysis=analysis)
        await LibraryEntry.filter(id=entry.id).update(created_at=base + timedelta(seconds=i))
        videos.append(video)
    return videos


async def test_library_lists_newest_first_with_stable_pages(client):
    token = await sign_up(client)
    user = await User.get(email="ada@example.com")
    await make_library(user, 5, highlights=1)
    first = data_of(await gql(client, DEEP_LIBRARY, {"first": 2}, token=token))["viewer"]["library"]
    titles = [e["node"]["video"]["title"] for e in first["edges"]]
    assert titles == ["Talk 4", "Talk 3"] and first["pageInfo"]["hasNextPage"]
    rest = data_of(
        await gql(client, DEEP_LIBRARY, {"first": 10, "after": first["pageInfo"]["endCursor"]}, token=token)
    )["viewer"]["library"]
    assert [e["node"]["video"]["title"] for e in rest["edges"]] == ["Talk 2", "Talk 1", "Talk 0"]
    assert rest["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize("size", [10, 100])
@pytest.mark.parametrize("sql_json_on", [True, False], ids=["sql-json", "resolvers"])
async def test_deep_library_query_costs_the_same_sql_whatever_its_size(client, monkeypatch, size, sql_json_on):
    if not sql_json_on:  # on PostgreSQL the page is otherwise one statement (schema/sql_json.py)
        monkeypatch.setattr(sql_json, "enabled", lambda _info: False)
    token = await sign_up(client)
    user = await User.get(email="ada@example.com")
    videos = await make_library(user, size)
    await Bookmark.create(user=user, video=videos[0])
    with count_sql() as statements:
        body = data_of(await gql(client, DEEP_LIBRARY, {"first": 100}, token=token))
    edges = body["viewer"]["library"]["edges"]
    assert len(edges) == size
    assert all(len(e["node"]["analysis"]["highlights"]) == 12 for e in edges)
    # session, entries, videos, channels, analyses, highlights, chapters, bookmarks
    assert len(statements) <= 9, statements
    counts = test_deep_library_query_costs_the_same_sql_whatever_its_size.counts  # type: ignore[attr-defined]
    counts[sql_json_on, size] = len(statements)
    if (sql_json_on, 10) in counts and (sql_json_on, 100) in counts:
        assert counts[sql_json_on, 10] == counts[sql_json_on, 100]


test_deep_library_query_costs_the_same_sql_whatever_its_size.counts = {}  # type: ignore[attr-defined]


async def test_library_filters(client):
    token = await sign_up(client)
    user = await User.get(email="ada@example.com")
    videos = await make_library(user, 3, highlights=1)
    await Bookmark.create(user=user, video=videos[1])
    await Analysis.filter(video=videos[2]).update(status=AnalysisStatus.FAILED)

    async def titles(filter_):
        body = data_of(await gql(client, DEEP_LIBRARY, {"first": 10, "filter": filter_}, token=token))
        return [e["node"]["video"]["title"] for e in body["viewer"]["library"]["edges"]]

    assert await titles({"bookmarked": True}) == ["Talk 1"]
    assert await titles({"bookmarked": False}) == ["Talk 2", "Talk 0"]
    assert await titles({"status": "FAILED"}) == ["Talk 2"]
    assert await titles(
        {"addedAfter": "2026-01-01T00:00:00.500000+00:00", "addedBefore": "2026-01-01T00:00:01.500000+00:00"}
    ) == ["Talk 1"]
    channel = await Channel.first()
    assert await titles({"channelId": str(GlobalID("Channel", str(channel.id)))}) == ["Talk 2", "Talk 1", "Talk 0"]


async def test_bookmarks_of_videos_and_moments(client):
    token = await sign_up(client)
    payload = await analyze(client, token, f"https://youtu.be/{COMPILER_TALK}")
    done = await wait_until_done(client, token, payload["analysis"]["id"])
    video_id, highlight = payload["video"]["id"], done["highlights"][0]
    whole = data_of(
        await gql(client, ADD_BOOKMARK, {"input": {"videoId": video_id, "note": "watch later"}}, token=token)
    )["addBookmark"]
    moment = data_of(await gql(client, ADD_BOOKMARK, {"input": {"videoId": video_id, "seconds": 75.5}}, token=token))[
        "addBookmark"
    ]
    by_highlight = data_of(
        await gql(
            client,
            ADD_BOOKMARK,
            {"input": {"videoId": video_id, "highlightId": highlight["id"], "note": "key"}},
            token=token,
        )
    )["addBookmark"]
    assert whole["errors"] == [] and moment["errors"] == [] and by_highlight["errors"] == []
    assert moment["bookmark"]["timestamp"] == "01:15"
    assert by_highlight["bookmark"]["highlight"]["id"] == highlight["id"]
    again = data_of(await gql(client, ADD_BOOKMARK, {"input": {"videoId": video_id, "seconds": 75.5}}, token=token))[
        "addBookmark"
    ]
    assert again["errors"][0]["code"] == "CONFLICT" and await Bookmark.all().count() == 3
    outside = data_of(await gql(client, ADD_BOOKMARK, {"input": {"videoId": video_id, "seconds": 99999}}, token=token))[
        "addBookmark"
    ]
    assert (outside["errors"][0]["code"], outside["errors"][0]["field"]) == ("INVALID_INPUT", "seconds")
    listed = data_of(await gql(client, BOOKMARKS, token=token))["viewer"]["bookmarks"]["edges"]
    assert len(listed) == 3
    video = data_of(
        await gql(
            client,
            "query($id: ID!) { node(id: $id) { ... on Video { bookmarked bookmarks { seconds } } } }",
            {"id": video_id},
            token=token,
        )
    )["node"]
    assert video["bookmarked"] is True and video["bookmarks"][0]["seconds"] is None
    update = (
        "mutation($id: ID!, $note: String!) "
        "{ updateBookmark(id: $id, note: $note) { bookmark { note } errors { code } } }"
    )
    assert (
        data_of(await gql(client, update, {"id": whole["bookmark"]["id"], "note": "done"}, token=token))[
            "updateBookmark"
        ]["bookmark"]["note"]
        == "done"
    )
    remove = "mutation($id: ID!) { removeBookmark(id: $id) { removedId errors { code } } }"
    assert (
        data_of(await gql(client, remove, {"id": whole["bookmark"]["id"]}, token=token))["removeBookmark"]["errors"]
        == []
    )
    assert await Bookmark.all().count() == 2


async def test_remove_from_library_keeps_the_shared_analysis_and_others_data(client):
    ada = await sign_up(client, email="ada@example.com")
    bob = await sign_up(client, email="bob@example.com")
    first = await analyze(client, ada, f"https://youtu.be/{INDEX_TALK}")
    await wait_until_done(client, ada, first["analysis"]["id"])
    await analyze(client, bob, f"https://youtu.be/{INDEX_TALK}")
    video_id = first["video"]["id"]
    for token in (ada, bob):
        await gql(client, ADD_BOOKMARK, {"input": {"videoId": video_id}}, token=token)
    remove = "mutation($id: ID!) { removeFromLibrary(videoId: $id) { removedId errors { code } } }"
    assert data_of(await gql(client, remove, {"id": video_id}, token=ada))["removeFromLibrary"]["errors"] == []
    assert data_of(await gql(client, "query($id: ID!) { node(id: $id) { id } }", {"id": video_id}, token=ada)) == {
        "node": None
    }
    assert await Bookmark.all().count() == 1 and await LibraryEntry.all().count() == 1
    assert await Analysis.all().count() == 1
    bob_view = data_of(
        await gql(
            client,
            "query($id: ID!) { node(id: $id) { ... on Video { bookmarked latestAnalysis { status } } } }",
            {"id": video_id},
            token=bob,
        )
    )["node"]
    assert bob_view == {"bookmarked": True, "latestAnalysis": {"status": "COMPLETED"}}
    again = data_of(await gql(client, remove, {"id": video_id}, token=ada))["removeFromLibrary"]
    assert again["errors"][0]["code"] == "NOT_FOUND"


async def test_views_set_last_viewed(client):
    token = await sign_up(client)
    payload = await analyze(client, token, f"https://youtu.be/{INDEX_TALK}")
    record = (
        "mutation($id: ID!) { recordInteraction(videoId: $id, kind: VIEW) { entry { lastViewedAt } errors { code } } }"
    )
    body = data_of(await gql(client, record, {"id": payload["video"]["id"]}, token=token))["recordInteraction"]
    assert body["errors"] == [] and body["entry"]["lastViewedAt"] is not None


async def test_stats(client):
    token = await sign_up(client)
    user = await User.get(email="ada@example.com")
    videos = await make_library(user, 3, highlights=1)
    await Bookmark.create(user=user, video=videos[0])
    stats = data_of(
        await gql(
            client,
            "{ viewer { stats { videosAnalysed totalDurationSeconds hoursOfVideo timeSavedSeconds "
            "bookmarks conversations } } }",
            token=token,
        )
    )["viewer"]["stats"]
    assert stats == {
        "videosAnalysed": 3,
        "totalDurationSeconds": 1800.0,
        "hoursOfVideo": 0.5,
        "timeSavedSeconds": 1440.0,
        "bookmarks": 1,
        "conversations": 0,
    }


async def test_another_person_sees_none_of_my_library(client):
    ada = await sign_up(client, email="ada@example.com")
    bob = await sign_up(client, email="bob@example.com")
    payload = await analyze(client, ada, f"https://youtu.be/{COMPILER_TALK}")
    await wait_until_done(client, ada, payload["analysis"]["id"])
    bookmark = data_of(await gql(client, ADD_BOOKMARK, {"input": {"videoId": payload["video"]["id"]}}, token=ada))[
        "addBookmark"
    ]["bookmark"]
    entry_id = data_of(await gql(client, DEEP_LIBRARY, {"first": 1}, token=ada))["viewer"]["library"]["edges"][0][
        "node"
    ]["id"]
    for node_id in (bookmark["id"], entry_id):
        assert data_of(await gql(client, "query($id: ID!) { node(id: $id) { id } }", {"id": node_id}, token=bob)) == {
            "node": None
        }
    assert data_of(await gql(client, DEEP_LIBRARY, {"first": 10}, token=bob))["viewer"]["library"]["edges"] == []
    assert data_of(await gql(client, BOOKMARKS, token=bob))["viewer"]["bookmarks"]["edges"] == []
    assert data_of(await gql(client, SEARCH, {"q": "compiler", "first": 10}, token=bob))["search"]["edges"] == []
    for mutation, variables in (
        ("mutation($id: ID!) { removeBookmark(id: $id) { errors { code } } }", {"id": bookmark["id"]}),
        ('mutation($id: ID!) { updateBookmark(id: $id, note: "x") { errors { code } } }', {"id": bookmark["id"]}),
        ("mutation($id: ID!) { removeFromLibrary(videoId: $id) { errors { code } } }", {"id": payload["video"]["id"]}),
        (
            "mutation($id: ID!) { addBookmark(input: {videoId: $id}) { errors { code } } }",
            {"id": payload["video"]["id"]},
        ),
    ):
        body = data_of(await gql(client, mutation, variables, token=bob))
        assert next(iter(body.values()))["errors"][0]["code"] == "NOT_FOUND"
    assert await Bookmark.all().count() == 1 and await LibraryEntry.all().count() == 1


async def test_loaders_are_not_shared_between_people_on_one_connection(client, live_server):
    """Viewer-scoped loaders are per operation: a video both have shows each their own bookmarks."""
    ada = await sign_up(client, email="ada@example.com")
    bob = await sign_up(client, email="bob@example.com")
    payload = await analyze(client, ada, f"https://youtu.be/{INDEX_TALK}")
    await analyze(client, bob, f"https://youtu.be/{INDEX_TALK}")
    await gql(client, ADD_BOOKMARK, {"input": {"videoId": payload["video"]["id"], "note": "ada's"}}, token=ada)
    query = "query($id: ID!) { node(id: $id) { ... on Video { bookmarked bookmarks { note } } } }"
    results = await asyncio.gather(
        *[gql(client, query, {"id": payload["video"]["id"]}, token=t) for t in (ada, bob, ada, bob)]
    )
    assert [data_of(r)["node"]["bookmarked"] for r in results] == [True, False, True, False]
    assert data_of(results[1])["node"]["bookmarks"] == []
