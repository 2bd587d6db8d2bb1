"""GraphiQL served by vidgraph itself: the page at the GraphQL endpoint and the bundled assets it loads.

The assets (GraphiQL, the explorer plugin, graphql-ws) are built by `npm --prefix graphiql run build`
into schema/static/graphiql/ and committed, so serving them needs no Node and no CDN. Their names
carry a content hash, so browsers may keep them for good.
"""

from __future__ import annotations

import functools
import gzip
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send
    from strawberry.asgi import GraphQL

STATIC = Path(__file__).parent / "static" / "graphiql"
ASSET_PATH = "/graphiql"
IMMUTABLE = "public, max-age=31536000, immutable"
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}

# the page loads nothing from elsewhere: scripts and styles from this server, fonts and icons inline,
# GraphQL over fetch and WebSocket to this same origin
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        # React and CodeMirror set style attributes
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


@dataclass(frozen=True, slots=True)
class Bundle:
    """The built script and stylesheet, as named by the build's manifest."""

    script: str
    style: str

    @classmethod
    def load(cls, directory: Path = STATIC) -> Bundle:
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
        return cls(script=manifest["script"], style=manifest["style"])

    @property
    def files(self) -> tuple[str, str]:
        return self.script, self.style


def page_html(bundle: Bundle, *, root_path: str = "") -> str:
    base = html.escape(f"{root_path}{ASSET_PATH}", quote=True)
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>vidgraph · GraphiQL</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="{base}/{html.escape(bundle.style)}">
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL…</div>
    <script src="{base}/{html.escape(bundle.script)}"></script>
  </body>
</html>
"""


class GraphiQLPage:
    """Answers browsers at the GraphQL endpoint with vidgraph's GraphiQL; everything else goes to the view.

    Whether a request is a browser opening the page is the view's own decision (a GET without a query
    that accepts HTML, and whatever else it rules out), so the two never disagree.
    """

    def __init__(self, view: GraphQL[Any, Any], bundle: Bundle | None = None) -> None:
        self.view = view
        self.bundle = bundle or Bundle.load()

    def wants_page(self, scope: Scope) -> bool:
        if scope["type"] != "http":
            return False
        return self.view.should_render_graphql_ide(self.view.request_adapter_class(Request(scope)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.wants_page(scope):
            await self.view(scope, receive, send)
            return
        response = HTMLResponse(
            page_html(self.bundle, root_path=scope.get("root_path", "")),
            headers={
                # the page names the current build's files: ask again each time, they are cached
                "Cache-Control": "no-cache",
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )
        await response(scope, receive, send)


@functools.cache
def _asset(name: str) -> tuple[bytes, bytes]:
    body = (STATIC / name).read_bytes()
    return body, gzip.compress(body, compresslevel=9, mtime=0)


def asset_routes(bundle: Bundle | None = None) -> list[Route]:
    """The route serving the bundle's files; only the manifest's names exist, nothing else on disk."""
    bundle = bundle or Bundle.load()
    known = set(bundle.files)

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in known:
            return PlainTextResponse("Not Found", status_code=404)
        body, compressed = _asset(name)
        headers = {"Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff", "Vary": "Accept-Encoding"}
        if "gzip" in request.headers.get("accept-encoding", ""):
            body = compressed
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type=MEDIA_TYPES[Path(name).suffix], headers=headers)

    return [Route(ASSET_PATH + "/{name}", asset, methods=["GET", "HEAD"])]
