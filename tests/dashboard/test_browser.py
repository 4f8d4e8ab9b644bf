"""What a person sees: a real `castiel dashboard` against the store of real runs, every page
loaded in headless Chromium (Debian's `chromium`, installed by `make test`), no exception box
anywhere, a screenshot of each page under .castiel/screenshots/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.browser import Browser
from tests.dashboard.conftest import SECRET_TOKEN, RealStore, serve_dashboard
from tests.helpers import ROOT, need, wait_until

SCREENSHOTS = ROOT / ".castiel" / "screenshots"
# url path -> the page's title, and how many charts it draws for this store at least
PAGES = {
    "": ("Castiel · overview", 1),
    "live": ("Live run", 2),
    "review": ("Budget review", 1),
    "compare": ("Compare runs", 3),
    "history": ("History", 1),
    "runtime": ("Runtime", 2),
    "alerts": ("Alerts", 1),
}
# Installed before any page script: remembers every dialog or sidebar text ever shown, so a
# "Page not found" that flashes and goes is caught too.
WATCH = """
window.__castielSeen = [];
new MutationObserver(() => {
  for (const el of document.querySelectorAll(
      '[role="dialog"], [data-testid="stSidebarNav"], [data-testid="stToast"]')) {
    const text = el.innerText || "";
    if (text && !window.__castielSeen.includes(text)) window.__castielSeen.push(text);
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""
STATE = """JSON.stringify({
  seen: window.__castielSeen || [],
  selected: [...document.querySelectorAll('[data-testid="stSelectbox"] input')]
    .map(e => e.value),
  titles: [...document.querySelectorAll('[data-testid="stMain"] h1')].map(e => e.innerText),
  script: (document.querySelector('[data-testid="stApp"]') || {dataset: {}}).dataset
    .testScriptState,
  exceptions: [...document.querySelectorAll('[data-testid="stException"]')]
    .map(e => e.innerText.slice(0, 500)),
  charts: document.querySelectorAll('[data-testid="stPlotlyChart"]').length,
  drawn: document.querySelectorAll('[data-testid="stPlotlyChart"] .main-svg').length,
  elements: document.querySelectorAll('[data-testid="stElementContainer"]').length,
  text: document.body.innerText,
})"""


@pytest.fixture
def served(real_store: RealStore, tmp_path: Path) -> Iterator[str]:
    with serve_dashboard(real_store.path, tmp_path / "dashboard.log") as base:
        yield base


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    need("chromium")
    b = Browser(tmp_path / "profile")
    try:
        yield b
    finally:
        b.close()


def settled(b: Browser, title: str, charts: int) -> dict[str, Any]:
    """The page's state once its script has finished and its charts are drawn (Plotly is
    loaded lazily, after the script ends), confirmed by two equal readings in a row."""
    previous: dict[str, Any] = {}

    def ready() -> dict[str, Any] | None:
        nonlocal previous
        raw = b.evaluate(STATE)
        if raw is None:  # between documents while navigating
            return None
        state: dict[str, Any] = json.loads(raw)
        done = (
            any(title in t for t in state["titles"])
            and state["script"] not in (None, "initial", "running", "rerunRequested")
            and state["drawn"] >= state["charts"] >= charts
        )
        same = done and {k: v for k, v in state.items() if k != "text"} == {
            k: v for k, v in previous.items() if k != "text"
        }
        previous = state
        return state if same or state["exceptions"] else None

    result: dict[str, Any] = wait_until(ready, 90, interval=0.5, message=f"the {title!r} page")
    return result


@pytest.mark.slow
def test_every_page_renders_in_a_real_browser(
    real_store: RealStore, served: str, browser: Browser
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    seen = {}
    for path, (title, charts) in PAGES.items():
        browser.goto(f"{served}/{path}")
        state = settled(browser, title, charts)
        name = path or "overview"
        browser.screenshot(SCREENSHOTS / f"{name}.png")
        assert state["exceptions"] == [], f"{name}: {state['exceptions']}"
        assert SECRET_TOKEN not in state["text"]
        seen[name] = state
    # What a lead must see, as text in the page (dataframes draw on a canvas; their column
    # headers and the charts' legends are in the DOM).
    assert "Firing now" in seen["overview"]["text"]
    assert "HTML report" in seen["review"]["text"]
    assert seen["compare"]["charts"] == 3 and "Saturation knee" in seen["compare"]["text"]
    assert "Delivery log" in seen["alerts"]["text"] and "not delivered" in seen["alerts"]["text"]
    assert "Start a run" in seen["live"]["text"]
    for name in seen:
        png = (SCREENSHOTS / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000, name


@pytest.mark.slow
def test_every_page_opens_by_its_url_in_a_fresh_browser(
    real_store: RealStore, served: str, tmp_path: Path
) -> None:
    """Deep links work on first load: no "Page not found" dialog (Streamlit's own pages/
    discovery used to race the app's navigation) and no raw file names in the sidebar."""
    need("chromium")
    run = real_store.run_ids[0]
    urls = {f"{path}": (title, charts) for path, (title, charts) in PAGES.items()}
    urls[f"review?run={run}&budget=too+tight"] = ("Budget review", 1)
    urls[f"compare?a={real_store.run_ids[0]}&b={real_store.run_ids[1]}"] = ("Compare runs", 3)
    for i, (path, (title, charts)) in enumerate(urls.items()):
        b = Browser(tmp_path / f"profile-{i}")  # fresh: nothing cached, no session
        try:
            b.call("Page.addScriptToEvaluateOnNewDocument", source=WATCH)
            b.goto(f"{served}/{path}")
            state = settled(b, title, charts)
        finally:
            b.close()
        seen = " | ".join(state["seen"])
        assert "Page not found" not in state["text"] + seen, (path, seen)
        assert state["exceptions"] == [], (path, state["exceptions"])
        for raw in ("alerts_page", "runtime_page", "history_page", "overview"):
            assert raw not in seen, (path, seen)  # file names never reach the sidebar
        assert "Budget review" in seen and "Runtime" in seen, (path, seen)  # the titles do
        if path.startswith("review?"):
            assert run in state["selected"][0]  # the linked run is the one shown
