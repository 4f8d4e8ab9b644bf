"""Page loads in real headless Chromium against the real example service: what the browser
counts must be exactly what the service sent (the files of examples/static, gzipped by the
service's own deterministic settings), and the levers must move the numbers as they should."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from castiel.redis_server import free_port
from collectors.browser.errors import PageLoadError
from collectors.browser.pageload import Browser, CacheState, PageLoad
from examples.frontend import STATIC_DIR
from tests.helpers import ROOT, need, wait_until

COLD = (CacheState.COLD,)
TEXT = {"document": "index.html", "script": "app.js", "stylesheet": "style.css"}
IMAGES = ("logo.svg", "hero.png")


def raw(name: str) -> int:
    return len((STATIC_DIR / name).read_bytes())


def gz(name: str) -> int:
    return len(gzip.compress((STATIC_DIR / name).read_bytes(), 6, mtime=0))


def cold(browser: Browser, base: str) -> PageLoad:
    (load,) = browser.measure(base + "/", COLD)
    return load


def test_counts_agree_exactly_with_the_files_served(browser: Browser, levers_on: str) -> None:
    load = cold(browser, levers_on)
    r = load.resources
    assert load.status == 200 and load.page == "/"
    assert {k: v.requests for k, v in r.items()} == {
        "total": 5,
        "document": 1,
        "script": 1,
        "stylesheet": 1,
        "image": 2,
        "media": 0,
        "font": 0,
        "other": 0,
        "third-party": 0,
    }
    for kind, name in TEXT.items():
        assert r[kind].decoded_bytes == raw(name)
        assert r[kind].body_bytes == gz(name)  # gzip on the wire
    assert r["image"].decoded_bytes == raw("logo.svg") + raw("hero.png")
    assert r["image"].body_bytes == gz("logo.svg") + raw("hero.png")  # PNG is sent as is
    total = r["total"]
    assert total.decoded_bytes == sum(raw(n) for n in (*TEXT.values(), *IMAGES))
    assert total.compressed == 4 and total.cacheable == 4 and total.cached == 0
    # Transfer size is body plus response headers, as Lighthouse counts it.
    for req in load.requests:
        assert req.transfer_bytes == req.body_bytes + req.header_bytes
        assert 100 < req.header_bytes < 400
    v = load.vitals
    assert v.lcp_element.endswith("/static/hero.png")  # the largest thing on the page
    assert v.cls == 0.0  # nothing on the page moves
    assert v.ttfb is not None and v.fcp is not None and v.lcp is not None
    assert 0 < v.ttfb <= v.fcp <= v.lcp < 30
    assert v.load is not None and v.load > 0 and v.tbt >= 0


def test_compression_changes_transfer_by_the_gzip_ratio(
    browser: Browser, levers_on: str, compression_off: str
) -> None:
    on, off = cold(browser, levers_on), cold(browser, compression_off)
    files = (*TEXT.values(), *IMAGES)
    sent_raw = sum(raw(n) for n in files)
    sent_gzip = sum(raw(n) if n.endswith(".png") else gz(n) for n in files)
    assert off.resources["total"].body_bytes == sent_raw
    assert on.resources["total"].body_bytes == sent_gzip
    assert off.resources["total"].compressed == 0
    ratio = on.resources["total"].body_bytes / off.resources["total"].body_bytes
    assert ratio == pytest.approx(sent_gzip / sent_raw, abs=0)
    # Headers are a few hundred bytes per request, so transfer size follows the same ratio.
    transfer = on.resources["total"].transfer_bytes / off.resources["total"].transfer_bytes
    assert transfer == pytest.approx(ratio, rel=0.05)
    assert on.resources["script"].transfer_bytes < off.resources["script"].transfer_bytes / 5


def test_warm_cache_fetches_nothing_the_headers_let_it_keep(
    browser: Browser, levers_on: str, cache_off: str
) -> None:
    first, warm = browser.measure(levers_on + "/")
    assert (first.cache, warm.cache) == (CacheState.COLD, CacheState.WARM)
    keepable = {r.url for r in first.requests if r.cacheable}
    assert len(keepable) == 4  # the four assets; the page itself says no-cache
    for req in warm.requests:
        if req.url in keepable:
            assert req.from_cache and req.transfer_bytes == 0, req.url
        else:  # the page: revalidated, 304, headers only
            assert not req.from_cache and req.body_bytes == 0 and req.transfer_bytes > 0
    assert warm.resources["total"].cached == 4 and warm.resources["total"].requests == 5
    # Without cache headers (no-store) the warm load fetches everything again.
    first, warm = browser.measure(cache_off + "/")
    assert warm.resources["total"].cached == 0
    assert warm.resources["total"].body_bytes == first.resources["total"].body_bytes > 20_000


def test_unreachable_and_http_errors_are_page_load_errors(
    browser: Browser, stuck_server: str
) -> None:
    port = free_port()
    with pytest.raises(PageLoadError, match=rf"127.0.0.1:{port}/ is unreachable: net::ERR_"):
        browser.measure(f"http://127.0.0.1:{port}/", COLD, timeout=20)
    with pytest.raises(PageLoadError, match="answered HTTP 404"):
        browser.measure(stuck_server + "/missing.html", COLD)


def test_a_page_that_never_finishes_loading_is_a_timeout_not_a_hang(
    browser: Browser, stuck_server: str
) -> None:
    started = time.monotonic()
    with pytest.raises(PageLoadError) as info:
        browser.measure(stuck_server + "/", COLD, timeout=3)
    message = str(info.value)
    assert "did not finish loading within 3s" in message and "/hang.js" in message
    with pytest.raises(PageLoadError, match="did not finish loading within 3s"):
        browser.measure(stuck_server + "/never", COLD, timeout=3)
    assert time.monotonic() - started < 30
    # The browser is still usable afterwards.
    with pytest.raises(PageLoadError, match="answered HTTP 404"):
        browser.measure(stuck_server + "/missing", COLD, timeout=20)


def _group_alive(pgid: int) -> list[int]:
    alive = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                alive.append(int(entry))
    return alive


def test_close_ends_every_chromium_process() -> None:
    need("chromium")
    b = Browser.start()
    pgid = b.chromium.proc.pid
    wait_until(lambda: len(_group_alive(pgid)) > 1, 20, message="Chromium's helpers")
    profile = b.chromium.profile
    b.close()
    assert _group_alive(pgid) == [] and not profile.exists()


def test_chromium_dies_with_its_owner_even_on_sigkill() -> None:
    need("chromium")
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from collectors.browser.pageload import Browser\n"
            "b = Browser.start(); print(b.chromium.proc.pid, b.chromium.profile, flush=True)\n"
            "time.sleep(600)",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    pid, profile = 0, ""
    try:
        assert owner.stdout is not None
        first, profile = owner.stdout.readline().split()
        pid = int(first)
        assert _group_alive(pid)
        owner.send_signal(signal.SIGKILL)  # no finally, no atexit: only the kernel can help
        owner.wait(10)
        wait_until(lambda: not _group_alive(pid), 20, message="Chromium to die with its owner")
    finally:
        owner.kill()
        owner.wait(10)
        if pid and _group_alive(pid):  # the test failed: do not leave the browser behind
            os.killpg(pid, signal.SIGKILL)
        if profile:  # nobody was left to remove it: that is what SIGKILL means
            shutil.rmtree(profile, ignore_errors=True)
