"""The example service's web page (examples/frontend.py): its two levers, gzip and cache
headers, each switchable on its own, answered over real HTTP by Starlette's test client."""

from __future__ import annotations

import gzip
import warnings

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

with warnings.catch_warnings():  # Starlette 1.x nudges towards httpx2; httpx still works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from examples.frontend import (
    ASSET_CACHE,
    STATIC_DIR,
    Frontend,
    FrontendOptions,
    gzip_bytes,
    load_assets,
    mount,
)

GZIP = {"Accept-Encoding": "gzip"}


def client(compression: bool = True, cache: bool = True) -> TestClient:
    return TestClient(Frontend(FrontendOptions(compression, cache)))


def test_the_page_is_the_files_of_examples_static() -> None:
    assets = load_assets()
    assert sorted(assets) == ["app.js", "hero.png", "index.html", "logo.svg", "style.css"]
    html = (STATIC_DIR / "index.html").read_text()
    for name in ("app.js", "style.css", "logo.svg", "hero.png"):
        assert f"/static/{name}" in html  # everything the page loads is one of these files
    # Deterministic gzip: the same bytes every time, so tests can compute them.
    data = (STATIC_DIR / "app.js").read_bytes()
    assert gzip_bytes(data) == gzip.compress(data, 6, mtime=0) == assets["app.js"].gzipped


@pytest.mark.parametrize("name", ["index.html", "app.js", "style.css", "logo.svg"])
def test_text_is_gzipped_when_on_and_accepted(name: str) -> None:
    path = "/" if name == "index.html" else f"/static/{name}"
    raw = (STATIC_DIR / name).read_bytes()
    on = client().get(path, headers=GZIP)
    assert on.headers["content-encoding"] == "gzip" and on.headers["vary"] == "Accept-Encoding"
    assert int(on.headers["content-length"]) == len(gzip.compress(raw, 6, mtime=0)) < len(raw)
    assert on.content == raw  # the client decodes it back to the file
    plain = client().get(path, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == raw
    off = client(compression=False).get(path, headers=GZIP)
    assert "content-encoding" not in off.headers
    assert int(off.headers["content-length"]) == len(raw)


def test_png_is_never_recompressed() -> None:
    r = client().get("/static/hero.png", headers=GZIP)
    assert "content-encoding" not in r.headers and r.headers["content-type"] == "image/png"
    assert r.content == (STATIC_DIR / "hero.png").read_bytes()


def test_cache_headers_on_assets_keep_them_and_the_page_revalidates() -> None:
    c = client()
    asset = c.get("/static/app.js")
    assert asset.headers["cache-control"] == ASSET_CACHE
    page = c.get("/")
    assert page.headers["cache-control"] == "no-cache" and page.headers["etag"]
    again = c.get("/", headers={"If-None-Match": page.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert c.get("/", headers={"If-None-Match": '"stale"'}).status_code == 200


def test_cache_off_is_no_store_and_never_304() -> None:
    c = client(cache=False)
    for path in ("/", "/static/app.js", "/static/hero.png"):
        r = c.get(path)
        assert r.headers["cache-control"] == "no-store" and "etag" not in r.headers
    etag = client().get("/").headers["etag"]
    assert c.get("/", headers={"If-None-Match": etag}).status_code == 200


def test_unknown_files_and_methods_are_404() -> None:
    c = client()
    assert c.get("/static/nope.js").status_code == 404
    assert c.get("/static/../service.py").status_code == 404
    assert c.post("/").status_code == 404


def test_mount_serves_the_page_and_passes_the_rest_to_the_api() -> None:
    api = Starlette(routes=[Route("/health", lambda _: PlainTextResponse("api"))])
    c = TestClient(mount(api, FrontendOptions(compression=False)))
    assert c.get("/health").text == "api"
    assert c.get("/", headers=GZIP).headers.get("content-encoding") is None
