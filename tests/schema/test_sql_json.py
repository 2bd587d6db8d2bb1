"""The library answered by one SQL statement (schema/sql_json.py) is the resolvers' answer, byte
for byte: each query runs both ways and the response bodies are compared as they are sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from strawberry.relay import GlobalID

from models import Analysis, AnalysisStatus, Bookmark, Channel, Chapter, Highlight, LibraryEntry, User, Video
from schema import sql_json
from tests.conftest import PG_SERVER
from tests.helpers import sign_up
from tests.sql_counter import count_sql

pytestmark = pytest.mark.skipif(not PG_SERVER, reason="SQL-built answers are made on PostgreSQL only")

EVERYTHING = """
query($first: Int!, $after: String, $filter: LibraryFilter) {
  viewer { library(first: $first, after: $after, filter: $filter) {
    __typename
    pageInfo { __typename hasNextPage hasPreviousPage startCursor endCursor }
    edges { __typename cursor node { ...Entry } }
    all: nodes { id }
  } }
}
fragment Entry on LibraryEntry {
  __typename id addedAt lastViewedAt bookmarked
  ... on Node { nodeId: id }
  video { id youtubeId url title description duration durationText thumbnailUrl uploadDate tags categories
          bookmarked channel { __typename id name url } }
  analysis {
    id status progress summary analyzer model language createdAt startedAt finishedAt
    tokenUsage { promptTokens completionTokens totalTokens }
    highlights { id start end title description agentName timestamp }
    chapters { start end title summary timestamp }
    video { title }
  }
}
"""
SKIPS = """
query($first: Int!, $withVideo: Boolean!, $noCursor: Boolean!) {
  viewer { library(first: $first) {
    edges { cursor @skip(if: $noCursor) node {
      id video @include(if: $withVideo) { title } ... on LibraryEntry @skip(if: $withVideo) { addedAt } } }
  } }
}
"""
NOT_IN_SQL = "{ viewer { library(first: 10) { edges { node { id video { title viewCount } } } } } }"


async def library(user: User, other: User) -> dict[str, Any]:
    """Entries that cover what the fields can be: no channel, no analysis, no duration, moments
    with and without microseconds, fractional and whole seconds past an hour, shared videos."""
    channel = await Channel.create(source_id="UCsys", name="Systems Talks", url="https://www.youtube.com/@sys")
    base = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    made: dict[str, Any] = {"videos": []}
    for i in range(5):
        video = await Video.create(
            youtube_id=f"vid{i:08d}",
            url=f"https://www.youtube.com/watch?v=vid{i:08d}",
            title=f"Talk {i} \"quoted\" \\ and ünïcode",
            description="" if i % 2 else f"About talk {i}",
            duration=None if i == 1 else 3725.5 + i,
            thumbnail_url=None if i == 2 else f"https://i.ytimg.com/vi/{i}/hq.jpg",
            upload_date=None if i == 3 else datetime(2025, 1, 1 + i).date(),
            tags=[] if i == 4 else ["python", f"tag {i}"],
            categories=["Education"],
            channel=None if i == 2 else channel,
        )
        made["videos"].append(video)
        analysis = None
        if i != 1:
            analysis = await Analysis.create(
                video=video,
                settings_key="k",
                analyzer="local:1",
                status=AnalysisStatus.FAILED if i == 3 else AnalysisStatus.COMPLETED,
                summary=f"Summary {i}",
                progress=1.0 if i != 3 else 0.25,
                language="en" if i else None,
                prompt_tokens=10 * i,
                completion_tokens=3,
                started_at=base + timedelta(microseconds=123456) if i == 0 else None,
                finished_at=base + timedelta(minutes=1) if i == 0 else None,
            )
            await Highlight.bulk_create(
                [
                    Highlight(analysis=analysis, position=p, start=start, end=start + 20, title=f"Point {p}",
                              description="d", agent_name="key-point")
                    for p, start in enumerate([0.0, 12.5, 59.999, 3600.0, 7322.75][: 5 - i])
                ]
            )
            await Chapter.bulk_create(
                [Chapter(analysis=analysis, position=p, start=p * 200.0, end=p * 200.0 + 200, title=f"Part {p}")
                 for p in range(i % 3)]
            )
        entry = await LibraryEntry.create(user=user, video=video, analysis=analysis)
        moment = base + timedelta(seconds=i, microseconds=0 if i % 2 else 250000 + i)
        await LibraryEntry.filter(id=entry.id).update(
            created_at=moment, last_viewed_at=moment + timedelta(hours=1) if i == 4 else None
        )
    await Bookmark.create(user=user, video=made["videos"][0])
    # the other person has video 2 too, and bookmarks it; the first person does not
    await LibraryEntry.create(user=other, video=made["videos"][2])
    await Bookmark.create(user=other, video=made["videos"][2], seconds=12.0, moment_key="t:12000")
    made["channel"] = channel
    return made


async def both_ways(client: Any, monkeypatch: pytest.MonkeyPatch, query: str, variables: dict[str, Any],
                    token: str) -> tuple[bytes, bytes, list[bool]]:
    """The response as SQL builds it, the response as the resolvers make it, and whether SQL
    built each connection."""
    built: list[bool] = []
    real = sql_json.connection

    async def watched(*args: Any, **kwargs: Any) -> Any:
        answered = await real(*args, **kwargs)
        built.append(answered is not None)
        return answered

    headers = {"Authorization": f"Bearer {token}"}
    body = {"query": query, "variables": variables}
    with monkeypatch.context() as patch:
        patch.setattr(sql_json, "connection", watched)
        from_sql = await client.post("/graphql", json=body, headers=headers)
    with monkeypatch.context() as patch:
        patch.setattr(sql_json, "enabled", lambda _info: False)
        from_resolvers = await client.post("/graphql", json=body, headers=headers)
    assert from_sql.status_code == from_resolvers.status_code == 200
    return from_sql.content, from_resolvers.content, built


async def test_every_field_is_the_resolvers_answer(client, monkeypatch):
    token = await sign_up(client)
    await sign_up(client, "bob@example.com")
    ada, bob = await User.get(email="ada@example.com"), await User.get(email="bob@example.com")
    await library(ada, bob)
    from_sql, from_resolvers, built = await both_ways(client, monkeypatch, EVERYTHING, {"first": 10}, token)
    assert built == [True]
    assert b'"errors"' not in from_sql
    assert from_sql == from_resolvers
    assert b'"durationText":"1:02:05"' in from_sql and b'"timestamp":"2:02:02"' in from_sql


async def test_pages_cursors_and_filters(client, monkeypatch):
    token = await sign_up(client)
    await sign_up(client, "bob@example.com")
    ada, bob = await User.get(email="ada@example.com"), await User.get(email="bob@example.com")
    made = await library(ada, bob)
    first_page, _, _ = await both_ways(client, monkeypatch, EVERYTHING, {"first": 2}, token)
    import json

    end_cursor = json.loads(first_page)["data"]["viewer"]["library"]["pageInfo"]["endCursor"]
    channel_id = str(GlobalID("Channel", str(made["channel"].id)))
    cases: list[dict[str, Any]] = [
        {"first": 2},
        {"first": 2, "after": end_cursor},
        {"first": 0},
        {"first": 100, "filter": {"bookmarked": True}},
        {"first": 100, "filter": {"bookmarked": False}},
        {"first": 100, "filter": {"status": "FAILED"}},
        {"first": 100, "filter": {"channelId": channel_id}},
        {"first": 100, "filter": {"addedAfter": "2026-03-01T09:30:02+00:00"}},
    ]
    for variables in cases:
        from_sql, from_resolvers, built = await both_ways(client, monkeypatch, EVERYTHING, variables, token)
        assert built == [True], variables
        assert from_sql == from_resolvers, variables
    page = json.loads((await both_ways(client, monkeypatch, EVERYTHING, cases[1], token))[0])
    titles = [e["node"]["video"]["title"].split()[1] for e in page["data"]["viewer"]["library"]["edges"]]
    assert titles == ["2", "1"]


async def test_skip_include_and_what_sql_cannot_answer(client, monkeypatch):
    token = await sign_up(client)
    await sign_up(client, "bob@example.com")
    ada, bob = await User.get(email="ada@example.com"), await User.get(email="bob@example.com")
    await library(ada, bob)
    for with_video in (True, False):
        for no_cursor in (True, False):
            variables = {"first": 3, "withVideo": with_video, "noCursor": no_cursor}
            from_sql, from_resolvers, built = await both_ways(client, monkeypatch, SKIPS, variables, token)
            assert built == [True] and from_sql == from_resolvers, variables
    from_sql, from_resolvers, built = await both_ways(client, monkeypatch, NOT_IN_SQL, {}, token)
    assert built == [False] and from_sql == from_resolvers
    # bad input is the resolvers' typed error, and nothing is built
    from_sql, from_resolvers, built = await both_ways(client, monkeypatch, EVERYTHING, {"first": 101}, token)
    assert built == [] and from_sql == from_resolvers and b'"INVALID_INPUT"' in from_sql
    from_sql, from_resolvers, built = await both_ways(
        client, monkeypatch, EVERYTHING, {"first": 1, "after": "not a cursor"}, token
    )
    assert built == [] and from_sql == from_resolvers and b'"INVALID_INPUT"' in from_sql


async def test_one_statement_for_a_page(client, monkeypatch):
    token = await sign_up(client)
    await sign_up(client, "bob@example.com")
    ada, bob = await User.get(email="ada@example.com"), await User.get(email="bob@example.com")
    await library(ada, bob)
    headers = {"Authorization": f"Bearer {token}"}
    with count_sql() as statements:
        response = await client.post("/graphql", json={"query": EVERYTHING, "variables": {"first": 10}},
                                     headers=headers)
    assert response.status_code == 200 and len(response.json()["data"]["viewer"]["library"]["edges"]) == 5
    reads = [s for s in statements if not s.startswith("UPDATE")]  # a session's last use, now and then
    assert [s.split(" ", 1)[0] for s in reads] == ["SELECT", "WITH"], reads  # the session, the page


async def test_another_person_gets_only_their_own(client, monkeypatch):
    await sign_up(client)
    bob_token = await sign_up(client, "bob@example.com")
    ada, bob = await User.get(email="ada@example.com"), await User.get(email="bob@example.com")
    made = await library(ada, bob)
    from_sql, from_resolvers, built = await both_ways(client, monkeypatch, EVERYTHING, {"first": 100}, bob_token)
    assert built == [True] and from_sql == from_resolvers
    import json

    edges = json.loads(from_sql)["data"]["viewer"]["library"]["edges"]
    assert [e["node"]["video"]["youtubeId"] for e in edges] == [made["videos"][2].youtube_id]
    assert edges[0]["node"]["bookmarked"] is True and edges[0]["node"]["video"]["bookmarked"] is True
    entry = await LibraryEntry.get(user=ada, video=made["videos"][2])
    assert edges[0]["node"]["id"] != str(GlobalID("LibraryEntry", str(entry.id)))
    # and the first person's flag for the same video stays theirs
    ada_token = await sign_up(client, "ada2@example.com")
    ada2 = await User.get(email="ada2@example.com")
    await LibraryEntry.create(user=ada2, video=made["videos"][2])
    from_sql, _, _ = await both_ways(client, monkeypatch, EVERYTHING, {"first": 100}, ada_token)
    edges = json.loads(from_sql)["data"]["viewer"]["library"]["edges"]
    assert len(edges) == 1 and edges[0]["node"]["bookmarked"] is False


async def test_a_statement_that_fails_leaves_the_page_to_the_resolvers(client, monkeypatch, caplog):
    token = await sign_up(client)
    await sign_up(client, "bob@example.com")
    ada, bob = await User.get(email="ada@example.com"), await User.get(email="bob@example.com")
    await library(ada, bob)
    # a value JSON cannot hold: the resolvers answer it with their error, located on the field
    await Highlight.filter(position=1).update(start=float("nan"))
    from_sql, from_resolvers, built = await both_ways(client, monkeypatch, EVERYTHING, {"first": 10}, token)
    assert built == [False]
    assert from_sql == from_resolvers and b'"errors"' in from_sql and b'"start"' in from_sql
    assert "the statement for library failed" in caplog.text


BOOKMARKS = """
query($first: Int!, $after: String) { viewer { bookmarks(first: $first, after: $after) {
  pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  edges { cursor node { __typename id seconds timestamp note createdAt updatedAt
    video { id title durationText channel { name } } highlight { id start title timestamp } } }
} } }
"""


async def test_bookmarks_are_the_resolvers_answer_and_only_the_viewers(client, monkeypatch):
    token = await sign_up(client)
    bob_token = await sign_up(client, "bob@example.com")
    ada, bob = await User.get(email="ada@example.com"), await User.get(email="bob@example.com")
    made = await library(ada, bob)
    videos = made["videos"]
    point = await Highlight.filter(analysis__video_id=videos[0].id, position=4).first()
    assert point is not None
    await Bookmark.create(user=ada, video=videos[0], highlight=point, seconds=point.start,
                          moment_key=f"h:{point.id}", note="the long one")
    await Bookmark.create(user=ada, video=videos[2], seconds=3599.5, moment_key="t:3599500", note="")
    import json

    first_page, _, _ = await both_ways(client, monkeypatch, BOOKMARKS, {"first": 2}, token)
    end_cursor = json.loads(first_page)["data"]["viewer"]["bookmarks"]["pageInfo"]["endCursor"]
    for variables in ({"first": 2}, {"first": 2, "after": end_cursor}, {"first": 100}, {"first": 0}):
        from_sql, from_resolvers, built = await both_ways(client, monkeypatch, BOOKMARKS, variables, token)
        assert built == [True] and b'"errors"' not in from_sql, variables
        assert from_sql == from_resolvers, variables
    everything = json.loads((await both_ways(client, monkeypatch, BOOKMARKS, {"first": 100}, token))[0])
    assert [e["node"]["note"] for e in everything["data"]["viewer"]["bookmarks"]["edges"]] == ["", "the long one", ""]
    # the other person's list is theirs: the one bookmark they made, of the video both have
    from_sql, from_resolvers, built = await both_ways(client, monkeypatch, BOOKMARKS, {"first": 100}, bob_token)
    assert built == [True] and from_sql == from_resolvers
    edges = json.loads(from_sql)["data"]["viewer"]["bookmarks"]["edges"]
    assert [(e["node"]["seconds"], e["node"]["timestamp"]) for e in edges] == [(12.0, "00:12")]
