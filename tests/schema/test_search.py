"""Search as a person uses it: what each kind of match returns and where it points, how hits rank,
what odd input does, how pages walk, and that only one's own library is ever searched."""

from __future__ import annotations

import base64
import html
import json
import re
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from models import (
    Analysis,
    AnalysisStatus,
    Channel,
    Chunk,
    Highlight,
    LibraryEntry,
    Segment,
    Transcript,
    TranscriptSource,
    User,
    Video,
)
from services.youtube_urls import canonical_url
from tests.conftest import PG_SERVER
from tests.fixture_source import COMPILER_TALK, INDEX_TALK
from tests.helpers import data_of, gql, sign_up
from tests.schema.test_analyses import analyze, wait_until_done

SEARCH = """
query($q: String!, $first: Int!, $after: String) { search(query: $q, first: $first, after: $after) {
  pageInfo { hasNextPage endCursor }
  edges { cursor node {
    kind snippet seconds timestamp
    video { id title youtubeId }
    highlight { id title start }
  } }
} }
"""
REMOVE_FROM_LIBRARY = "mutation($id: ID!) { removeFromLibrary(videoId: $id) { removedId errors { code } } }"

ON_SQLITE = PG_SERVER is None

# transcript lines are (start seconds, text)
VACUUM_LINES = [
    (0.0, "welcome back everyone"),
    (12.5, "today we look at the autovacuum daemon"),
    (95.0, "first the cost limit settings"),
    (130.0, "the planner picks a bitmap heap scan"),
    (3725.0, "and after an hour the freeze horizon moves"),
]


async def add_video(
    user: User,
    *,
    youtube_id: str,
    title: str,
    lines: Sequence[tuple[float, str]] = (),
    chunks: Sequence[tuple[int, int]] | None = None,
    chunk_ids: Sequence[uuid.UUID] | None = None,
    highlights: Sequence[tuple[float, str, str]] = (),
    channel: str = "Systems Talks",
) -> Video:
    """A completed analysis in the user's library with exactly these transcript lines, chunks (segment
    position ranges; one chunk of everything by default) and highlights (start, title, description)."""
    owner, _ = await Channel.get_or_create(source_id=f"UC{channel}"[:64], defaults={"name": channel})
    video = await Video.create(
        youtube_id=youtube_id, url=canonical_url(youtube_id), title=title, duration=4000.0, channel=owner
    )
    transcript = await Transcript.create(
        video=video, language="en", source=TranscriptSource.MANUAL, format="vtt", segment_count=len(lines)
    )
    ends = [start for start, _ in lines[1:]] + [lines[-1][0] + 10.0] if lines else []
    await Segment.bulk_create([
        Segment(transcript=transcript, position=i, start=start, end=ends[i], text=text)
        for i, (start, text) in enumerate(lines)
    ])
    ranges = chunks if chunks is not None else ([(0, len(lines) - 1)] if lines else [])
    await Chunk.bulk_create([
        Chunk(
            id=chunk_ids[p] if chunk_ids else uuid.uuid4(), transcript=transcript, position=p,
            start=lines[low][0], end=ends[high], first_segment=low, last_segment=high,
            text=" ".join(text for _, text in lines[low : high + 1]), token_count=10 * (high - low + 1),
        )
        for p, (low, high) in enumerate(ranges)
    ])
    analysis = await Analysis.create(video=video, transcript=transcript, settings_key="k", analyzer="local:1",
                                     status=AnalysisStatus.COMPLETED, progress=1.0)
    await Highlight.bulk_create([
        Highlight(analysis=analysis, position=p, start=start, end=start + 20.0, title=name, description=description,
                  agent_name="key-point")
        for p, (start, name, description) in enumerate(highlights)
    ])
    await LibraryEntry.create(user=user, video=video, analysis=analysis)
    return video


async def ada() -> User:
    return await User.get(email="ada@example.com")


async def search(client: httpx.AsyncClient, token: str, query: str, *, first: int = 100,
                 after: str | None = None) -> dict[str, Any]:
    variables = {"q": query, "first": first, "after": after}
    found: dict[str, Any] = data_of(await gql(client, SEARCH, variables, token=token))["search"]
    return found


async def hits(client: httpx.AsyncClient, token: str, query: str) -> list[dict[str, Any]]:
    return [edge["node"] for edge in (await search(client, token, query))["edges"]]


async def refusal(client: httpx.AsyncClient, token: str | None, variables: dict[str, Any]) -> tuple[str, str | None]:
    """The code and field of the one error a refused search answers with."""
    body = await gql(client, SEARCH, variables, token=token)
    assert body["data"] is None, body
    [error] = body["errors"]
    return error["extensions"]["code"], error["extensions"].get("field")


def unmarked(snippet: str) -> str:
    """The snippet as a person reads it: marks gone, HTML entities decoded."""
    return html.unescape(snippet.replace("<mark>", "").replace("</mark>", ""))


# ---- what is found, and where it points -------------------------------------------------------


@pytest.mark.parametrize("query,kind,seconds,timestamp,marked", [
    ("tuning", "VIDEO", None, None, "<mark>Tuning</mark>"),
    ("elephant", "CHANNEL", None, None, "<mark>Elephant</mark>"),
    ("thresholds", "HIGHLIGHT", 42.0, "00:42", "<mark>Thresholds</mark>"),
    ("wraparound", "HIGHLIGHT", 42.0, "00:42", "<mark>wraparound</mark>"),
    ("bitmap", "TRANSCRIPT", 130.0, "02:10", "<mark>bitmap</mark>"),
    ("horizon", "TRANSCRIPT", 3725.0, "1:02:05", "<mark>horizon</mark>"),
])
async def test_each_kind_of_match_is_found_with_where_it_points(client, query, kind, seconds, timestamp, marked):
    token = await sign_up(client)
    await add_video(await ada(), youtube_id="vAcUum12345", title="Tuning Vacuum for Busy Tables", lines=VACUUM_LINES,
                    chunks=[(0, 2), (3, 4)], highlights=[(42.0, "Autovacuum Thresholds", "why wraparound matters")],
                    channel="Elephant Talks")
    [hit] = await hits(client, token, query)
    assert (hit["kind"], hit["seconds"], hit["timestamp"]) == (kind, seconds, timestamp)
    assert marked in hit["snippet"]
    assert hit["video"]["title"] == "Tuning Vacuum for Busy Tables"
    if kind == "HIGHLIGHT":
        assert (hit["highlight"]["title"], hit["highlight"]["start"]) == ("Autovacuum Thresholds", seconds)
    else:
        assert hit["highlight"] is None


async def test_analysed_videos_are_found_by_title_channel_highlight_and_transcript_line(client):
    token = await sign_up(client)
    for video_id in (INDEX_TALK, COMPILER_TALK):
        payload = await analyze(client, token, f"https://youtu.be/{video_id}")
        assert (await wait_until_done(client, token, payload["analysis"]["id"]))["status"] == "COMPLETED"

    found = await hits(client, token, "postgresql")
    assert {h["video"]["youtubeId"] for h in found} == {INDEX_TALK}
    [line] = [h for h in found if h["kind"] == "TRANSCRIPT"]
    segment = await Segment.get(text__icontains="postgresql")
    assert (line["seconds"], line["timestamp"]) == (segment.start, "00:10")
    assert "<mark>postgresql</mark>" in line["snippet"] and segment.text in unmarked(line["snippet"])
    highlights = [h for h in found if h["kind"] == "HIGHLIGHT"]
    assert highlights and all(h["seconds"] == h["highlight"]["start"] for h in highlights)

    titles = [h for h in await hits(client, token, "bytecode") if h["kind"] == "VIDEO"]
    assert [(h["video"]["youtubeId"], h["snippet"]) for h in titles] == [
        (COMPILER_TALK, "Building a Compiler in Python: From Tokens to <mark>Bytecode</mark>")
    ]
    channels = [h for h in await hits(client, token, "ada devlin") if h["kind"] == "CHANNEL"]
    assert sorted(h["video"]["youtubeId"] for h in channels) == sorted([INDEX_TALK, COMPILER_TALK])
    assert all(h["snippet"] == "<mark>Ada</mark> <mark>Devlin</mark>" for h in channels)


URL_FORMS = [
    "https://www.youtube.com/watch?v={}",
    "https://youtu.be/{}?t=42",
    "https://m.youtube.com/watch?v={}&feature=share",
    "youtube.com/shorts/{}",
    "https://www.youtube.com/embed/{}",
]


# an id with - and _ is split into several words by both engines' tokenizers
@pytest.mark.parametrize("youtube_id", ["vAcUum12345", "a-b_C3d4E5f"])
async def test_pasting_a_video_url_finds_that_video(client, youtube_id):
    token = await sign_up(client)
    user = await ada()
    await add_video(user, youtube_id="vAcUum12345", title="Tuning Vacuum", lines=VACUUM_LINES)
    await add_video(user, youtube_id="a-b_C3d4E5f", title="Hash Joins", lines=[(0.0, "hash joins build a table")])
    for form in URL_FORMS:
        found = await hits(client, token, form.format(youtube_id))
        assert [(h["kind"], h["video"]["youtubeId"]) for h in found] == [("VIDEO", youtube_id)], form


async def test_a_pasted_url_of_a_video_outside_the_library_finds_nothing(client):
    token = await sign_up(client)
    await add_video(await ada(), youtube_id="vAcUum12345", title="Tuning Vacuum", lines=VACUUM_LINES)
    assert await hits(client, token, f"https://youtu.be/{INDEX_TALK}") == []


@pytest.mark.parametrize("query", [
    "martin",
    "MARTIN",
    "élodie",
    "ÉLODIE",
    "Élodie martin",
])
async def test_a_channel_is_found_whatever_the_case_of_its_letters(client, query):
    token = await sign_up(client)
    await add_video(await ada(), youtube_id="cHannel0001", title="Vacuum", lines=VACUUM_LINES, channel="Élodie Martin")
    [hit] = await hits(client, token, query)
    assert hit["kind"] == "CHANNEL" and unmarked(hit["snippet"]) == "Élodie Martin" and "<mark>" in hit["snippet"]


# near-misses of each query sit in the chunk before the line that really matches
PIN_LINES = [
    (0.0, "indeed we begin with a story"),
    (10.0, "about one slow query"),
    (20.0, "the planner ignored the index"),
    (30.0, "complexity grows quickly"),
    (40.0, "the compiler rewrote it"),
    (50.0, "thanks for watching"),
]


@pytest.mark.parametrize("query,line", [
    ("planner", 2),
    ("query", 1),
    ("index", 2),
    ("queries", 1),
    ("compil*", 4),
])
async def test_a_transcript_hit_points_at_the_line_that_matched(client, query, line):
    token = await sign_up(client)
    await add_video(await ada(), youtube_id="pInLin3s000", title="A Slow Afternoon", lines=PIN_LINES)
    [hit] = await hits(client, token, query)
    start, text = PIN_LINES[line]
    assert (hit["kind"], hit["seconds"]) == ("TRANSCRIPT", start)
    marked = re.findall(r"<mark>(.*?)</mark>", hit["snippet"])
    assert marked and all(word in text.split() for word in marked), hit["snippet"]


async def test_snippets_carry_no_markup_but_the_marks(client):
    token = await sign_up(client)
    await add_video(await ada(), youtube_id="xSsTitle001", title="<img src=x onerror=alert(1)> Vacuum tips",
                    lines=[(0.0, "<script>alert(1)</script> vacuum now")], highlights=[(0.0, "<b>Vacuum</b>", "a & b")])
    found = await hits(client, token, "vacuum")
    assert {h["kind"] for h in found} == {"VIDEO", "HIGHLIGHT", "TRANSCRIPT"}
    for hit in found:
        assert "<" not in re.sub(r"</?mark>", "", hit["snippet"]), hit["snippet"]
    assert any("&lt;img" in h["snippet"] for h in found)


# ---- ranking ----------------------------------------------------------------------------------


async def test_a_title_match_ranks_above_a_passing_mention_in_a_transcript(client):
    token = await sign_up(client)
    user = await ada()
    filler = [(i * 10.0, f"line {i} about joins and sorting") for i in range(12)]
    await add_video(user, youtube_id="tItLeMatch1", title="Vacuum Explained", lines=filler, chunks=[(0, 5), (6, 11)])
    mention = [*filler[:7], (70.0, "we ran vacuum once and moved on"), *filler[8:]]
    await add_video(user, youtube_id="mEntion0001", title="Weekly Database News", lines=mention,
                    chunks=[(0, 5), (6, 11)])
    found = [(h["kind"], h["video"]["title"]) for h in await hits(client, token, "vacuum")]
    assert found == [("VIDEO", "Vacuum Explained"), ("TRANSCRIPT", "Weekly Database News")]


async def test_the_video_titled_for_the_words_ranks_above_lines_that_mention_them(client):
    token = await sign_up(client)
    for video_id in (INDEX_TALK, COMPILER_TALK):
        payload = await analyze(client, token, f"https://youtu.be/{video_id}")
        await wait_until_done(client, token, payload["analysis"]["id"])
    for query in ("compiler", "bytecode"):
        kinds = [h["kind"] for h in await hits(client, token, query)]
        assert "TRANSCRIPT" in kinds and kinds.index("VIDEO") < kinds.index("TRANSCRIPT"), (query, kinds)


async def test_the_same_search_gives_the_same_hits_in_the_same_order(client):
    token = await sign_up(client)
    user = await ada()
    # equal scores everywhere: the same text in several videos must still come back in one order
    for i in range(4):
        await add_video(user, youtube_id=f"sAmeText{i:03d}", title=f"Vacuum Part {i}", lines=[(5.0, "vacuum again")],
                        highlights=[(5.0, "Vacuum", "again")], channel="Vacuum Club")
    first = await search(client, token, "vacuum")
    assert len(first["edges"]) == 16
    for _ in range(3):
        assert await search(client, token, "vacuum") == first


# ---- phrases, prefixes and word forms ------------------------------------------------------------


async def test_a_quoted_phrase_matches_the_words_together_only(client):
    token = await sign_up(client)
    user = await ada()
    await add_video(user, youtube_id="phRase00001", title="Plans", lines=[(7.0, "so the planner chose an index scan")])
    await add_video(user, youtube_id="phRase00002", title="Tables", lines=[(9.0, "the index was big so we scan it")])
    [hit] = await hits(client, token, '"index scan"')
    assert (hit["kind"], hit["video"]["title"], hit["seconds"]) == ("TRANSCRIPT", "Plans", 7.0)
    assert "<mark>index</mark> <mark>scan</mark>" in hit["snippet"]
    assert {h["video"]["title"] for h in await hits(client, token, "index scan")} == {"Plans", "Tables"}


async def test_a_phrase_said_across_two_lines_is_still_found(client):
    """The words meet only in the chunk, not in any one line: the hit points at the phrase's first line."""
    token = await sign_up(client)
    user = await ada()
    await add_video(user, youtube_id="phRase00003", title="Runtimes",
                    lines=[(3.0, "then we ran into the garbage"), (6.0, "collector pausing everything")])
    [hit] = await hits(client, token, '"garbage collector"')
    assert (hit["kind"], hit["seconds"]) == ("TRANSCRIPT", 3.0)
    assert "<mark>garbage</mark>" in hit["snippet"] and "<mark>collector</mark>" in hit["snippet"]


async def test_a_trailing_star_matches_words_that_start_so(client):
    token = await sign_up(client)
    user = await ada()
    await add_video(user, youtube_id="pReFix00001", title="Compilers", lines=[(3.0, "the compiler emits bytecode")])
    await add_video(user, youtube_id="pReFix00002", title="Builds", lines=[(4.0, "compilation takes a while")])
    await add_video(user, youtube_id="pReFix00003", title="Costs", lines=[(5.0, "complexity grows quickly")])
    found = {(h["kind"], h["video"]["title"]) for h in await hits(client, token, "compil*")}
    assert found == {("VIDEO", "Compilers"), ("TRANSCRIPT", "Compilers"), ("TRANSCRIPT", "Builds")}
    # without the star a word is whole: "compi" is no word of these lines
    assert await hits(client, token, "compi") == []


async def test_a_star_after_a_whole_word_still_finds_it(client):
    token = await sign_up(client)
    await add_video(await ada(), youtube_id="pReFix00001", title="Talks", lines=[(3.0, "the compiler emits bytecode")])
    assert [h["kind"] for h in await hits(client, token, "compiler*")] == ["TRANSCRIPT"]


@pytest.mark.parametrize("query,text", [
    ("indexes", "we added an index"),
    ("index", "both indexes were unused"),
    ("queries", "this query is slow"),
    ("running", "the job runs nightly"),
])
async def test_other_forms_of_a_word_are_found(client, query, text):
    token = await sign_up(client)
    await add_video(await ada(), youtube_id="sTeMming001", title="Talk", lines=[(0.0, "hello"), (8.0, text)],
                    chunks=[(0, 0), (1, 1)])
    found = [(h["kind"], h["seconds"]) for h in await hits(client, token, query)]
    assert found == [("TRANSCRIPT", 8.0)]
    # the snippet is the matched line with its neighbours for context
    [hit] = await hits(client, token, query)
    assert text in unmarked(hit["snippet"])


# ---- odd and hostile input ------------------------------------------------------------------------

HOSTILE_LINES = [
    (0.0, "never drop table videos in production"),
    (10.0, "the planner will not use the index"),
    (20.0, "index or scan near the end"),
    (30.0, "she said hello world"),
]


@pytest.mark.parametrize("query,found_line", [
    ('"index', 1),
    ('index"', 1),
    ('"hello world', 3),
    ('""hello"" world"', 3),
    ("index OR scan", 2),
    ("NOT index", 1),
    ("-index", 1),
    ("index -scan", 2),
    ("index NEAR scan", 2),
    ("NEAR(index scan)", 2),
    ("')); DROP TABLE videos; --", 0),
    ("drop table videos; SELECT * FROM users", None),
    ("index\x00", 1),
    ("in\x00dex", None),
    ("index:*", 1),
    ("index & scan | !near", 2),
    ("title:index", None),
    ("{index} (scan) [near] ^end", 2),
    ("index* scan*", 2),
    ("*index", 1),
    ("AND OR NOT NEAR", None),
    ("índex 索引 🙂 ½ ²", None),
    ("a" * 500, None),
    ("index " + "x" * 494, None),
    (" ".join(["index"] * 40), 1),
])
async def test_hostile_input_is_searched_as_text(client, query, found_line):
    token = await sign_up(client)
    await add_video(await ada(), youtube_id="hOstile0001", title="Plain Talk", lines=HOSTILE_LINES,
                    chunks=[(i, i) for i in range(len(HOSTILE_LINES))])
    found = await hits(client, token, query)
    if found_line is not None:
        start = HOSTILE_LINES[found_line][0]
        assert any(h["kind"] == "TRANSCRIPT" and h["seconds"] == start for h in found), found
    # the operators above are words, never syntax: nothing was dropped and search still works
    assert await Video.all().count() == 1
    assert len(await hits(client, token, "planner")) == 1


@pytest.mark.parametrize("query", ["", "   ", "*", "-", '"', '""', '" "', "\x00", "!!! ???", "—…", "_", "*:&|!"])
async def test_a_search_without_any_word_is_refused(client, query):
    token = await sign_up(client)
    assert await refusal(client, token, {"q": query, "first": 10}) == ("INVALID_INPUT", "query")


async def test_a_search_longer_than_500_characters_is_refused(client):
    token = await sign_up(client)
    await add_video(await ada(), youtube_id="hOstile0001", title="Plain Talk", lines=HOSTILE_LINES)
    assert len(await hits(client, token, "planner" + " " * 493)) == 1
    assert await refusal(client, token, {"q": "planner" + " " * 494, "first": 10}) == ("INVALID_INPUT", "query")
    assert await refusal(client, token, {"q": "index " * 10_000, "first": 10}) == ("INVALID_INPUT", "query")


# ---- pages ----------------------------------------------------------------------------------------


async def walk(client: httpx.AsyncClient, token: str, query: str, first: int) -> list[tuple[Any, ...]]:
    """Every hit, page by page, as (kind, video title, seconds, snippet)."""
    seen: list[tuple[Any, ...]] = []
    after = None
    for _ in range(25):
        page = await search(client, token, query, first=first, after=after)
        assert len(page["edges"]) <= first
        nodes = [edge["node"] for edge in page["edges"]]
        seen += [(n["kind"], n["video"]["title"], n["seconds"], n["snippet"]) for n in nodes]
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]
    raise AssertionError("the pages never ended")


def places(walked: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [(kind, title, seconds) for kind, title, seconds, _ in walked]


async def add_steps(user: User, *, tied: bool) -> None:
    """A video with nine lines about vacuum, each alone in its chunk, and a highlight.

    Untied, line j says "vacuum" j+1 times, so every chunk scores differently on both engines. Tied, the
    lines score alike and the chunk ids run against the segment order, as random ids may."""
    count = 9
    lines = [(j * 15.0, f"step {j} " + " ".join(["vacuum"] * (1 if tied else j + 1))) for j in range(count)]
    ids = [uuid.UUID(int=(count - j) << 64) for j in range(count)] if tied else None
    await add_video(user, youtube_id="pAgEs000001", title="Vacuum Steps", lines=lines,
                    chunks=[(j, j) for j in range(count)], chunk_ids=ids, highlights=[(15.0, "Vacuum basics", "why")])


async def test_pages_walk_every_hit_once_in_order(client):
    token = await sign_up(client)
    await add_steps(await ada(), tied=False)
    everything = places(await walk(client, token, "vacuum", 100))
    # the title, the highlight and nine lines
    assert len(everything) == 11 and len(set(everything)) == 11
    assert places(await walk(client, token, "vacuum", 4)) == everything
    assert places(await walk(client, token, "vacuum", 1)) == everything


async def test_pages_walk_every_hit_once_when_scores_tie(client):
    token = await sign_up(client)
    await add_steps(await ada(), tied=True)
    everything = places(await walk(client, token, "vacuum", 100))
    assert len(everything) == 11 and len(set(everything)) == 11
    assert places(await walk(client, token, "vacuum", 4)) == everything


async def test_a_hit_reads_the_same_whatever_the_page_size(client):
    token = await sign_up(client)
    await add_steps(await ada(), tied=False)
    assert await walk(client, token, "vacuum", 1) == await walk(client, token, "vacuum", 100)


@pytest.mark.parametrize("first", [101, 1000, -1])
async def test_first_outside_0_to_100_is_refused(client, first):
    token = await sign_up(client)
    assert await refusal(client, token, {"q": "vacuum", "first": first}) == ("INVALID_INPUT", "first")


def cursor(*values: str) -> str:
    """A cursor as a client that tampers with the opaque string would make it."""
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode()


@pytest.mark.parametrize("after", [
    "not a cursor",
    cursor("-1"),
    cursor("abc"),
    cursor("1", "2"),
    cursor("9" * 30),  # past what any driver can bind as a LIMIT
])
async def test_a_tampered_cursor_is_refused(client, after):
    token = await sign_up(client)
    await add_video(await ada(), youtube_id="hOstile0001", title="Plain Talk", lines=HOSTILE_LINES)
    assert await refusal(client, token, {"q": "planner", "first": 10, "after": after}) == ("INVALID_INPUT", "after")


# ---- overlapping chunks ----------------------------------------------------------------------------

OVERLAP_LINES = [(i * 10.0, f"filler line {i}") for i in range(6)]
OVERLAP_LINES[3] = (30.0, "the checkpoint storm hits")
OVERLAPPING_CHUNKS = [(0, 3), (2, 5)]  # seed 004's overlap: line 3 is in both


async def test_overlapping_chunks_give_a_line_once(client):
    token = await sign_up(client)
    await add_video(await ada(), youtube_id="oVerlap0001", title="Checkpoints", lines=OVERLAP_LINES,
                    chunks=OVERLAPPING_CHUNKS)
    found = await hits(client, token, "storm")
    assert [(h["kind"], h["seconds"]) for h in found] == [("TRANSCRIPT", 30.0)]


@pytest.mark.parametrize("first", [1, 2])
async def test_overlapping_chunks_give_a_line_once_across_pages(client, first):
    token = await sign_up(client)
    await add_video(await ada(), youtube_id="oVerlap0001", title="Storm Checkpoints", lines=OVERLAP_LINES,
                    chunks=OVERLAPPING_CHUNKS)
    walked = places(await walk(client, token, "storm", first))
    assert sorted((kind, seconds or 0.0) for kind, _, seconds in walked) == [("TRANSCRIPT", 30.0), ("VIDEO", 0.0)]


# ---- whose library ------------------------------------------------------------------------------


async def test_another_persons_library_is_never_searched(client):
    ada_token = await sign_up(client, email="ada@example.com")
    bob_token = await sign_up(client, email="bob@example.com")
    payload = await analyze(client, ada_token, f"https://youtu.be/{INDEX_TALK}")
    await wait_until_done(client, ada_token, payload["analysis"]["id"])
    # a title word, transcript words, a highlight word, the channel and the URL
    for query in ["database", "postgresql", "selectivity", "ada devlin", f"https://youtu.be/{INDEX_TALK}"]:
        assert await hits(client, ada_token, query), query
        assert await hits(client, bob_token, query) == [], query


async def test_a_shared_video_is_found_by_both_and_a_private_one_by_its_owner(client):
    ada_token = await sign_up(client, email="ada@example.com")
    bob_token = await sign_up(client, email="bob@example.com")
    bob = await User.get(email="bob@example.com")
    shared = await add_video(await ada(), youtube_id="sHared00001", title="Vacuum Shared", lines=[(1.0, "vacuum all")])
    # what analysing the same video again does: the analysis is shared, the library entry is Bob's own
    await LibraryEntry.create(user=bob, video=shared, analysis=await Analysis.get(video_id=shared.id))
    await add_video(bob, youtube_id="pRivate0001", title="Vacuum Private", lines=[(2.0, "vacuum for bob")])
    assert {h["video"]["title"] for h in await hits(client, ada_token, "vacuum")} == {"Vacuum Shared"}
    assert {h["video"]["title"] for h in await hits(client, bob_token, "vacuum")} == {"Vacuum Shared", "Vacuum Private"}


async def test_removing_a_video_from_the_library_removes_it_from_search(client):
    ada_token = await sign_up(client, email="ada@example.com")
    bob_token = await sign_up(client, email="bob@example.com")
    payload = await analyze(client, ada_token, f"https://youtu.be/{INDEX_TALK}")
    await wait_until_done(client, ada_token, payload["analysis"]["id"])
    await analyze(client, bob_token, f"https://youtu.be/{INDEX_TALK}")
    queries = ("index", "ada devlin", f"https://youtu.be/{INDEX_TALK}")
    kinds = {h["kind"] for query in queries for h in await hits(client, ada_token, query)}
    assert kinds == {"VIDEO", "CHANNEL", "HIGHLIGHT", "TRANSCRIPT"}
    removed = await gql(client, REMOVE_FROM_LIBRARY, {"id": payload["video"]["id"]}, token=ada_token)
    assert data_of(removed)["removeFromLibrary"]["errors"] == []
    for query in queries:
        assert await hits(client, ada_token, query) == [], query
    # the shared analysis stays for the other person who has the video
    assert await hits(client, bob_token, "index")


async def test_search_requires_sign_in(client):
    assert (await refusal(client, None, {"q": "vacuum", "first": 10}))[0] == "UNAUTHENTICATED"
