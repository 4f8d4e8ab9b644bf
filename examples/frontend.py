"""The example service's web page: `/` (HTML) and `/static/<file>` (a script bundle, a
stylesheet, an SVG logo and a PNG hero image), served from the files in examples/static/.

It exists to show the frontend levers of docs/frontend.md, so two of them are switches:

* `compression`: text assets (HTML, JavaScript, CSS, SVG) are sent gzip-compressed when the
  browser accepts it (level 6, no timestamp, so the bytes on the wire are deterministic: a
  test can compute them with `gzip.compress(data, 6, mtime=0)`). PNG is never recompressed.
* `cache`: assets get `Cache-Control: public, max-age=31536000, immutable` and the page
  `no-cache` with an ETag (a warm load revalidates the page and fetches no asset); switched
  off, everything is `no-store`, so every load fetches everything again.

`mount(api, FrontendOptions(...))` puts the page in front of the API, so its compression
stays its own switch whatever middleware wraps the API (gzip, response cache)."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

STATIC_DIR = Path(__file__).resolve().parent / "static"
GZIP_LEVEL = 6
_TYPES = {
    ".html": ("text/html; charset=utf-8", True),
    ".js": ("text/javascript; charset=utf-8", True),
    ".css": ("text/css; charset=utf-8", True),
    ".svg": ("image/svg+xml", True),
    ".png": ("image/png", False),
}
ASSET_CACHE = "public, max-age=31536000, immutable"
PAGE_CACHE = "no-cache"
NO_STORE = "no-store"


@dataclass(frozen=True)
class FrontendOptions:
    compression: bool = True
    cache: bool = True


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    gzipped: bytes | None
    """The gzip encoding, for text types only."""
    etag: str


def gzip_bytes(data: bytes) -> bytes:
    """The exact bytes the service sends for a compressed asset."""
    return gzip.compress(data, GZIP_LEVEL, mtime=0)


def load_assets(directory: Path = STATIC_DIR) -> dict[str, Asset]:
    """Every servable file of `directory`, by name, read once."""
    assets = {}
    for path in sorted(directory.iterdir()):
        kind = _TYPES.get(path.suffix)
        if kind is None or not path.is_file():
            continue
        body = path.read_bytes()
        content_type, compressible = kind
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        assets[path.name] = Asset(
            body, content_type, gzip_bytes(body) if compressible else None, etag
        )
    return assets


class Frontend:
    """The page and its assets as one ASGI app (`/` and `/static/<name>`)."""

    def __init__(self, options: FrontendOptions, assets: dict[str, Asset] | None = None) -> None:
        self.options = options
        self.assets = assets if assets is not None else load_assets()

    def handles(self, path: str) -> bool:
        return path == "/" or path.startswith("/static/")

    def response(self, request: Request) -> Response:
        path = request.url.path
        name = "index.html" if path == "/" else path.removeprefix("/static/")
        asset = self.assets.get(name)
        if asset is None or request.method not in ("GET", "HEAD"):
            return Response("not found\n", 404, media_type="text/plain")
        headers = {"Cache-Control": NO_STORE}
        if self.options.cache:
            headers["Cache-Control"] = PAGE_CACHE if name == "index.html" else ASSET_CACHE
            headers["ETag"] = asset.etag
            if request.headers.get("if-none-match") == asset.etag:
                return Response(status_code=304, headers=headers)
        body = asset.body
        if asset.gzipped is not None:
            headers["Vary"] = "Accept-Encoding"
            if self.options.compression and "gzip" in request.headers.get("accept-encoding", ""):
                headers["Content-Encoding"] = "gzip"
                body = asset.gzipped
        return Response(body, 200, headers=headers, media_type=asset.content_type)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.response(Request(scope, receive))(scope, receive, send)


def mount(api: ASGIApp, options: FrontendOptions) -> Any:
    """An ASGI app that serves the page itself and passes everything else to `api`."""
    frontend = Frontend(options)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and frontend.handles(scope["path"]):
            await frontend(scope, receive, send)
        else:
            await api(scope, receive, send)

    return app
