"""GraphiQL as vidgraph serves it: a page and assets of its own (no CDN), and a browser using them."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import json
import re
import tempfile
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from strawberry.relay import GlobalID

import main
from models import Analysis, LibraryEntry, User, Video
from schema.graphiql import STATIC, Bundle
from tests.fixture_source import INDEX_TALK
from tests.helpers import data_of, gql, sign_up

CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
HTML = {"Accept": "text/html"}
VIEWER = "{ viewer { email } }"


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in {"src", "href"} and value]


def references(page: str) -> list[str]:
    parser = _References()
    parser.feed(page)
    return parser.urls


async def test_graphiql_page_references_only_this_server(client):
    response = await client.get("/graphql", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "http://" not in response.text and "https://" not in response.text
    urls = references(response.text)
    bundle = Bundle.load()
    assert f"/graphiql/{bundle.script}" in urls and f"/graphiql/{bundle.style}" in urls
    # same-origin paths or inline data only: no scheme, no protocol-relative `//host/...`
    assert all((url.startswith("/") and not url.startswith("//")) or url.startswith("data:") for url in urls), urls
    # and the browser is told to refuse anything from elsewhere
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy


async def test_graphiql_assets_are_served_with_their_types_and_cached_for_good(client):
    bundle = Bundle.load()
    for name, media_type in ((bundle.script, "text/javascript"), (bundle.style, "text/css")):
        response = await client.get(f"/graphiql/{name}", headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(media_type)
        assert response.headers["content-encoding"] == "gzip"
        assert response.content == (STATIC / name).read_bytes()
        cache = response.headers["cache-control"]
        assert "immutable" in cache and int(re.search(r"max-age=(\d+)", cache)[1]) >= 365 * 24 * 3600
    page = await client.get("/graphql", headers=HTML)
    # the page names the current build, so it must be asked for again rather than kept
    assert page.headers["cache-control"] == "no-cache"


async def test_asset_names_carry_the_hash_of_their_content():
    # what makes the year-long cache safe: a new build is a new name
    for name in Bundle.load().files:
        digest = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]
        assert name.rsplit(".", 1)[0].endswith(f"-{digest}"), name


async def test_only_the_built_assets_are_served(client):
    for path in ("/graphiql/manifest.json", "/graphiql/THIRD_PARTY_LICENSES.txt", "/graphiql/..%2F..%2Fmain.py"):
        assert (await client.get(path)).status_code == 404, path


async def test_graphql_over_get_still_answers_with_a_query(client):
    # what a browser sends when a link carries the query: the result, not the page
    accept = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    response = await client.get("/graphql", params={"query": VIEWER}, headers=accept)
    assert response.status_code == 200
    assert response.json()["data"] == {"viewer": None}


def _sharing(app: Any, services: main.AppServices) -> Any:
    """`app` with the running test app's services, without a second lifespan (one database per process)."""

    async def with_services(scope: Any, receive: Any, send: Any) -> None:
        scope["state"] = {"services": services}
        await app(scope, receive, send)

    return with_services


async def test_graphiql_can_be_turned_off(settings, fixture_source, app_services):
    app = main.create_app(dataclasses.replace(settings, graphiql=False), source=fixture_source)
    transport = httpx.ASGITransport(app=_sharing(app, app_services))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        page = await client.get("/graphql", headers=HTML)
        assert page.status_code == 404
        assert "graphiql" not in page.text.lower()
        asset = await client.get(f"/graphiql/{Bundle.load().script}")
        assert asset.status_code == 404
        # the API itself is unchanged
        assert data_of(await gql(client, VIEWER)) == {"viewer": None}


# --- a real browser ---------------------------------------------------------------------------


FAILURE_SCREENSHOT = Path(tempfile.gettempdir()) / "vidgraph-graphiql-failure.png"


def _save(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def _devtools_port(profile: str) -> str | None:
    """The port Chromium chose, from the file it writes once it listens."""
    announced = Path(profile) / "DevToolsActivePort"
    lines = announced.read_text().split() if announced.exists() else []
    return lines[0] if len(lines) >= 2 else None


class DevTools:
    """A page of headless Chromium, driven over the Chrome DevTools Protocol."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.events: list[dict[str, Any]] = []
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next = 0
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.socket:
            message = json.loads(raw)
            if "id" in message:
                self._replies.pop(message["id"]).set_result(message)
            else:
                self.events.append(message)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        reply = self._replies[self._next] = asyncio.get_running_loop().create_future()
        await self.socket.send(json.dumps({"id": self._next, "method": method, "params": params}))
        message = await asyncio.wait_for(reply, 30)
        assert "error" not in message, message
        result: dict[str, Any] = message["result"]
        return result

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    async def wait_for(self, expression: str, within: float = 20.0) -> Any:
        """The first truthy value of a JavaScript expression; a screenshot is left behind if none comes."""

        async def poll() -> Any:
            while not (value := await self.evaluate(expression)):  # noqa: ASYNC110 - the page has no event for it
                await asyncio.sleep(0.1)
            return value

        try:
            return await asyncio.wait_for(poll(), within)
        except TimeoutError:
            shot = await self.call("Page.captureScreenshot", format="png")
            _save(FAILURE_SCREENSHOT, base64.b64decode(shot["data"]))
            raise AssertionError(f"the page never showed: {expression} (see {FAILURE_SCREENSHOT})") from None

    async def type_into(self, editor: str, text: str) -> None:
        """Replace an editor's text as a person would: focus it, select all, type."""
        await self.evaluate(f"(() => {{ const cm = document.querySelector({json.dumps(editor)}).CodeMirror;"
                            " cm.focus(); cm.execCommand('selectAll'); })()")
        await self.call("Input.insertText", text=text)

    async def close(self) -> None:
        await self.socket.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@pytest.fixture
async def browser() -> AsyncIterator[DevTools]:
    if not HAVE_CHROMIUM:
        pytest.skip("headless Chromium is not installed (apt-get install -y chromium)")
    # Chromium's helper processes may still be writing the profile as the browser exits
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        process = await asyncio.create_subprocess_exec(
            str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--remote-debugging-port=0", "--window-size=1280,900",
            # any name but the loopback fails to resolve: a CDN reference could not load even if one slipped in
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            port = None
            for _ in range(300):
                if port := _devtools_port(profile):
                    break
                await asyncio.sleep(0.05)
            assert port, "Chromium did not open its DevTools port"
            async with httpx.AsyncClient() as http:
                targets = (await http.get(f"http://127.0.0.1:{port}/json/list")).json()
            page = next(t for t in targets if t["type"] == "page")
            devtools = DevTools(await websockets.connect(page["webSocketDebuggerUrl"], max_size=None))
            for domain in ("Page", "Runtime", "Network", "Log"):
                await devtools.call(f"{domain}.enable")
            yield devtools
            await devtools.close()
        finally:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
HEADERS_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
RESULT = "document.querySelector('.result-window').innerText"
TAB = "document.querySelector('.graphiql-tab-button').innerText.trim()"
RUN = "document.querySelector('.graphiql-execute-button').click()"


async def run(browser: DevTools, operation: str) -> None:
    # GraphiQL takes the operation's name from the editor a moment after typing: the tab shows it then
    await browser.wait_for(f"{TAB} === {json.dumps(operation)}")
    await browser.evaluate(RUN)


async def open_graphiql(browser: DevTools, live_server: str, token: str) -> None:
    await browser.call("Page.navigate", url=f"http://{live_server}/graphql")
    await browser.wait_for(f"!!document.querySelector({json.dumps(QUERY_EDITOR)})")
    await browser.type_into(HEADERS_EDITOR, json.dumps({"Authorization": f"Bearer {token}"}))


def problems(events: list[dict[str, Any]]) -> list[str]:
    """Uncaught exceptions and errors the console shows (CSP refusals among them)."""
    found = [e["params"]["exceptionDetails"].get("text", "")
             for e in events if e["method"] == "Runtime.exceptionThrown"]
    found += [e["params"]["entry"]["text"]
              for e in events if e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"]
    return found


async def test_a_query_typed_in_graphiql_runs_as_the_pasted_bearer_token(client, live_server, browser):
    token = await sign_up(client)
    await open_graphiql(browser, live_server, token)
    query = "query WhoAmI { viewer { email role } }"
    await browser.type_into(QUERY_EDITOR, query)
    assert await browser.evaluate(f"document.querySelector({json.dumps(QUERY_EDITOR)}).CodeMirror.getValue()") == query
    await run(browser, "WhoAmI")
    shown = await browser.wait_for(f"{RESULT}.includes('ada@example.com') && {RESULT}")
    assert '"role": "USER"' in shown
    # the explorer plugin is part of the build
    await browser.evaluate("document.querySelector('[aria-label=\"Show GraphiQL Explorer\"]').click()")
    await browser.wait_for("!!document.querySelector('.graphiql-explorer-root')")
    requested = [e["params"]["request"]["url"] for e in browser.events if e["method"] == "Network.requestWillBeSent"]
    assert requested and all(url.startswith((f"http://{live_server}/", "data:")) for url in requested), requested
    assert problems(browser.events) == []


async def test_a_subscription_in_graphiql_shows_the_analysis_progressing(client, live_server, browser, app_services):
    token = await sign_up(client)
    user = await User.get(email="ada@example.com")
    video = await Video.create(youtube_id=INDEX_TALK, url=f"https://www.youtube.com/watch?v={INDEX_TALK}", title="x")
    await LibraryEntry.create(user=user, video=video)
    # queued but not started: the subscription is open before the job runs, so events must stream in
    analysis = await Analysis.create(video=video, settings_key="graphiql", analyzer="local:1", requested_by=user)
    gid = str(GlobalID("Analysis", str(analysis.id)))
    await open_graphiql(browser, live_server, token)
    await browser.type_into(
        QUERY_EDITOR, f'subscription Progress {{ analysisProgress(analysisId: "{gid}") {{ kind status final }} }}'
    )
    await run(browser, "Progress")
    await browser.wait_for(f"{RESULT}.includes('\"QUEUED\"')")
    await app_services.queue.enqueue(str(analysis.id))
    await browser.wait_for(f"{RESULT}.includes('\"COMPLETED\"') && {RESULT}.includes('\"final\": true')", within=30)
    sockets = [e["params"] for e in browser.events if e["method"] == "Network.webSocketWillSendHandshakeRequest"]
    assert sockets, "the subscription did not go over a WebSocket"
    handshake = {k.lower(): v for k, v in sockets[0]["request"]["headers"].items()}
    assert handshake["sec-websocket-protocol"] == "graphql-transport-ws"
    created = [e["params"]["url"] for e in browser.events if e["method"] == "Network.webSocketCreated"]
    assert created == [f"ws://{live_server}/graphql"]
    assert problems(browser.events) == []

