"""The dashboard's pages, listed once: a page is a script in dashboard/views/ and one
`PageEntry` in `PAGES` (docs/development.md, "A new dashboard page"). dashboard/app.py builds
Streamlit's navigation from this list after the password gate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

# Not `pages/`: Streamlit's frontend also auto-discovers a folder of that name beside the entry
# script, so a fresh browser opening /runtime flashed "Page not found" and /compare listed raw
# file names before this script's navigation arrived. Streamlit puts a page's folder on
# sys.path: a page file named like a package (alerts.py, runtime.py) would shadow it, hence
# the _page suffix on those.
PAGES_DIR = Path(__file__).resolve().parent / "views"


@dataclass(frozen=True)
class PageEntry:
    script: Path
    title: str
    icon: str
    url_path: str | None = None
    """The page's URL (`/runtime`); Streamlit derives one from the file name otherwise."""
    default: bool = False


PAGES: tuple[PageEntry, ...] = (
    PageEntry(PAGES_DIR / "overview.py", "Overview", "🏠", default=True),
    PageEntry(PAGES_DIR / "live.py", "Live run", "📈"),
    PageEntry(PAGES_DIR / "review.py", "Budget review", "✅"),
    PageEntry(PAGES_DIR / "compare.py", "Compare runs", "⚖️"),
    PageEntry(PAGES_DIR / "history_page.py", "History", "📉", url_path="history"),
    PageEntry(PAGES_DIR / "runtime_page.py", "Runtime", "⚙️", url_path="runtime"),
    PageEntry(PAGES_DIR / "alerts_page.py", "Alerts", "🚨", url_path="alerts"),
)
"""In the order of the sidebar."""


def pages() -> list[st.Page]:
    """Streamlit's pages for every registered entry (read at call time)."""
    return [
        st.Page(p.script, title=p.title, icon=p.icon, url_path=p.url_path, default=p.default)
        for p in PAGES
    ]
