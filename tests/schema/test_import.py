"""importVideo: yt-dlp's files sent as a GraphQL multipart request stand in for YouTube."""

from __future__ import annotations

import gc
import json
import warnings
from typing import Any

import httpx
import pytest

from models import Analysis, LibraryEntry, Transcript, Video
from tests.fixture_source import COMPILER_TALK, DATA, INDEX_TALK
from tests.helpers import data_of, gql, sign_up
from tests.schema.test_analyses import wait_until_done

IMPORT = """
mutation Import($input: ImportVideoInput!) {
  importVideo(input: $input) {
    reused
    analysis { id status }
    video { id youtubeId title }
    errors { code field message }
  }
}
"""
LIBRARY = """
{ viewer { library(first: 10) { edges { node { video { id youtubeId } analysis { id status } } } } } }
"""
NODE = "query($id: ID!) { node(id: $id) { id } }"

UNCLOSED_UPLOAD = "Unclosed file <tempfile.SpooledTemporaryFile"


def unclosed_uploads() -> list[str]:
    """Collect garbage now and name the uploaded files that were found still open."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    return [str(w.message) for w in caught if str(w.message).startswith(UNCLOSED_UPLOAD)]


Upload = tuple[str, bytes]


def fixture_file(video_id: str, suffix: str) -> Upload:
    [path] = DATA.glob(f"*[[]{video_id}[]].{suffix}")
    return path.name, path.read_bytes()


def compiler_files() -> tuple[Upload, list[Upload]]:
    """The compiler talk as yt-dlp writes it: info.json, manual English VTT, auto (-orig) VTT."""
    return fixture_file(COMPILER_TALK, "info.json"), [
        fixture_file(COMPILER_TALK, "en.vtt"),
        fixture_file(COMPILER_TALK, "en-orig.vtt"),
    ]


async def import_files(
    client: httpx.AsyncClient,
    info_json: Upload,
    subtitles: list[Upload],
    *,
    token: str | None,
    preflight: bool = True,
    expect_status: int = 200,
) -> dict[str, Any]:
    """Send importVideo as the GraphQL multipart request spec describes (operations, map, files)."""
    operations = {
        "query": IMPORT,
        "variables": {"input": {"infoJson": None, "subtitles": [None] * len(subtitles)}},
    }
    mapping = {"0": ["variables.input.infoJson"]}
    mapping.update({str(i + 1): [f"variables.input.subtitles.{i}"] for i in range(len(subtitles))})
    files = [
        (str(i), (name, data, "application/octet-stream"))
        for i, (name, data) in enumerate([info_json, *subtitles])
    ]
    headers = {"Apollo-Require-Preflight": "true"} if preflight else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = await client.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps(mapping)},
        files=files,
        headers=headers,
    )
    assert response.status_code == expect_status, response.text
    body: dict[str, Any] = response.json()
    return body


async def stored_counts() -> dict[str, int]:
    return {
        "videos": await Video.all().count(),
        "transcripts": await Transcript.all().count(),
        "analyses": await Analysis.all().count(),
        "library": await LibraryEntry.all().count(),
    }


NOTHING = {"videos": 0, "transcripts": 0, "analyses": 0, "library": 0}


async def test_import_completes_an_analysis_and_adds_the_video_to_the_library(client):
    token = await sign_up(client)
    info_json, subtitles = compiler_files()
    payload = data_of(await import_files(client, info_json, subtitles, token=token))["importVideo"]
    assert payload["errors"] == [] and payload["reused"] is False
    assert payload["video"]["youtubeId"] == COMPILER_TALK
    assert payload["video"]["title"].startswith("Building a Compiler")
    done = await wait_until_done(client, token, payload["analysis"]["id"])
    assert done["status"] == "COMPLETED", done["error"]
    assert done["summary"] and done["highlights"]
    duration = done["video"]["duration"]
    assert all(0 <= h["start"] < h["end"] <= duration for h in done["highlights"])
    # the uploader's six chapters came in through the info.json
    assert len(done["chapters"]) == 6
    library = data_of(await gql(client, LIBRARY, token=token))["viewer"]["library"]["edges"]
    assert [(e["node"]["video"]["id"], e["node"]["analysis"]["id"]) for e in library] == [
        (payload["video"]["id"], payload["analysis"]["id"])
    ]
    # manual captions win over the auto track when both are sent
    assert [(t.source.value, t.format) for t in await Transcript.all()] == [("manual", "vtt")]


async def test_import_with_only_auto_captions_in_json3(client):
    token = await sign_up(client)
    info_json = fixture_file(COMPILER_TALK, "info.json")
    auto_json3 = fixture_file(COMPILER_TALK, "en-orig.json3")
    payload = data_of(await import_files(client, info_json, [auto_json3], token=token))["importVideo"]
    assert payload["errors"] == []
    done = await wait_until_done(client, token, payload["analysis"]["id"])
    assert done["status"] == "COMPLETED", done["error"]
    assert done["highlights"]
    assert [(t.source.value, t.format) for t in await Transcript.all()] == [("auto", "json3")]


async def test_import_without_preflight_header_is_refused_before_anything_runs(client):
    token = await sign_up(client)
    info_json, subtitles = compiler_files()
    body = await import_files(client, info_json, subtitles, token=token, preflight=False, expect_status=400)
    # a plain HTML form can post multipart cross-site; without the header it could import for a victim
    assert body["errors"][0]["extensions"]["code"] == "CSRF_PREFLIGHT_REQUIRED"
    assert await stored_counts() == NOTHING


def _not_json() -> tuple[Upload, list[Upload]]:
    return ("broken [cmPl3rTk9aE].info.json", b'{"id": "cmPl3rTk9aE", "title": '), []


def _not_an_object() -> tuple[Upload, list[Upload]]:
    return ("list [cmPl3rTk9aE].info.json", b'["cmPl3rTk9aE"]'), []


def _subtitle_of_another_video() -> tuple[Upload, list[Upload]]:
    return fixture_file(COMPILER_TALK, "info.json"), [fixture_file(INDEX_TALK, "en.vtt")]


def _subtitle_over_ten_megabytes() -> tuple[Upload, list[Upload]]:
    name, vtt = fixture_file(COMPILER_TALK, "en.vtt")
    # still a valid VTT, so only its size can be the reason for refusing it
    padded = vtt + b"\n\nNOTE " + b"x" * (10 * 1024 * 1024) + b"\n"
    return fixture_file(COMPILER_TALK, "info.json"), [(name, padded)]


@pytest.mark.parametrize("files,code,field", [
    pytest.param(_not_json, "INVALID_FILE", "infoJson", id="malformed-info-json"),
    pytest.param(_not_an_object, "INVALID_FILE", "infoJson", id="non-object-json"),
    pytest.param(_subtitle_of_another_video, "INVALID_FILE", "subtitles", id="subtitle-of-another-video"),
    pytest.param(_subtitle_over_ten_megabytes, "FILE_TOO_LARGE", "subtitles", id="oversized-subtitle"),
])
async def test_bad_import_files_get_typed_errors_and_nothing_is_stored(client, files, code, field):
    token = await sign_up(client)
    info_json, subtitles = files()
    payload = data_of(await import_files(client, info_json, subtitles, token=token))["importVideo"]
    assert payload["analysis"] is None and payload["video"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, field)]
    assert payload["errors"][0]["message"]
    assert await stored_counts() == NOTHING


async def test_import_requires_sign_in(client):
    info_json, subtitles = compiler_files()
    body = await import_files(client, info_json, subtitles, token=None)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await stored_counts() == NOTHING


async def test_second_person_importing_the_same_video_reuses_the_finished_analysis(client):
    ada = await sign_up(client, email="ada@example.com")
    bob = await sign_up(client, email="bob@example.com")
    info_json, subtitles = compiler_files()
    first = data_of(await import_files(client, info_json, subtitles, token=ada))["importVideo"]
    await wait_until_done(client, ada, first["analysis"]["id"])
    second = data_of(await import_files(client, info_json, subtitles, token=bob))["importVideo"]
    assert second["errors"] == [] and second["reused"] is True
    assert second["analysis"] == {"id": first["analysis"]["id"], "status": "COMPLETED"}
    assert await Analysis.all().count() == 1 and await Transcript.all().count() == 1
    library = data_of(await gql(client, LIBRARY, token=bob))["viewer"]["library"]["edges"]
    assert [e["node"]["analysis"]["status"] for e in library] == ["COMPLETED"]


async def test_another_person_cannot_see_an_imported_video(client):
    ada = await sign_up(client, email="ada@example.com")
    bob = await sign_up(client, email="bob@example.com")
    info_json, subtitles = compiler_files()
    payload = data_of(await import_files(client, info_json, subtitles, token=ada))["importVideo"]
    await wait_until_done(client, ada, payload["analysis"]["id"])
    for node_id in (payload["video"]["id"], payload["analysis"]["id"]):
        assert data_of(await gql(client, NODE, {"id": node_id}, token=ada))["node"] == {"id": node_id}
        assert data_of(await gql(client, NODE, {"id": node_id}, token=bob))["node"] is None
    assert data_of(await gql(client, LIBRARY, token=bob))["viewer"]["library"]["edges"] == []


async def test_uploaded_files_are_closed_once_the_request_is_answered(client):
    token = await sign_up(client)
    unclosed_uploads()
    info_json, subtitles = compiler_files()
    payload = data_of(await import_files(client, info_json, subtitles, token=token))["importVideo"]
    await wait_until_done(client, token, payload["analysis"]["id"])
    assert unclosed_uploads() == []
