"""Real Chromium and the real example service (uvicorn, redis-server, SQLite) for the
frontend tests: one browser per module, one service per lever setting, and a server whose
page never finishes loading. Imported by the conftest of each folder that uses them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from castiel.redis_server import RedisServer
from collectors.browser.pageload import Browser
from tests.examples.test_service import start_service
from tests.helpers import need


@contextmanager
def example_service(redis_url: str, db: Path, *flags: str) -> Iterator[str]:
    proc, base = start_service(redis_url, db, *flags)
    try:
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    need("chromium")
    with Browser.start() as b:
        yield b


@pytest.fixture(scope="module")
def levers_on(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with example_service(redis_server.url, tmp_path_factory.mktemp("on") / "db.sqlite") as base:
        yield base


@pytest.fixture(scope="module")
def compression_off(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    db = tmp_path_factory.mktemp("nogzip") / "db.sqlite"
    with example_service(redis_server.url, db, "--no-static-compression") as base:
        yield base


@pytest.fixture(scope="module")
def cache_off(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("nocache") / "db.sqlite"
    with example_service(redis_server.url, db, "--no-static-cache") as base:
        yield base


class _Stuck(BaseHTTPRequestHandler):
    """`/` is a page whose script never arrives; `/never` never answers at all."""

    release: threading.Event

    def do_GET(self) -> None:
        if self.path == "/":
            body = b'<!doctype html><h1>waiting</h1><script src="/hang.js"></script>'
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path in ("/hang.js", "/never"):
            self.release.wait(120)  # no answer until the test ends
            return
        self.send_error(404)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stuck_server() -> Iterator[str]:
    """A page that never finishes loading (and a URL that never answers)."""
    release = threading.Event()
    handler = type("Stuck", (_Stuck,), {"release": release})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        release.set()
        server.shutdown()
        server.server_close()
