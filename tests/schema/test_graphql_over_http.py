"""GraphQL over HTTP (graphql.github.io/graphql-over-http, watershed rules) as a client meets it:
media types and their status codes, request validation, GET parameters; then graphql-http's own
server audits against a live server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from models import User
from resolvers import videos
from services.errors import ErrorCode, ServiceError
from tests.helpers import data_of, free_port, sign_up

GRAPHQL_RESPONSE = "application/graphql-response+json"
VIEWER_EMAIL = "{ viewer { email } }"
VIEWER_BY_NAME = "query Viewer { viewer { email } } query Other { __typename }"
ANONYMOUS_SESSION = "mutation { startAnonymousSession { token } }"
LOGOUT = "mutation { logout { revokedSessions } }"
TYPE_BY_NAME = "query Type($name: String!) { __type(name: $name) { name } }"
PROGRESS = "subscription($id: ID!) { analysisProgress(analysisId: $id) { kind } }"
IMPORT = "mutation($input: ImportVideoInput!) { importVideo(input: $input) { errors { code } } }"

ROOT = Path(__file__).resolve().parents[2]
AUDIT = ROOT / ".ci" / "graphql-http-audit"


async def post(client: httpx.AsyncClient, body: object, *, accept: str | None = GRAPHQL_RESPONSE,
               headers: dict[str, str] | None = None) -> httpx.Response:
    sent = {"content-type": "application/json", **({"accept": accept} if accept else {}), **(headers or {})}
    return await client.post("/graphql", content=json.dumps(body), headers=sent)


@pytest.mark.parametrize("accept,media_type", [
    (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
    ("application/graphql-response+json; charset=utf-8, application/json; charset=utf-8", GRAPHQL_RESPONSE),
    ("application/graphql-response+json,application/json;q=0.9", GRAPHQL_RESPONSE),  # Apollo Client 4
    ("application/graphql-response+json, application/graphql+json, application/json", GRAPHQL_RESPONSE),  # urql
    ("application/json", "application/json"),
    ("application/json, application/graphql-response+json;q=0.5", "application/json"),
    ("*/*", "application/json"),
    ("application/*", "application/json"),
    (None, "application/json"),
])
async def test_the_response_comes_in_the_media_type_the_client_prefers(client, accept, media_type):
    response = await post(client, {"query": VIEWER_EMAIL}, accept=accept)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type
    assert data_of(response.json()) == {"viewer": None}


@pytest.mark.parametrize("accept", ["text/plain", "application/xml, text/html;q=0.9", "application/json;q=0"])
async def test_an_accept_header_allowing_no_json_type_gets_406(client, accept):
    response = await post(client, {"query": VIEWER_EMAIL}, accept=accept)
    assert response.status_code == 406
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "application/json; charset=latin-1", "application/graphql"])
async def test_bodies_in_other_media_types_get_415(client, content_type):
    headers = {"accept": GRAPHQL_RESPONSE, **({"content-type": content_type} if content_type else {})}
    response = await client.post("/graphql", content=json.dumps({"query": VIEWER_EMAIL}), headers=headers)
    assert response.status_code == 415
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert response.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_json_with_an_explicit_utf8_charset_is_read(client):
    response = await post(client, {"query": '{ __type(name: "Run🏃Swim🏊") { name } }'},
                          headers={"content-type": "application/json; charset=utf-8"})
    assert response.status_code == 200 and data_of(response.json()) == {"__type": None}


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, "application/json"])
@pytest.mark.parametrize("body", [
    '{ "not a JSON', "", "123", '"{ viewer { id } }"', "[]", '{"qeury": "{ __typename }"}',
    '{"query": {"obj": "ect"}}', '{"query": false}', '{"query": "{ __typename }", "operationName": 0}',
    '{"query": "{ __typename }", "variables": "string"}', '{"query": "{ __typename }", "variables": ["array"]}',
    '{"query": "{ __typename }", "extensions": false}', "[" * 100_000,
])
async def test_requests_that_are_not_well_formed_get_400_whatever_the_media_type(client, accept, body):
    response = await client.post("/graphql", content=body, headers={"content-type": "application/json",
                                                                     "accept": accept})
    assert response.status_code == 400
    assert "data" not in response.json()
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


UNPARSED = {"query": "{"}
UNCOERCED = {"query": "query($id: ID!) { node(id: $id) { id } }", "variables": {"id": None}}


@pytest.mark.parametrize("body", [
    UNPARSED,
    {"query": "{ viewer { nope } }"},  # does not validate
    {"query": "{ a0: viewer { id } } query B { __typename }"},  # an anonymous operation among others
    UNCOERCED,
    {"query": VIEWER_BY_NAME, "operationName": "Missing"},  # no such operation
])
async def test_requests_failing_before_execution_get_400_without_data_as_graphql_response_json(client, body):
    response = await post(client, body)
    assert response.status_code == 400
    assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    result = response.json()
    assert "data" not in result
    assert result["errors"][0]["message"]


@pytest.mark.parametrize("body", [UNPARSED, UNCOERCED])
async def test_every_request_error_carries_a_code(client, body):
    response = await post(client, body)
    assert response.json()["errors"][0]["extensions"]["code"]


@pytest.mark.parametrize("body", [
    {"query": "{"},
    {"query": "{ viewer { nope } }"},
    {"query": "query($id: ID!) { node(id: $id) { id } }", "variables": {"id": None}},
    {"query": VIEWER_BY_NAME, "operationName": "Missing"},
])
async def test_legacy_json_clients_get_200_for_graphql_errors(client, body):
    response = await post(client, body, accept="application/json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["data"] is None and response.json()["errors"]


async def test_once_execution_started_errors_keep_200_and_the_data_entry(client):
    # logout needs a session: the resolver ran and failed, so this is a field error, not a bad request
    response = await post(client, {"query": LOGOUT})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert body["errors"][0]["path"] == ["logout"]


async def test_operation_name_picks_the_operation(client):
    token = await sign_up(client)
    response = await post(client, {"query": VIEWER_BY_NAME, "operationName": "Viewer"},
                          headers={"Authorization": f"Bearer {token}"})
    assert data_of(response.json()) == {"viewer": {"email": "ada@example.com"}}


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, "application/json"])
async def test_mutations_by_get_get_405_with_allow_post_and_do_not_run(client, accept):
    response = await client.get("/graphql", params={"query": ANONYMOUS_SESSION}, headers={"accept": accept})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert await User.all().count() == 0


async def test_get_takes_query_variables_operation_name_and_extensions_as_parameters(client):
    token = await sign_up(client)
    params = {"query": f"{VIEWER_BY_NAME} {TYPE_BY_NAME}", "operationName": "Type",
              "variables": json.dumps({"name": "User"}), "extensions": json.dumps({"some": "value"})}
    response = await client.get("/graphql", params=params,
                                headers={"accept": GRAPHQL_RESPONSE, "Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert data_of(response.json()) == {"__type": {"name": "User"}}
    # empty parameters count as absent, as the spec says of operationName
    response = await client.get("/graphql", params={"query": VIEWER_EMAIL, "operationName": "", "variables": ""})
    assert data_of(response.json()) == {"viewer": None}


async def test_get_with_variables_that_are_not_json_gets_400(client):
    response = await client.get("/graphql", params={"query": TYPE_BY_NAME, "variables": "{name"},
                                headers={"accept": GRAPHQL_RESPONSE})
    assert response.status_code == 400


async def test_subscriptions_without_a_stream_are_refused_with_a_pointer_to_sse(client):
    response = await post(client, {"query": PROGRESS, "variables": {"id": "x"}})
    assert response.status_code == 400
    assert "text/event-stream" in response.json()["errors"][0]["message"]


async def test_a_bad_token_gets_401_in_the_negotiated_media_type(client):
    response = await post(client, {"query": VIEWER_EMAIL}, headers={"Authorization": "Bearer vgs_bogus"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_uploaded_files_are_closed_once_the_answer_is_sent(client, monkeypatch):
    uploads = []

    async def keep_uploads(info, *, info_json, subtitles, language):
        uploads.extend([info_json, *subtitles])
        raise ServiceError(ErrorCode.INVALID_FILE, "Not read in this test.", field="infoJson")

    monkeypatch.setattr(videos, "import_video", keep_uploads)
    token = await sign_up(client)
    operations = {"query": IMPORT, "variables": {"input": {"infoJson": None, "subtitles": [None]}}}
    mapping = {"0": ["variables.input.infoJson"], "1": ["variables.input.subtitles.0"]}
    response = await client.post(
        "/graphql", data={"operations": json.dumps(operations), "map": json.dumps(mapping)},
        files=[("0", ("a.info.json", b"{}")), ("1", ("a.en.vtt", b"WEBVTT"))],
        headers={"Apollo-Require-Preflight": "true", "Authorization": f"Bearer {token}"},
    )
    assert data_of(response.json())["importVideo"]["errors"][0]["code"] == "INVALID_FILE"
    assert len(uploads) == 2 and all(upload.file.closed for upload in uploads)



@pytest.fixture
def audited_server(tmp_path: Path) -> Iterator[str]:
    """`main.py serve` in its own process, in the embedded shape, on a free port."""
    port = free_port()
    env = {name: value for name, value in os.environ.items() if name not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(DATABASE_URL=f"sqlite://{tmp_path / 'audit.sqlite3'}", LOG_LEVEL="WARNING")
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "serve", "--port", str(port)],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "the server did not start within 60 s"
            time.sleep(0.2)
        yield f"{url}/graphql"
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.mark.skipif(shutil.which("node") is None, reason="graphql-http's audits run on Node.js: no `node` found")
@pytest.mark.skipif(not (AUDIT / "node_modules" / "graphql-http").is_dir(),
                    reason="graphql-http is not installed: run `npm ci` in .ci/graphql-http-audit")
def test_graphql_http_server_audits_all_pass(audited_server):
    run = subprocess.run(["node", str(AUDIT / "audit.mjs"), audited_server], cwd=AUDIT, capture_output=True, text=True,
                         timeout=120, check=False)
    *failures, summary = run.stdout.strip().splitlines()
    counts = json.loads(summary)
    # every MUST (error), SHOULD (warn) and MAY (notice) of the audit suite holds
    assert (counts["error"], counts["warn"], counts["notice"]) == (0, 0, 0), "\n".join(failures) + run.stderr
    assert counts["ok"] >= 60 and run.returncode == 0
