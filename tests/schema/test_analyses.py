from __future__ import annotations

import asyncio
import json
from datetime import UTC

import pytest
import websockets
from strawberry.relay import GlobalID

from models import Analysis, AnalysisEvent, Highlight, LibraryEntry, Video
from services.errors import ErrorCode, ServiceError
from tests.fixture_source import COMPILER_TALK, INDEX_TALK, TIMELAPSE
from tests.helpers import data_of, gql, sign_up

ANALYZE = """
mutation Analyze($input: AnalyzeVideoInput!) {
  analyzeVideo(input: $input) {
    reused
    analysis { id status }
    video { id youtubeId }
    errors { code field message }
  }
}
"""
ANALYSIS = """
query($id: ID!) { node(id: $id) { ... on Analysis {
  id status progress summary analyzer error { code message }
  tokenUsage { totalTokens }
  highlights { id start end timestamp title description agentName }
  chapters { start end title timestamp }
  video { title duration durationText channel { name } latestAnalysis { id } }
} } }
"""
PROGRESS = """
subscription($id: ID!) { analysisProgress(analysisId: $id) {
  sequence kind status progress message final highlight { title timestamp } analysis { status }
} }
"""


async def analyze(client, token, url, **extra):
    body = data_of(await gql(client, ANALYZE, {"input": {"url": url, **extra}}, token=token))
    return body["analyzeVideo"]


async def wait_until_done(client, token, analysis_id, timeout=20.0):  # noqa: ASYNC109
    async def poll():
        while True:
            node = data_of(await gql(client, ANALYSIS, {"id": analysis_id}, token=token))["node"]
            if node["status"] in {"COMPLETED", "FAILED", "CANCELLED"}:
                return node
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(poll(), timeout)


async def test_analyze_video_returns_at_once_and_completes_with_results(client):
    token = await sign_up(client)
    payload = await analyze(client, token, f"https://youtu.be/{COMPILER_TALK}?t=42")
    assert payload["errors"] == [] and payload["reused"] is False
    assert payload["video"]["youtubeId"] == COMPILER_TALK
    assert payload["analysis"]["status"] in {
        "QUEUED",
        "FETCHING_METADATA",
        "FETCHING_TRANSCRIPT",
        "ANALYZING",
        "COMPLETED",
    }
    done = await wait_until_done(client, token, payload["analysis"]["id"])
    assert done["status"] == "COMPLETED", done["error"]
    assert done["analyzer"] == "local:1"
    assert done["summary"]
    assert done["tokenUsage"]["totalTokens"] == 0
    assert done["video"]["title"].startswith("Building a Compiler")
    duration = done["video"]["duration"]
    assert done["highlights"] and all(0 <= h["start"] < h["end"] <= duration for h in done["highlights"])
    # the uploader's six chapters are used
    assert len(done["chapters"]) == 6 and done["chapters"][0]["start"] == 0
    assert done["video"]["latestAnalysis"]["id"] == payload["analysis"]["id"]


@pytest.mark.parametrize(
    "url,code",
    [
        ("not a url", "INVALID_URL"),
        ("https://www.youtube.com/playlist?list=PL123", "INVALID_URL"),
        ("https://vimeo.com/12345", "UNSUPPORTED_SOURCE"),
        ("file:///etc/passwd", "UNSUPPORTED_SOURCE"),
        ("https://youtube.com.evil.com/watch?v=cmPl3rTk9aE", "UNSUPPORTED_SOURCE"),
    ],
)
async def test_bad_urls_are_refused_and_nothing_is_stored(client, fixture_source, url, code):
    token = await sign_up(client)
    calls = len(fixture_source.metadata_calls)
    payload = await analyze(client, token, url)
    assert payload["analysis"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, "url")]
    assert await Video.all().count() == 0 and await Analysis.all().count() == 0
    assert len(fixture_source.metadata_calls) == calls


async def test_analyze_requires_sign_in(client):
    body = await gql(client, ANALYZE, {"input": {"url": f"https://youtu.be/{COMPILER_TALK}"}})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_second_user_reuses_finished_analysis(client, fixture_source):
    ada = await sign_up(client, email="ada@example.com")
    bob = await sign_up(client, email="bob@example.com")
    first = await analyze(client, ada, f"https://www.youtube.com/watch?v={COMPILER_TALK}")
    await wait_until_done(client, ada, first["analysis"]["id"])
    calls = len(fixture_source.metadata_calls)
    second = await analyze(client, bob, f"https://m.youtube.com/watch?v={COMPILER_TALK}&feature=share")
    assert second["reused"] is True
    assert second["analysis"]["id"] == first["analysis"]["id"]
    assert second["analysis"]["status"] == "COMPLETED"
    assert len(fixture_source.metadata_calls) == calls
    assert await Analysis.all().count() == 1
    assert await LibraryEntry.all().count() == 2


async def test_concurrent_requests_share_one_job(client):
    ada = await sign_up(client, email="ada@example.com")
    bob = await sign_up(client, email="bob@example.com")
    url = f"https://youtu.be/{INDEX_TALK}"
    results = await asyncio.gather(analyze(client, ada, url), analyze(client, bob, url), analyze(client, ada, url))
    assert len({r["analysis"]["id"] for r in results}) == 1
    await wait_until_done(client, ada, results[0]["analysis"]["id"])
    assert await Analysis.all().count() == 1


async def test_force_starts_a_new_analysis(client):
    token = await sign_up(client)
    first = await analyze(client, token, f"https://youtu.be/{INDEX_TALK}")
    await wait_until_done(client, token, first["analysis"]["id"])
    again = await analyze(client, token, f"https://youtu.be/{INDEX_TALK}", force=True)
    assert again["reused"] is False and again["analysis"]["id"] != first["analysis"]["id"]
    done = await wait_until_done(client, token, again["analysis"]["id"])
    assert done["status"] == "COMPLETED"
    # the transcript was stored once and reused
    from models import Transcript

    assert await Transcript.all().count() == 1


async def test_video_without_captions_fails_with_no_transcript(client):
    token = await sign_up(client)
    payload = await analyze(client, token, f"https://youtu.be/{TIMELAPSE}")
    done = await wait_until_done(client, token, payload["analysis"]["id"])
    assert done["status"] == "FAILED"
    assert done["error"]["code"] == "NO_TRANSCRIPT"
    assert done["summary"] == "" and done["highlights"] == []


async def test_source_failures_are_typed(client, fixture_source):
    token = await sign_up(client)
    fixture_source.failures["pRiv4teVid0"] = ServiceError(ErrorCode.PRIVATE_VIDEO, "Private video")
    try:
        payload = await analyze(client, token, "https://youtu.be/pRiv4teVid0")
        done = await wait_until_done(client, token, payload["analysis"]["id"])
    finally:
        fixture_source.failures.clear()
    assert (done["status"], done["error"]["code"]) == ("FAILED", "PRIVATE_VIDEO")


async def test_another_user_sees_nothing_of_my_analysis(client):
    ada = await sign_up(client, email="ada@example.com")
    bob = await sign_up(client, email="bob@example.com")
    payload = await analyze(client, ada, f"https://youtu.be/{COMPILER_TALK}")
    done = await wait_until_done(client, ada, payload["analysis"]["id"])
    ids = [payload["analysis"]["id"], payload["video"]["id"], done["highlights"][0]["id"]]
    for node_id in ids:
        for token in (bob, None):
            body = data_of(await gql(client, "query($id: ID!) { node(id: $id) { id } }", {"id": node_id}, token=token))
            assert body == {"node": None}
    cancel = "mutation($id: ID!) { cancelAnalysis(analysisId: $id) { analysis { id } errors { code } } }"
    body = data_of(await gql(client, cancel, {"id": payload["analysis"]["id"]}, token=bob))
    assert body["cancelAnalysis"]["errors"][0]["code"] == "NOT_FOUND"


async def test_cancel_a_queued_analysis(client):
    token = await sign_up(client)
    from models import User

    user = await User.get(email="ada@example.com")
    video = await Video.create(youtube_id="qUeUedVid00", url="https://www.youtube.com/watch?v=qUeUedVid00", title="q")
    await LibraryEntry.create(user=user, video=video)
    # a queued job that no worker holds yet
    analysis = await Analysis.create(
        video=video, settings_key="k", analyzer="local:1", requested_by=user, lease_owner=None
    )
    gid = str(GlobalID("Analysis", str(analysis.id)))
    cancel = (
        "mutation($id: ID!) { cancelAnalysis(analysisId: $id) { analysis { status error { code } } errors { code } } }"
    )
    body = data_of(await gql(client, cancel, {"id": gid}, token=token))["cancelAnalysis"]
    assert body["errors"] == []
    assert body["analysis"] == {"status": "CANCELLED", "error": {"code": "CANCELLED"}}
    again = data_of(await gql(client, cancel, {"id": gid}, token=token))["cancelAnalysis"]
    assert again["errors"][0]["code"] == "CONFLICT"


async def test_job_whose_worker_died_is_picked_up_again(client, app_services):
    from datetime import datetime, timedelta

    from models import User
    from services.analysis_jobs import stalled_analyses

    token = await sign_up(client)
    user = await User.get(email="ada@example.com")
    video = await Video.create(youtube_id=INDEX_TALK, url=f"https://www.youtube.com/watch?v={INDEX_TALK}", title="x")
    await LibraryEntry.create(user=user, video=video)
    dead = datetime.now(UTC) - timedelta(seconds=5)
    analysis = await Analysis.create(
        video=video,
        settings_key="dead",
        analyzer="local:1",
        requested_by=user,
        status="ANALYZING",
        lease_owner="gone-worker",
        lease_expires_at=dead,
    )
    assert str(analysis.id) in await stalled_analyses()
    await app_services.queue.enqueue(str(analysis.id))
    gid = str(GlobalID("Analysis", str(analysis.id)))
    done = await wait_until_done(client, token, gid)
    assert done["status"] == "COMPLETED"
    # results written once, however often the job started
    assert await Highlight.filter(analysis_id=analysis.id).count() == len(done["highlights"])


async def _subscribe(live_server, protocol, token, analysis_id):
    ws = await websockets.connect(f"ws://{live_server}/graphql", subprotocols=[protocol])
    await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    start = "subscribe" if protocol == "graphql-transport-ws" else "start"
    await ws.send(
        json.dumps({"id": "1", "type": start, "payload": {"query": PROGRESS, "variables": {"id": analysis_id}}})
    )
    return ws


async def _collect(ws, protocol):
    events = []
    data_type = "next" if protocol == "graphql-transport-ws" else "data"
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 20))
        if message["type"] == data_type:
            assert not message["payload"].get("errors"), message
            events.append(message["payload"]["data"]["analysisProgress"])
        elif message["type"] == "complete":
            return events
        elif message["type"] not in {"ka", "ping", "pong"}:
            raise AssertionError(message)


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_progress_subscription_streams_the_job_to_its_end(client, live_server, protocol):
    token = await sign_up(client)
    payload = await analyze(client, token, f"https://youtu.be/{COMPILER_TALK}")
    ws = await _subscribe(live_server, protocol, token, payload["analysis"]["id"])
    async with ws:
        events = await _collect(ws, protocol)
    assert events[-1]["final"] is True and events[-1]["status"] == "COMPLETED"
    assert events[-1]["analysis"]["status"] == "COMPLETED"
    sequences = [e["sequence"] for e in events]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    stored = await AnalysisEvent.all().count()
    # joined late or early, the client ends with every stored event counted
    assert sequences[-1] == stored
    if events[0]["kind"] != "final":
        kinds = [e["kind"] for e in events]
        assert kinds[0] == "state"


async def test_subscription_to_a_finished_job_gives_its_final_state_and_completes(client, live_server):
    token = await sign_up(client)
    payload = await analyze(client, token, f"https://youtu.be/{COMPILER_TALK}")
    await wait_until_done(client, token, payload["analysis"]["id"])
    ws = await _subscribe(live_server, "graphql-transport-ws", token, payload["analysis"]["id"])
    async with ws:
        events = await _collect(ws, "graphql-transport-ws")
    assert len(events) == 1 and events[0]["final"] and events[0]["status"] == "COMPLETED"


async def test_live_subscriber_sees_stages_and_highlights_in_order(client, live_server, app_services):
    token = await sign_up(client)
    from models import User

    user = await User.get(email="ada@example.com")
    video = await Video.create(
        youtube_id=COMPILER_TALK, url=f"https://www.youtube.com/watch?v={COMPILER_TALK}", title="x"
    )
    await LibraryEntry.create(user=user, video=video)
    analysis = await Analysis.create(video=video, settings_key="live", analyzer="local:1", requested_by=user)
    gid = str(GlobalID("Analysis", str(analysis.id)))
    ws = await _subscribe(live_server, "graphql-transport-ws", token, gid)
    async with ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert first["payload"]["data"]["analysisProgress"]["kind"] == "state"
        await app_services.queue.enqueue(str(analysis.id))  # the app's own queue runs it
        events = [first["payload"]["data"]["analysisProgress"], *await _collect(ws, "graphql-transport-ws")]
    kinds = [e["kind"] for e in events]
    stages = [e["status"] for e in events if e["kind"] == "stage"]
    assert stages == ["FETCHING_METADATA", "FETCHING_TRANSCRIPT", "ANALYZING"]
    assert "highlight" in kinds and "progress" in kinds and kinds[-1] == "final"
    highlight = next(e for e in events if e["kind"] == "highlight")["highlight"]
    assert highlight["title"] and ":" in highlight["timestamp"]
    progress = [e["progress"] for e in events if e["kind"] == "progress"]
    assert progress == sorted(progress) and progress[-1] == 1.0


async def test_another_user_cannot_subscribe(client, live_server):
    ada = await sign_up(client, email="ada@example.com")
    bob = await sign_up(client, email="bob@example.com")
    payload = await analyze(client, ada, f"https://youtu.be/{COMPILER_TALK}")
    ws = await _subscribe(live_server, "graphql-transport-ws", bob, payload["analysis"]["id"])
    async with ws:
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
    # strawberry reports execution errors as a result carrying them, then completes
    assert message["type"] == "next"
    assert message["payload"]["data"] is None
    assert message["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    await wait_until_done(client, ada, payload["analysis"]["id"])


async def test_naming_the_videos_own_language_reuses_the_analysis(client):
    ada = await sign_up(client, email="ada@example.com")
    bob = await sign_up(client, email="bob@example.com")
    first = await analyze(client, ada, f"https://youtu.be/{COMPILER_TALK}")
    await wait_until_done(client, ada, first["analysis"]["id"])
    named = await analyze(client, bob, f"https://youtu.be/{COMPILER_TALK}", language="en")
    assert named["reused"] is True and named["analysis"]["id"] == first["analysis"]["id"]
    other = await analyze(client, bob, f"https://youtu.be/{COMPILER_TALK}", language="de")
    assert other["reused"] is False


async def test_a_job_handed_twice_to_one_process_runs_once(client, app_services, fixture_source):
    """A queue may deliver a job again to the process already running it (saq's start-up sweep
    does): the second delivery must not run beside the first under the same lease."""
    from models import User
    from services.analysis_jobs import JobEnv, run_analysis

    token = await sign_up(client)
    user = await User.get(email="ada@example.com")
    video = await Video.create(youtube_id=INDEX_TALK, url=f"https://www.youtube.com/watch?v={INDEX_TALK}", title="x")
    await LibraryEntry.create(user=user, video=video)
    analysis = await Analysis.create(video=video, settings_key="twice", analyzer="local:1", requested_by=user)
    env = JobEnv(
        source=fixture_source, analyzer=app_services.analyzer, broker=app_services.broker, worker_id="one-process"
    )
    await asyncio.gather(run_analysis(str(analysis.id), env), run_analysis(str(analysis.id), env))
    done = await wait_until_done(client, token, str(GlobalID("Analysis", str(analysis.id))))
    assert done["status"] == "COMPLETED", done["error"]
    assert await Highlight.filter(analysis_id=analysis.id).count() == len(done["highlights"]) > 0
    assert await Analysis.filter(id=analysis.id).values_list("attempts", flat=True) == [1]
